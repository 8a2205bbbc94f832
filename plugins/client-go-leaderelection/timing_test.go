package main

import (
	"errors"
	"fmt"
	"math/big"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestTimingsClientGoProportions(t *testing.T) {
	// client-go's own defaults: 15 s, 10 s, 2 s.
	got, err := timingsFor(15000)
	if err != nil {
		t.Fatal(err)
	}
	want := electionTimings{15 * time.Second, 10 * time.Second, 2 * time.Second}
	if got != want {
		t.Fatalf("ttl 15 s: %+v, want %+v", got, want)
	}
	got, err = timingsFor(1000)
	if err != nil {
		t.Fatal(err)
	}
	want = electionTimings{time.Second, 666666666 * time.Nanosecond, 133333333 * time.Nanosecond}
	if got != want {
		t.Fatalf("ttl 1 s: %+v, want %+v", got, want)
	}
	if got.leaseSeconds() != 1 {
		t.Fatalf("leaseSeconds %d", got.leaseSeconds())
	}
}

func TestTimingsValidForEveryTTL(t *testing.T) {
	for _, ttl := range []int64{2, 3, 5, 7, 8, 10, 15, 100, 499, 999, 1000, 1001, 60000, maxTTLMillis} {
		tm, err := timingsFor(ttl)
		if err != nil {
			t.Fatalf("ttl %d: %v", ttl, err)
		}
		if tm.RetryPeriod < time.Millisecond {
			t.Errorf("ttl %d: retry %v under 1 ms", ttl, tm.RetryPeriod)
		}
		if !(tm.LeaseDuration > tm.RenewDeadline && float64(tm.RenewDeadline) > 1.2*float64(tm.RetryPeriod)) {
			t.Errorf("ttl %d: %+v fails client-go's checks", ttl, tm)
		}
		if tm.LeaseDuration != time.Duration(ttl)*time.Millisecond {
			t.Errorf("ttl %d: lease %v", ttl, tm.LeaseDuration)
		}
	}
	if tm, err := timingsFor(maxTTLMillis); err != nil || tm.leaseSeconds() != 1<<31-1 {
		t.Fatalf("largest ttl: %+v %v", tm, err)
	}
	// 1 ms: the retry period is raised to 1 ms, above the 0.67 ms renew deadline.
	for _, ttl := range []int64{1, 0, -1, maxTTLMillis + 1} {
		if tm, err := timingsFor(ttl); err == nil {
			t.Errorf("ttl %d accepted: %+v", ttl, tm)
		}
	}
}

func TestScaleExact(t *testing.T) {
	for _, d := range []time.Duration{0, 1, 14, 15, 16, 1000, time.Second, 1<<62 + 7, 1<<63 - 1} {
		for _, f := range [][2]int64{{10, 15}, {2, 15}} {
			want := new(big.Int).Mul(big.NewInt(int64(d)), big.NewInt(f[0]))
			want.Quo(want, big.NewInt(f[1]))
			if got := scale(d, f[0], f[1]); want.Cmp(big.NewInt(int64(got))) != 0 {
				t.Errorf("scale(%d, %d/%d) = %d, want %s", d, f[0], f[1], got, want)
			}
		}
	}
}

func TestBudget(t *testing.T) {
	start := time.Unix(0, 0)
	for _, c := range []struct {
		op             time.Duration
		answer, leadBy time.Duration
	}{
		{1500 * time.Millisecond, 1350 * time.Millisecond, 1080 * time.Millisecond},
		{5 * time.Second, 4750 * time.Millisecond, 3800 * time.Millisecond},
		{50 * time.Millisecond, 40 * time.Millisecond, 32 * time.Millisecond},
		{10 * time.Millisecond, 5 * time.Millisecond, 4 * time.Millisecond},
	} {
		b := budgetFor(c.op)
		answerBy, leadBy := b.Deadlines(start, c.op)
		if answerBy.Sub(start) != c.answer || leadBy.Sub(start) != c.leadBy {
			t.Errorf("op timeout %v: answer by %v, lead by %v; want %v, %v",
				c.op, answerBy.Sub(start), leadBy.Sub(start), c.answer, c.leadBy)
		}
	}
}

func TestWriteOutcome(t *testing.T) {
	gr := schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}
	cases := []struct {
		err  error
		want writeOutcome
	}{
		{nil, applied},
		{apierrors.NewConflict(gr, "k", errors.New("stale")), rejected},
		{apierrors.NewAlreadyExists(gr, "k"), rejected},
		{apierrors.NewForbidden(gr, "k", errors.New("rbac")), rejected},
		{apierrors.NewTooManyRequests("slow down", 1), rejected},
		{fmt.Errorf("%w (context canceled)", errNotSent), rejected},
		{apierrors.NewTimeoutError("etcd", 1), unknownOutcome},
		{apierrors.NewInternalError(errors.New("etcdserver: request timed out")), unknownOutcome},
		{errors.New("context deadline exceeded"), unknownOutcome},
	}
	for _, c := range cases {
		if got := writeOutcomeOf(c.err); got != c.want {
			t.Errorf("%v: %d, want %d", c.err, got, c.want)
		}
	}
}
