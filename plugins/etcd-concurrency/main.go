// Command etcd-concurrency is a splitbrain lock plug-in (docs/plugins.md) that puts
// etcd's own lock recipe, go.etcd.io/etcd/client/v3/concurrency's Mutex on a Session,
// under splitbrain's faults: acquire opens a Session (a lease the client keeps alive)
// and calls Mutex.TryLock, renew asks whether the Session is still alive, release calls
// Mutex.Unlock and closes the Session. See README.md.
package main

import (
	"errors"
	"fmt"
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
