package main

import (
	"fmt"
	"splitbrain/plugins/lockprotocol"
	"time"
)

// ttlSeconds is the session TTL for a requested ttl: etcd leases count whole seconds, so
// the ttl is rounded up (1 ms to 1000 ms is 1 s, 1001 ms is 2 s), never down: a lease
// shorter than asked would end a hold the agent still counts on.
//
// The server may raise it further. An etcd server (3.4 as 3.5) never grants less than
// its minimum lease TTL, ceil(1.5 x election timeout) in whole seconds: 2 s with the
// default 1000 ms election timeout, which the runner's members use. A Grant of 1 s
// succeeds and answers TTL 2: no error, just a longer lease (the plug-in logs it once).
func ttlSeconds(ttlMs int64) (int64, error) {
	if ttlMs <= 0 || ttlMs > maxTTLMillis {
		return 0, fmt.Errorf("ttl_ms %d out of range", ttlMs)
	}
	return (ttlMs + 999) / 1000, nil
}

// budgetFor is the time budget of one request (lockprotocol.NewBudget): the Grant and TryLock of an acquire (or the Unlock of a release) may use all but a quarter of the rest, kept for revoking the session's lease after a step whose outcome is unknown.
func budgetFor(opTimeout time.Duration) opBudget {
	return lockprotocol.NewBudget(opTimeout, 4)
}
