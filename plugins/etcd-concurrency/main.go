// Command etcd-concurrency is a splitbrain lock plug-in (docs/plugins.md) that puts
// etcd's own lock recipe, go.etcd.io/etcd/client/v3/concurrency's Mutex on a Session,
// under splitbrain's faults: acquire opens a Session (a lease the client keeps alive)
// and calls Mutex.TryLock, renew asks whether the Session is still alive, release calls
// Mutex.Unlock and closes the Session. See README.md.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/logutil"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

const (
	defaultOpTimeout = 1000 * time.Millisecond
	// The agent kills a plug-in that writes a line over 1 MiB; requests are far shorter.
	maxLineBytes = 1 << 20
	// mutexPrefix is where the mutexes live in etcd: lock K's waiters and owner are the
	// keys mutexPrefix+K+"/<lease id in hex>".
	mutexPrefix = "splitbrain/etcd-concurrency/"
)

func main() {
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	log.SetPrefix("etcd-concurrency: ")
	p, err := setup()
	if err != nil {
		log.Print(err)
		os.Exit(2)
	}
	log.Printf("node %s: etcd %s, op timeout %v, fencing %t", p.node, strings.Join(p.endpoints, ","), p.opTimeout, p.fencing)
	if err := serve(p, os.Stdin, os.Stdout); err != nil {
		log.Print(err)
		os.Exit(1)
	}
	// Stdin closed: exit without releasing, as a crashed client would. A release now
	// would be one the history never records; with the process gone nobody keeps the
	// sessions' leases alive, and etcd deletes their lock keys when the leases expire.
	if n := len(p.sessions); n > 0 {
		log.Printf("stdin closed; exiting with %d session(s) open, their leases left to expire", n)
	}
}

func setup() (*plugin, error) {
	endpoints, err := parseEndpoints(os.Getenv("SPLITBRAIN_ETCD"))
	if err != nil {
		return nil, err
	}
	opTimeout := defaultOpTimeout
	if v := os.Getenv("SPLITBRAIN_OP_TIMEOUT_MS"); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms <= 0 || ms > 1<<31 {
			return nil, fmt.Errorf("SPLITBRAIN_OP_TIMEOUT_MS=%q is not a positive number of milliseconds", v)
		}
		opTimeout = time.Duration(ms) * time.Millisecond
	}
	// The client's own log (keep-alive trouble, endpoint switches) goes to stderr, that
	// is the agent's log, from warnings up.
	lg, err := logutil.CreateDefaultZapLogger(zap.WarnLevel)
	if err != nil {
		return nil, fmt.Errorf("etcd client logger: %v", err)
	}
	// DialTimeout 0: New does not wait for a connection (the first request does, within
	// its deadline), so the plug-in starts at once even while etcd is unreachable.
	client, err := clientv3.New(clientv3.Config{Endpoints: endpoints, Logger: lg})
	if err != nil {
		return nil, fmt.Errorf("SPLITBRAIN_ETCD=%s: %v", strings.Join(endpoints, ","), err)
	}
	client.KV = recordingKV{client.KV}
	return &plugin{
		client:    client,
		endpoints: endpoints,
		node:      os.Getenv("SPLITBRAIN_NODE"),
		fencing:   os.Getenv("SPLITBRAIN_FENCING") == "on",
		opTimeout: opTimeout,
		budget:    budgetFor(opTimeout),
		sessions:  map[string]*session{},
	}, nil
}

// parseEndpoints reads SPLITBRAIN_ETCD: the members' client addresses, host:port,
// comma-separated (the runner's --etcd list).
func parseEndpoints(v string) ([]string, error) {
	if strings.TrimSpace(v) == "" {
		return nil, errors.New("SPLITBRAIN_ETCD is not set: it must list the etcd members' client addresses, host:port,host:port (run with --plugin-servers etcd)")
	}
	var out []string
	for _, ep := range strings.Split(v, ",") {
		ep = strings.TrimSpace(ep)
		if ep == "" {
			continue
		}
		host, port, err := net.SplitHostPort(ep)
		if err != nil || host == "" {
			return nil, fmt.Errorf("SPLITBRAIN_ETCD=%q: %q is not host:port", v, ep)
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("SPLITBRAIN_ETCD=%q: %q has no valid port", v, ep)
		}
		out = append(out, ep)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("SPLITBRAIN_ETCD=%q names no endpoint", v)
	}
	return out, nil
}

// serve answers requests from in until it closes. Only a failed write to out (the agent
// is gone) is an error; bad input is answered or logged and skipped.
func serve(p *plugin, in io.Reader, out io.Writer) error {
	r := bufio.NewReaderSize(in, 64<<10)
	w := bufio.NewWriter(out)
	for {
		line, tooLong, err := readLine(r, maxLineBytes)
		if len(line) > 0 || tooLong {
			start := time.Now()
			var rep reply
			answer := false
			if tooLong {
				log.Printf("bad request: a line longer than %d bytes, skipped", maxLineBytes)
			} else if req, perr := parseRequest(line); perr != nil {
				log.Print(perr.Msg)
				if perr.ID != nil {
					rep, answer = refusal(perr.ID, true, perr.Msg), true
				}
			} else {
				rep, answer = p.handle(req, start), true
			}
			if answer {
				b, err := encode(rep)
				if err != nil { // cannot happen: the id was valid JSON
					log.Printf("encoding a reply: %v", err)
					b, _ = encode(refusal(nil, false, "reply encoding failed"))
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

// readLine returns the next line without its end of line ("\n" or "\r\n"), trimmed of
// surrounding blanks. A line over max bytes is consumed and reported as tooLong.
func readLine(r *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
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
	isBlank := func(c byte) bool { return c == '\n' || c == '\r' || c == ' ' || c == '\t' }
	for len(b) > 0 && isBlank(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	for len(b) > 0 && isBlank(b[0]) {
		b = b[1:]
	}
	return b
}
