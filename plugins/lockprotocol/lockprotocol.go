// Package lockprotocol is splitbrain's plug-in protocol (docs/plugins.md) for the Go
// plug-ins: one JSON request per line on stdin, one JSON reply per line on stdout, the
// reply carrying the request's id.
package lockprotocol

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"time"
)

// Errors the agent understands (docs/plugins.md, "Requests and replies").
const (
	ErrHeld        = "held"
	ErrNotHolder   = "not-holder"
	ErrUnsupported = "unsupported"
)

// MaxTTLMillis keeps a ttl in whole seconds within an int32 (a Lease's
// leaseDurationSeconds, an etcd lease TTL) and every duration derived from it
// (time.Duration, int64 nanoseconds) in range.
const MaxTTLMillis = int64(1<<31-1) * 1000

// MaxLineBytes bounds a request line; the agent kills a plug-in that writes a line over
// 1 MiB, and requests are far shorter.
const MaxLineBytes = 1 << 20

// Request is one parsed request line.
type Request struct {
	// ID is echoed verbatim: the agent sends numbers, but any JSON value round-trips.
	ID     json.RawMessage
	Op     string
	Key    string
	TTLMs  int64
	Holder string
}

// ParseError is a request line that cannot be carried out. ID is set when the line was a
// JSON object with an "id", so that the refusal can be addressed to it.
type ParseError struct {
	ID  json.RawMessage
	Msg string
}

func (e *ParseError) Error() string { return e.Msg }

// ParseRequest decodes and checks one request line; checkKey says what is wrong with a
// key for the lock system, or "". An unknown op parses (the reply is "unsupported"); a
// missing or ill-typed field an op needs does not.
func ParseRequest(line []byte, checkKey func(string) string) (Request, *ParseError) {
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&fields); err != nil || fields == nil {
		return Request{}, &ParseError{Msg: fmt.Sprintf("bad request: not a JSON object: %q", Truncate(line, 200))}
	}
	if dec.More() {
		return Request{}, &ParseError{Msg: fmt.Sprintf("bad request: text after the JSON object: %q", Truncate(line, 200))}
	}
	req := Request{}
	id, ok := fields["id"]
	if !ok || bytes.Equal(bytes.TrimSpace(id), []byte("null")) {
		return Request{}, &ParseError{Msg: "bad request: no id"}
	}
	req.ID = id
	bad := func(format string, args ...any) (Request, *ParseError) {
		return Request{}, &ParseError{ID: id, Msg: "bad request: " + fmt.Sprintf(format, args...)}
	}
	var err error
	if req.Op, err = stringField(fields, "op"); err != nil {
		return bad("%v", err)
	}
	switch req.Op {
	case "acquire", "renew", "release":
	default:
		return req, nil
	}
	if req.Key, err = stringField(fields, "key"); err != nil {
		return bad("%v", err)
	}
	if msg := checkKey(req.Key); msg != "" {
		return bad("key %q %s", Truncate([]byte(req.Key), 40), msg)
	}
	if req.Holder, err = stringField(fields, "holder"); err != nil {
		return bad("%v", err)
	}
	if req.Holder == "" {
		return bad("holder is empty")
	}
	if req.Op == "acquire" {
		raw, ok := fields["ttl_ms"]
		if !ok {
			return bad("acquire without ttl_ms")
		}
		// (json.Number would also take the string "1000", and null would leave it empty.)
		var n json.Number
		trimmed := bytes.TrimSpace(raw)
		if bytes.HasPrefix(trimmed, []byte(`"`)) || bytes.Equal(trimmed, []byte("null")) || json.Unmarshal(raw, &n) != nil {
			return bad("ttl_ms is not a number: %s", Truncate(raw, 40))
		}
		ttl, err := n.Int64()
		if err != nil || ttl <= 0 || ttl > MaxTTLMillis {
			return bad("ttl_ms must be a whole number of milliseconds from 1 to %d, got %s", MaxTTLMillis, n)
		}
		req.TTLMs = ttl
	}
	return req, nil
}

func stringField(fields map[string]json.RawMessage, name string) (string, error) {
	raw, ok := fields[name]
	if !ok {
		return "", fmt.Errorf("no %s", name)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%s is not a string: %s", name, Truncate(raw, 40))
	}
	return s, nil
}

// Truncate is b as text, cut after n bytes with "..." when longer.
func Truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "..."
}

// Reply is one answer line. Definite is left out of successes; Token is left out when
// the run wants no fencing tokens.
type Reply struct {
	ID       json.RawMessage `json:"id"`
	OK       bool            `json:"ok"`
	Definite *bool           `json:"definite,omitempty"`
	Error    string          `json:"error,omitempty"`
	Detail   string          `json:"detail,omitempty"`
	Token    *int64          `json:"token,omitempty"`
}

// OK is a success.
func OK(id json.RawMessage) Reply { return Reply{ID: id, OK: true} }

// OKToken is a success carrying a fencing token.
func OKToken(id json.RawMessage, token int64) Reply {
	return Reply{ID: id, OK: true, Token: &token}
}

// Refusal is a failure; definite is true when the operation certainly did not take
// effect.
func Refusal(id json.RawMessage, definite bool, msg string) Reply {
	return Reply{ID: id, OK: false, Definite: &definite, Error: msg}
}

// WithDetail is the refusal r with the plug-in's own words on why, kept beside the
// error name (held, not-holder) in the run's history.
func (r Reply) WithDetail(detail string) Reply {
	r.Detail = detail
	return r
}

// Encode renders a reply as one line, newline included. encoding/json compacts the raw
// id and escapes newlines in strings, so the line never contains a newline of its own.
func Encode(r Reply) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // error texts quote servers' messages, Go values such as <nil>, URLs with &
	if err := enc.Encode(r); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Serve answers requests from in with handle until in closes; handle gets each request
// and the time it was read. Only a failed write to out (the agent is gone) is an error;
// bad input is answered or logged and skipped.
func Serve(in io.Reader, out io.Writer, checkKey func(string) string, handle func(Request, time.Time) Reply) error {
	r := bufio.NewReaderSize(in, 64<<10)
	w := bufio.NewWriter(out)
	for {
		line, tooLong, err := ReadLine(r, MaxLineBytes)
		if len(line) > 0 || tooLong {
			start := time.Now()
			var rep Reply
			var answer bool
			if tooLong {
				log.Printf("bad request: a line longer than %d bytes, skipped", MaxLineBytes)
			} else if req, perr := ParseRequest(line, checkKey); perr != nil {
				log.Printf("%s", perr.Msg)
				if perr.ID != nil {
					rep, answer = Refusal(perr.ID, true, perr.Msg), true
				}
			} else {
				rep, answer = handle(req, start), true
			}
			if answer {
				b, err := Encode(rep)
				if err != nil { // cannot happen: the id was valid JSON
					log.Printf("encoding a reply: %v", err)
					b, _ = Encode(Refusal(nil, false, "reply encoding failed"))
				}
				if _, err := w.Write(b); err != nil {
					return fmt.Errorf("writing a reply: %v", err)
				}
				if err := w.Flush(); err != nil {
					return fmt.Errorf("writing a reply: %v", err)
				}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading requests: %v", err)
		}
	}
}

// ReadLine returns the next line without its end of line ("\n" or "\r\n"), trimmed of
// surrounding blanks. A line over max bytes is consumed and reported as tooLong.
func ReadLine(r *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
	for {
		chunk, e := r.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > max+2 {
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if e == bufio.ErrBufferFull {
			continue
		}
		if tooLong {
			line = nil
		}
		return trimBlank(line), tooLong, e
	}
}

func trimBlank(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// Budget splits the agent's bound on one request. The reply must leave before the agent
// gives up (answerBy = start + bound - Margin); a request's main step must end Reserve
// before that, so that a step whose outcome is unknown can still be settled in time.
type Budget struct {
	Margin  time.Duration // kept free at the end of the agent's bound
	Reserve time.Duration // kept for settling a step that did not finish
}

// NewBudget keeps a tenth of opTimeout (10 to 250 ms, at most half) as the margin and
// 1/reserveDivisor of the rest as the reserve.
func NewBudget(opTimeout time.Duration, reserveDivisor int64) Budget {
	margin := min(max(opTimeout/10, 10*time.Millisecond), 250*time.Millisecond)
	if margin > opTimeout/2 {
		margin = opTimeout / 2
	}
	rest := opTimeout - margin
	return Budget{Margin: margin, Reserve: rest / time.Duration(reserveDivisor)}
}

// Deadlines returns, for a request read at start, the time by which it must be
// answered and the time by which its main step must be done.
func (b Budget) Deadlines(start time.Time, opTimeout time.Duration) (answerBy, stepBy time.Time) {
	answerBy = start.Add(opTimeout - b.Margin)
	return answerBy, answerBy.Add(-b.Reserve)
}
