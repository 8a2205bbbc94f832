package main

import (
	"context"
	"errors"
	"sync"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// refusedUnapplied reports whether err, from a write (the TryLock transaction, the
// Unlock delete), proves that etcd did not apply it: a refusal the server gives before
// or instead of changing anything. A transaction is applied whole or not at all, so
// this holds for every operation in it.
//
//   - InvalidArgument: an empty key, too many operations, a request too large;
//   - NotFound: the put's lease does not exist ("requested lease not found"): the whole
//     transaction is rejected when it is applied;
//   - ResourceExhausted: "database space exceeded" (the NOSPACE alarm turns writes
//     away), "too many requests" (refused before proposing), or a message over gRPC's
//     size limit, never sent;
//   - PermissionDenied, Unauthenticated, FailedPrecondition, Unimplemented, OutOfRange:
//     refused by auth or validation checks.
//
// Anything else may have been applied: a deadline or cancel (the request may be in the
// raft log already), "request timed out", "leader changed", "no leader", a reset
// connection (all Unavailable), Unknown, Internal. The etcd client resends a write only
// on errors that prove it was never sent, so a write's error is about its only attempt.
func refusedUnapplied(err error) bool {
	if err == nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	code := codes.Unknown
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		code = ee.Code()
	} else if st, ok := status.FromError(err); ok {
		code = st.Code()
	}
	switch code {
	case codes.InvalidArgument, codes.NotFound, codes.ResourceExhausted, codes.PermissionDenied,
		codes.Unauthenticated, codes.FailedPrecondition, codes.Unimplemented, codes.OutOfRange:
		return true
	}
	return false
}

// leaseGone reports whether a Revoke's result proves that the lease no longer exists
// (revoked now, or already expired or revoked): then no key attached to it exists
// either, now or later, since etcd deletes a lease's keys in the same step that ends
// the lease and refuses, whole, any later transaction that puts a key on it.
func leaseGone(revokeErr error) bool {
	return revokeErr == nil || errors.Is(revokeErr, rpctypes.ErrLeaseNotFound)
}

// recordingKV wraps the client's KV (the documented way to intercept a client's key
// operations, as clientv3/namespace does) to keep the answer of every Delete made on
// a context carrying a *deleteLog. concurrency.Mutex hides it: Unlock returns only an
// error, so without this a release could not tell "deleted my lock key" from "my key
// was already gone, deleted by the server when my lease expired". TryLock's clean-up
// delete is seen the same way.
type recordingKV struct {
	clientv3.KV
}

type deleteLogKey struct{}

// deleteLog sums up the Deletes made on one request's context.
type deleteLog struct {
	mu      sync.Mutex
	tried   int   // Deletes sent
	failed  int   // ... that returned an error
	deleted int64 // keys deleted, summed over the Deletes that succeeded
	lastErr error
}

func withDeleteLog(ctx context.Context, l *deleteLog) context.Context {
	return context.WithValue(ctx, deleteLogKey{}, l)
}

func (k recordingKV) Delete(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.DeleteResponse, error) {
	resp, err := k.KV.Delete(ctx, key, opts...)
	if l, ok := ctx.Value(deleteLogKey{}).(*deleteLog); ok {
		l.note(resp, err)
	}
	return resp, err
}

func (l *deleteLog) note(resp *clientv3.DeleteResponse, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tried++
	if err != nil {
		l.failed++
		l.lastErr = err
		return
	}
	if resp != nil {
		l.deleted += resp.Deleted
	}
}

func (l *deleteLog) summary() (tried, failed int, deleted int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tried, l.failed, l.deleted
}
