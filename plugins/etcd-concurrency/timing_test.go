package main

import (
	"testing"
	"time"
)

func TestTTLSecondsRoundsUp(t *testing.T) {
	for _, c := range []struct{ ms, s int64 }{
		{1, 1}, {999, 1}, {1000, 1}, {1001, 2}, {1500, 2}, {2000, 2}, {2001, 3}, {60000, 60},
		{maxTTLMillis, 1<<31 - 1},
	} {
		got, err := ttlSeconds(c.ms)
		if err != nil || got != c.s {
			t.Errorf("ttl %d ms: %d s (%v), want %d s", c.ms, got, err, c.s)
		}
	}
	for _, bad := range []int64{0, -1, maxTTLMillis + 1} {
		if got, err := ttlSeconds(bad); err == nil {
			t.Errorf("ttl %d ms accepted: %d s", bad, got)
		}
	}
	// The largest TTL still fits Session.Close's time.Duration(ttl)*time.Second.
	if s, _ := ttlSeconds(maxTTLMillis); time.Duration(s)*time.Second < 0 {
		t.Fatalf("%d s overflows a Duration", s)
	}
}

func TestBudget(t *testing.T) {
	start := time.Unix(0, 0)
	for _, c := range []struct {
		op             time.Duration
		answer, stepBy time.Duration
	}{
		{1500 * time.Millisecond, 1350 * time.Millisecond, 1012500 * time.Microsecond},
		{5 * time.Second, 4750 * time.Millisecond, 3562500 * time.Microsecond},
		{50 * time.Millisecond, 40 * time.Millisecond, 30 * time.Millisecond},
		{10 * time.Millisecond, 5 * time.Millisecond, 3750 * time.Microsecond},
	} {
		b := budgetFor(c.op)
		answerBy, stepBy := b.Deadlines(start, c.op)
		if answerBy.Sub(start) != c.answer || stepBy.Sub(start) != c.stepBy {
			t.Errorf("op timeout %v: answer by %v, step by %v; want %v, %v",
				c.op, answerBy.Sub(start), stepBy.Sub(start), c.answer, c.stepBy)
		}
		if !(stepBy.After(start) && answerBy.After(stepBy) && answerBy.Sub(start) < c.op) {
			t.Errorf("op timeout %v: deadlines out of order", c.op)
		}
	}
}
