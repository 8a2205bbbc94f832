// Command redsync is a splitbrain lock plug-in (docs/plugins.md) that puts
// github.com/go-redsync/redsync/v4, a Go implementation of Redis's Redlock algorithm,
// under splitbrain's faults over the run's independent Redis primaries: acquire is one
// Mutex.TryLockContext, renew is ExtendContext, release is UnlockContext, with the
// request's holder as the mutex's value. Redlock has no fencing token. See README.md.
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
)

const defaultOpTimeout = 1000 * time.Millisecond

func main() {
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	log.SetPrefix("redsync: ")
	p, err := setup()
	if err != nil {
		log.Print(err)
		os.Exit(2)
	}
	log.Printf("node %s: Redis primaries %s (quorum %d), op timeout %v", p.node, strings.Join(p.addrs, ","), p.quorum(), p.opTimeout)
	if p.fencingWanted {
		log.Print("note: fencing is on, but Redlock hands out no fencing token: grants carry none")
	}
	if err := serve(p, os.Stdin, os.Stdout); err != nil {
		log.Print(err)
		os.Exit(1)
	}
	// Stdin closed: exit without releasing, as a crashed client would. The keys of a
	// lock still held expire after their TTL.
}

func setup() (*plugin, error) {
	addrs, err := parseAddrs(os.Getenv("SPLITBRAIN_REDLOCK"))
	if err != nil {
		return nil, err
	}
	opTimeout, err := parseOpTimeout(os.Getenv("SPLITBRAIN_OP_TIMEOUT_MS"))
	if err != nil {
		return nil, err
	}
	return newPlugin(addrs, redisPools(addrs, opTimeout), opTimeout, os.Getenv("SPLITBRAIN_NODE"), os.Getenv("SPLITBRAIN_FENCING") == "on"), nil
}

// parseAddrs reads SPLITBRAIN_REDLOCK: the independent primaries, host:port,
// comma-separated (the runner's --redlock list). Redlock needs at least 3: with 1 or 2
// a majority survives no failure at all.
func parseAddrs(v string) ([]string, error) {
	if strings.TrimSpace(v) == "" {
		return nil, errors.New("SPLITBRAIN_REDLOCK is not set: it must list the independent Redis primaries, host:port,host:port,host:port (run with --plugin-servers redlock)")
	}
	var out []string
	for _, addr := range strings.Split(v, ",") {
		addr = strings.TrimSpace(addr)
		if addr == "" {
			continue
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil || host == "" {
			return nil, fmt.Errorf("SPLITBRAIN_REDLOCK=%q: %q is not host:port", v, addr)
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("SPLITBRAIN_REDLOCK=%q: %q has no valid port", v, addr)
		}
		out = append(out, addr)
	}
	if len(out) < 3 {
		return nil, fmt.Errorf("SPLITBRAIN_REDLOCK=%q names %d primaries: Redlock needs at least 3", v, len(out))
	}
	return out, nil
}

// parseOpTimeout reads SPLITBRAIN_OP_TIMEOUT_MS, the agent's bound on one request.
func parseOpTimeout(v string) (time.Duration, error) {
	if v == "" {
		return defaultOpTimeout, nil
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms <= 0 || ms > 1<<31 {
		return 0, fmt.Errorf("SPLITBRAIN_OP_TIMEOUT_MS=%q is not a positive number of milliseconds", v)
	}
	return time.Duration(ms) * time.Millisecond, nil
}
