package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// trackedLock wraps the elector's resourcelock.LeaseLock and keeps the outcome of every
// write (Create, Update) it makes. client-go reports neither whether a cancelled acquire
// had written a grant nor whether its release on cancel succeeded (release's result is
// dropped), and the plug-in must know both to tell a definite refusal from an
// indefinite one.
//
// Writes run on a context that keeps the caller's deadline but not its cancellation, so
// that cancelling the elector never cuts a write off halfway (which would leave its
// outcome unknown): when Run has returned, every write the elector made has an answer
// from the API server or has timed out. A write asked for on an already cancelled
// context is not sent at all.
type trackedLock struct {
	inner resourcelock.Interface
	// bound for a write whose caller gave no deadline (the acquire loop's writes)
	writeTimeout time.Duration

	mu sync.Mutex
	w  writeLog
}

// writeLog sums up an elector's writes, in the order it made them (one at a time).
type writeLog struct {
	granted       bool   // some write naming this holder was applied
	lastApplied   string // holderIdentity of the last applied write ("" for a release)
	anyApplied    bool
	unknown       int   // writes whose outcome is unknown (may have been applied)
	lastUnknown   error // the error of the last of those
	lastRejection error // the last write the server definitely refused (for messages)
}

var errNotSent = errors.New("not sent: the elector was already stopping")

func newTrackedLock(inner resourcelock.Interface, writeTimeout time.Duration) *trackedLock {
	return &trackedLock{inner: inner, writeTimeout: writeTimeout}
}

func (t *trackedLock) Get(ctx context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	return t.inner.Get(ctx)
}

func (t *trackedLock) Create(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	return t.write(ctx, ler, t.inner.Create)
}

func (t *trackedLock) Update(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	return t.write(ctx, ler, t.inner.Update)
}

func (t *trackedLock) RecordEvent(s string) { t.inner.RecordEvent(s) }
func (t *trackedLock) Identity() string     { return t.inner.Identity() }
func (t *trackedLock) Describe() string     { return t.inner.Describe() }

func (t *trackedLock) write(ctx context.Context, ler resourcelock.LeaderElectionRecord,
	f func(context.Context, resourcelock.LeaderElectionRecord) error) error {
	var err error
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (%v)", errNotSent, ctx.Err())
	} else {
		wctx, cancel := detach(ctx, t.writeTimeout)
		err = f(wctx, ler)
		cancel()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch writeOutcomeOf(err) {
	case applied:
		t.w.anyApplied = true
		t.w.lastApplied = ler.HolderIdentity
		if ler.HolderIdentity == t.inner.Identity() {
			t.w.granted = true
		}
	case rejected:
		t.w.lastRejection = err
	case unknownOutcome:
		t.w.unknown++
		t.w.lastUnknown = err
	}
	return err
}

func (t *trackedLock) log() writeLog {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.w
}

// detach keeps ctx's values and deadline but not its cancellation; without a deadline
// the write gets fallback.
func detach(ctx context.Context, fallback time.Duration) (context.Context, context.CancelFunc) {
	base := context.WithoutCancel(ctx)
	if dl, ok := ctx.Deadline(); ok {
		return context.WithDeadline(base, dl)
	}
	return context.WithTimeout(base, fallback)
}

type writeOutcome int

const (
	applied writeOutcome = iota
	rejected
	unknownOutcome
)

// writeOutcomeOf classifies a write's error. Rejected means the write certainly did not
// take effect: a refusal the API server gives before changing anything (a stale
// resourceVersion, an existing object, validation, authorization, throttling), or a
// request never sent. Anything else (a timeout, a reset connection, a 5xx such as an
// etcd timeout) may have been applied.
func writeOutcomeOf(err error) writeOutcome {
	if err == nil {
		return applied
	}
	if errors.Is(err, errNotSent) {
		return rejected
	}
	switch {
	case apierrors.IsConflict(err), apierrors.IsAlreadyExists(err), apierrors.IsNotFound(err),
		apierrors.IsInvalid(err), apierrors.IsBadRequest(err), apierrors.IsForbidden(err),
		apierrors.IsUnauthorized(err), apierrors.IsTooManyRequests(err),
		apierrors.IsMethodNotSupported(err), apierrors.IsRequestEntityTooLargeError(err):
		return rejected
	}
	// A failed dial: no connection, so no request went out.
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return rejected
	}
	return unknownOutcome
}
