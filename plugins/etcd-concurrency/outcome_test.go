package main

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/client/v3/concurrency"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestRefusedUnapplied(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		// As the etcd client returns them: rpctypes.EtcdError values.
		{rpctypes.ErrLeaseNotFound, true},
		{rpctypes.ErrNoSpace, true},
		{rpctypes.ErrTooManyRequests, true},
		{rpctypes.ErrPermissionDenied, true},
		{rpctypes.ErrInvalidAuthToken, true},
		{rpctypes.ErrTooManyOps, true},
		{rpctypes.ErrRequestTooLarge, true},
		{rpctypes.ErrTimeout, false},
		{rpctypes.ErrTimeoutDueToLeaderFail, false},
		{rpctypes.ErrLeaderChanged, false},
		{rpctypes.ErrNoLeader, false},
		{rpctypes.ErrStopped, false},
		{rpctypes.ErrUnhealthy, false},
		// Raw gRPC statuses (errors the client did not translate).
		{status.Error(codes.ResourceExhausted, "grpc: received message larger than max"), true},
		{status.Error(codes.Unavailable, "connection reset by peer"), false},
		{status.Error(codes.Unknown, "?"), false},
		{status.Error(codes.DeadlineExceeded, "deadline"), false},
		// Contexts, wrapped or not, and plain errors.
		{context.DeadlineExceeded, false},
		{context.Canceled, false},
		{fmt.Errorf("txn: %w", context.DeadlineExceeded), false},
		{fmt.Errorf("txn: %w", rpctypes.ErrLeaseNotFound), true},
		{errors.New("EOF"), false},
		{nil, false},
	}
	for _, c := range cases {
		if got := refusedUnapplied(c.err); got != c.want {
			t.Errorf("%v: %t, want %t", c.err, got, c.want)
		}
	}
}

func TestLeaseGone(t *testing.T) {
	if !leaseGone(nil) || !leaseGone(rpctypes.ErrLeaseNotFound) || !leaseGone(fmt.Errorf("revoke: %w", rpctypes.ErrLeaseNotFound)) {
		t.Fatal("a revoked or missing lease is gone")
	}
	if leaseGone(context.DeadlineExceeded) || leaseGone(rpctypes.ErrTimeout) || leaseGone(rpctypes.ErrNoLeader) {
		t.Fatal("a revoke that failed proves nothing")
	}
}

func TestOwnRevisionBeforeLock(t *testing.T) {
	if got := ownRevision(concurrency.NewMutex(nil, "p")); got != -1 {
		t.Fatalf("unlocked mutex: %d", got)
	}
}
