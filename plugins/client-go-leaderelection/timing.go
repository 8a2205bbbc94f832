package main

import (
	"fmt"
	"splitbrain/plugins/lockprotocol"
	"time"

	"k8s.io/client-go/tools/leaderelection"
)

// electionTimings are a LeaderElector's three durations for one acquire.
type electionTimings struct {
	LeaseDuration time.Duration
	RenewDeadline time.Duration
	RetryPeriod   time.Duration
}

// timingsFor scales client-go's defaults (15 s lease, 10 s renew deadline, 2 s retry
// period) to the requested ttl: LeaseDuration = ttl, RenewDeadline = ttl*10/15,
// RetryPeriod = ttl*2/15 but at least 1 ms. It refuses a ttl too short for the
// proportions to pass NewLeaderElector's checks (LeaseDuration > RenewDeadline >
// JitterFactor*RetryPeriod), which only ttl_ms = 1 is.
func timingsFor(ttlMs int64) (electionTimings, error) {
	if ttlMs <= 0 || ttlMs > maxTTLMillis {
		return electionTimings{}, fmt.Errorf("ttl_ms %d out of range", ttlMs)
	}
	lease := time.Duration(ttlMs) * time.Millisecond
	t := electionTimings{
		LeaseDuration: lease,
		RenewDeadline: scale(lease, 10, 15),
		RetryPeriod:   max(scale(lease, 2, 15), time.Millisecond),
	}
	if err := t.validate(); err != nil {
		return electionTimings{}, fmt.Errorf("ttl_ms %d is too short for client-go: %v", ttlMs, err)
	}
	return t, nil
}

// scale is d*num/den rounded down, without overflowing for any d.
func scale(d time.Duration, num, den int64) time.Duration {
	q, r := int64(d)/den, int64(d)%den
	return time.Duration(q*num + r*num/den)
}

// validate repeats NewLeaderElector's checks on the durations, so that a bad ttl is a
// definite refusal rather than an elector that never starts.
func (t electionTimings) validate() error {
	if t.LeaseDuration <= t.RenewDeadline {
		return fmt.Errorf("leaseDuration %v must be greater than renewDeadline %v", t.LeaseDuration, t.RenewDeadline)
	}
	if t.RenewDeadline <= time.Duration(leaderelection.JitterFactor*float64(t.RetryPeriod)) {
		return fmt.Errorf("renewDeadline %v must be greater than retryPeriod*JitterFactor (%v*%v)",
			t.RenewDeadline, t.RetryPeriod, leaderelection.JitterFactor)
	}
	if t.RetryPeriod < 1 {
		return fmt.Errorf("retryPeriod must be greater than zero")
	}
	return nil
}

// leaseSeconds is what client-go writes into the Lease's spec.leaseDurationSeconds:
// int(LeaseDuration / time.Second), truncated. Other candidates judge expiry by it, so
// a ttl under 1 s gives a Lease they may take at once.
func (t electionTimings) leaseSeconds() int64 { return int64(t.LeaseDuration / time.Second) }

// budgetFor is the time budget of one request (lockprotocol.NewBudget): waiting to lead may use all but a fifth of the rest, kept for stopping the elector and finding out what it left behind (cancel, the in-flight write, client-go's release write).
func budgetFor(opTimeout time.Duration) opBudget {
	return lockprotocol.NewBudget(opTimeout, 5)
}
