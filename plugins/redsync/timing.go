package main

import (
	"splitbrain/plugins/lockprotocol"
	"time"
)

const (
	// timeoutShare is redsync's default timeout factor: each primary gets 5% of the
	// lock's expiry to answer, so that a slow or unreachable primary costs the holder
	// little of its validity (which counts from before the first SET NX).
	timeoutShare = 0.05
	// minNodeTimeout keeps short TTLs from asking a loaded machine for answers faster
	// than it gives them (a spurious timeout makes an outcome unknown).
	minNodeTimeout = 50 * time.Millisecond
)

// budgetFor is the time budget of one request (lockprotocol.NewBudget): an acquire is two
// rounds over the primaries, TryLock's SET NX and, after a failed attempt, its clean-up
// delete; each round may use half of what is left after the margin.
func budgetFor(opTimeout time.Duration) opBudget {
	return lockprotocol.NewBudget(opTimeout, 2)
}

// nodeTimeout is how long each primary gets to answer one command of a request with the
// given expiry: redsync's 5% of the expiry, at least minNodeTimeout, and never more than
// a round's share of the request's budget.
func nodeTimeout(expiry, round time.Duration) time.Duration {
	d := max(time.Duration(float64(expiry)*timeoutShare), minNodeTimeout)
	return min(d, round)
}
