package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// The lock protocol of docs/plugins.md: one JSON request per line on stdin, one JSON
// reply per line on stdout, the reply carrying the request's id.

// Errors the agent understands (docs/plugins.md, "Requests and replies").
const (
	errHeld        = "held"
	errNotHolder   = "not-holder"
	errUnsupported = "unsupported"
)

// maxTTLMillis keeps the lease TTL in whole seconds within an int32 and every duration
// derived from it (time.Duration, int64 nanoseconds) in range; etcd's own ceiling,
// 9,000,000,000 s, is far above it.
const maxTTLMillis = int64(1<<31-1) * 1000

// maxKeyBytes bounds the lock key; etcd takes far longer keys, splitbrain sends "lock".
const maxKeyBytes = 512

type request struct {
	// ID is echoed verbatim: the agent sends numbers, but any JSON value round-trips.
	ID     json.RawMessage
	Op     string
	Key    string
	TTLMs  int64
	Holder string
}

// parseError is a request line that cannot be carried out. ID is set when the line was a
// JSON object with an "id", so that the refusal can be addressed to it.
type parseError struct {
	ID  json.RawMessage
	Msg string
}

func (e *parseError) Error() string { return e.Msg }

// parseRequest decodes and checks one request line. An unknown op parses (the reply is
// "unsupported"); a missing or ill-typed field an op needs does not.
func parseRequest(line []byte) (request, *parseError) {
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&fields); err != nil || fields == nil {
		return request{}, &parseError{Msg: fmt.Sprintf("bad request: not a JSON object: %q", truncate(line, 200))}
	}
	if dec.More() {
		return request{}, &parseError{Msg: fmt.Sprintf("bad request: text after the JSON object: %q", truncate(line, 200))}
	}
	id, ok := fields["id"]
	if !ok || bytes.Equal(bytes.TrimSpace(id), []byte("null")) {
		return request{}, &parseError{Msg: "bad request: no id"}
	}
	req := request{ID: id}
	bad := func(format string, args ...any) (request, *parseError) {
		return request{}, &parseError{ID: id, Msg: "bad request: " + fmt.Sprintf(format, args...)}
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
		return bad("key %q %s", truncate([]byte(req.Key), 40), msg)
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
			return bad("ttl_ms is not a number: %s", truncate(raw, 40))
		}
		ttl, err := n.Int64()
		if err != nil || ttl <= 0 || ttl > maxTTLMillis {
			return bad("ttl_ms must be a whole number of milliseconds from 1 to %d, got %s", maxTTLMillis, n)
		}
		req.TTLMs = ttl
	}
	return req, nil
}

// checkKey says what is wrong with a lock key, or "". The mutex of key K lives under
// the etcd prefix mutexPrefix+K+"/", and its owner is the oldest key under that prefix:
// a "/" in K would put lock "a/b"'s keys under lock "a"'s prefix, so that one lock's
// holder would block, or be taken for the owner of, the other.
func checkKey(key string) string {
	switch {
	case key == "":
		return "is empty"
	case len(key) > maxKeyBytes:
		return fmt.Sprintf("is longer than %d bytes", maxKeyBytes)
	case strings.Contains(key, "/"):
		return `contains "/" (a lock's etcd prefix would hold another lock's keys)`
	case strings.ContainsRune(key, 0):
		return "contains a NUL byte"
	}
	return ""
}

func stringField(fields map[string]json.RawMessage, name string) (string, error) {
	raw, ok := fields[name]
	if !ok {
		return "", fmt.Errorf("no %s", name)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%s is not a string: %s", name, truncate(raw, 40))
	}
	return s, nil
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "..."
}

// reply is one answer line. Definite is left out of successes; Token is left out when
// the run wants no fencing tokens.
type reply struct {
	ID       json.RawMessage `json:"id"`
	OK       bool            `json:"ok"`
	Definite *bool           `json:"definite,omitempty"`
	Error    string          `json:"error,omitempty"`
	Token    *int64          `json:"token,omitempty"`
}

func okReply(id json.RawMessage) reply { return reply{ID: id, OK: true} }

func okToken(id json.RawMessage, token int64) reply {
	return reply{ID: id, OK: true, Token: &token}
}

// refusal: definite is true when the operation certainly did not take effect.
func refusal(id json.RawMessage, definite bool, msg string) reply {
	return reply{ID: id, OK: false, Definite: &definite, Error: msg}
}

// encode renders a reply as one line, newline included. encoding/json compacts the raw
// id and escapes newlines in strings, so the line never contains a newline of its own.
func encode(r reply) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // error texts quote etcd's messages and Go values such as <nil>
	if err := enc.Encode(r); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
