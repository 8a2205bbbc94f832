// Command client-go-leaderelection is a splitbrain lock plug-in (docs/plugins.md) that
// puts client-go's own leader election, k8s.io/client-go/tools/leaderelection with a
// resourcelock.LeaseLock, under splitbrain's faults: acquire starts a LeaderElector on
// the Lease named by the request's key, release cancels it (ReleaseOnCancel), renew asks
// whether it still leads. See README.md.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

const (
	defaultNamespace = "splitbrain"
	defaultOpTimeout = 1000 * time.Millisecond
	// The agent kills a plug-in that writes a line over 1 MiB; requests are far shorter.
	maxLineBytes = 1 << 20
)

func main() {
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	log.SetPrefix("client-go-leaderelection: ")
	p, err := setup()
	if err != nil {
		log.Print(err)
		os.Exit(2)
	}
	log.Printf("node %s: leases in namespace %s, op timeout %v, fencing %t", p.node, p.namespace, p.opTimeout, p.fencing)
	if err := serve(p, os.Stdin, os.Stdout); err != nil {
		log.Print(err)
		os.Exit(1)
	}
	// Stdin closed: exit without releasing, as a crashed client would. A release now
	// would be one the history never records; a held Lease lapses after its ttl.
	if n := len(p.sessions); n > 0 {
		log.Printf("stdin closed; exiting with %d lease(s) held, left to lapse", n)
	}
}

func setup() (*plugin, error) {
	path := os.Getenv("SPLITBRAIN_KUBECONFIG")
	if path == "" {
		return nil, errors.New("SPLITBRAIN_KUBECONFIG is not set: it must name the kubeconfig file of this node's API server")
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("SPLITBRAIN_KUBECONFIG=%s: %v", path, err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("SPLITBRAIN_KUBECONFIG=%s is not a usable kubeconfig: %v", path, err)
	}
	opTimeout := defaultOpTimeout
	if v := os.Getenv("SPLITBRAIN_OP_TIMEOUT_MS"); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms <= 0 || ms > 1<<31 {
			return nil, fmt.Errorf("SPLITBRAIN_OP_TIMEOUT_MS=%q is not a positive number of milliseconds", v)
		}
		opTimeout = time.Duration(ms) * time.Millisecond
	}
	namespace := os.Getenv("SPLITBRAIN_KUBE_NAMESPACE")
	if namespace == "" {
		namespace = defaultNamespace
	}
	node := os.Getenv("SPLITBRAIN_NODE")
	budget := budgetFor(opTimeout)

	// No client-side throttling (client-go's default is 5 requests/s, slower than the
	// elector's retry period at splitbrain's ttls), no request outliving the answer, and
	// no automatic resend of a request (see stripRetryAfter).
	cfg.QPS = -1
	cfg.Timeout = opTimeout - budget.Margin
	cfg.UserAgent = "splitbrain-client-go-leaderelection/" + node
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return stripRetryAfter{rt} })
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("SPLITBRAIN_KUBECONFIG=%s: %v", path, err)
	}
	return &plugin{
		client:    client,
		namespace: namespace,
		node:      node,
		fencing:   os.Getenv("SPLITBRAIN_FENCING") == "on",
		opTimeout: opTimeout,
		budget:    budget,
		sessions:  map[string]*session{},
	}, nil
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
			var answer bool
			if tooLong {
				log.Printf("bad request: a line longer than %d bytes, skipped", maxLineBytes)
			} else if req, perr := parseRequest(line); perr != nil {
				log.Printf("%s", perr.Msg)
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
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}
