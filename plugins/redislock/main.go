// Command redislock is a splitbrain lock plug-in (docs/plugins.md) that puts
// github.com/bsm/redislock, a single-instance Redis lock for Go, under splitbrain's
// faults on the run's Redis: acquire is Client.Obtain with no retry, renew is
// Lock.Refresh, release is Lock.Release, with the request's holder as the lock's
// token. redislock has no fencing token. See README.md.
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

	"github.com/bsm/redislock"
	goredislib "github.com/redis/go-redis/v9"
)

const defaultOpTimeout = 1000 * time.Millisecond

func main() {
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	log.SetPrefix("redislock: ")
	p, err := setup()
	if err != nil {
		log.Print(err)
		os.Exit(2)
	}
	log.Printf("node %s: Redis %s, op timeout %v", p.node, p.addr, p.opTimeout)
	if p.fencingWanted {
		log.Print("note: fencing is on, but redislock hands out no fencing token: grants carry none")
	}
	if err := serve(p, os.Stdin, os.Stdout); err != nil {
		log.Print(err)
		os.Exit(1)
	}
	// Stdin closed: exit without releasing, as a crashed client would. A lock still
	// held expires after its TTL.
	if n := len(p.grants); n > 0 {
		log.Printf("stdin closed; exiting with %d lock(s) held, left to expire", n)
	}
}

func setup() (*plugin, error) {
	addr, err := parseAddr(os.Getenv("SPLITBRAIN_REDIS"))
	if err != nil {
		return nil, err
	}
	opTimeout, err := parseOpTimeout(os.Getenv("SPLITBRAIN_OP_TIMEOUT_MS"))
	if err != nil {
		return nil, err
	}
	client := redislock.New(goredislib.NewClient(redisOptions(addr, opTimeout)))
	return newPlugin(client, addr, opTimeout, os.Getenv("SPLITBRAIN_NODE"), os.Getenv("SPLITBRAIN_FENCING") == "on"), nil
}

// parseAddr reads SPLITBRAIN_REDIS: the Redis server, host:port (the runner's --redis).
func parseAddr(v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", errors.New("SPLITBRAIN_REDIS is not set: it must be the Redis server, host:port (run with --plugin-servers redis)")
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil || host == "" {
		return "", fmt.Errorf("SPLITBRAIN_REDIS=%q is not host:port", v)
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return "", fmt.Errorf("SPLITBRAIN_REDIS=%q has no valid port", v)
	}
	return v, nil
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
