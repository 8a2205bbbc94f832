package main

import (
	"fmt"
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

// opBudget splits the agent's bound on one request. The reply must leave before the
// agent gives up (answerBy = start + bound - Margin). The request's main step (the
// Grant and TryLock of an acquire, the Unlock of a release) must end Reserve before
// that, so that a step whose outcome is unknown can still be undone in time: the
// session's lease revoked, which deletes whatever lock key it may have written.
type opBudget struct {
	Margin  time.Duration // kept free at the end of the agent's bound
	Reserve time.Duration // kept for revoking the lease after a step that timed out
}

func budgetFor(opTimeout time.Duration) opBudget {
	margin := min(max(opTimeout/10, 10*time.Millisecond), 250*time.Millisecond)
	if margin > opTimeout/2 {
		margin = opTimeout / 2
	}
	rest := opTimeout - margin
	return opBudget{Margin: margin, Reserve: rest / 4}
}

// deadlines returns, for a request read at start, the time by which it must be
// answered and the time by which its main step must be done.
func (b opBudget) deadlines(start time.Time, opTimeout time.Duration) (answerBy, stepBy time.Time) {
	answerBy = start.Add(opTimeout - b.Margin)
	return answerBy, answerBy.Add(-b.Reserve)
}
