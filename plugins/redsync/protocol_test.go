package main

import (
	"strings"
	"testing"
	"time"
)

// serve answers malformed lines that carry an id, skips the rest, and goes on. None of
// these requests reaches a primary.
func TestServeBadInput(t *testing.T) {
	in := strings.Join([]string{
		`garbage`,
		`{"id":1,"op":"acquire","key":"k","holder":"h"}`,
		`{"id":2,"op":"nope"}`,
		strings.Repeat("x", maxLineBytes+10),
		`{"id":3,"op":"renew","key":"k","ttl_ms":1000,"holder":"nobody"}`,
		`{"id":4,"op":"acquire","key":"","ttl_ms":1000,"holder":"h"}`,
		`{"id":5,"op":"acquire","key":"` + strings.Repeat("k", maxKeyBytes+1) + `","ttl_ms":1000,"holder":"h"}`,
	}, "\n")
	var out strings.Builder
	if err := serve(newTestPlugin(t, newFakeNodes(3)), strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"id":1,"ok":false,"definite":true,"error":"bad request: acquire without ttl_ms"}`,
		`{"id":2,"ok":false,"definite":true,"error":"unsupported"}`,
		`{"id":3,"ok":false,"definite":true,"error":"renew of a grant this plug-in process did not make: its ttl is unknown; nothing sent"}`,
		`{"id":4,"ok":false,"definite":true,"error":"bad request: key \"\" is empty"}`,
		`{"id":5,"ok":false,"definite":true,"error":"bad request: key \"` + strings.Repeat("k", 40) + `...\" is longer than 512 bytes"}`,
	}
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("replies:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestParseRequestTakesBinaryKeys(t *testing.T) {
	for _, key := range []string{"splitbrain-lock", "a/b", "x y", "ключ"} {
		if _, perr := parseRequest([]byte(`{"id":1,"op":"release","key":"` + key + `","holder":"h"}`)); perr != nil {
			t.Errorf("key %q: %v", key, perr)
		}
	}
}

func TestParseAddrs(t *testing.T) {
	got, err := parseAddrs("10.77.0.1:6379,10.77.0.2:6379, 10.77.0.3:6379")
	if err != nil || strings.Join(got, ",") != "10.77.0.1:6379,10.77.0.2:6379,10.77.0.3:6379" {
		t.Fatalf("three primaries: %q %v", got, err)
	}
	for _, bad := range []string{"", " ", "10.77.0.1:6379", "a:1,b:2", "a:1,b:2,c", "a:1,b:2,:3", "a:1,b:2,c:0", "a:1,b:2,c:x"} {
		if got, err := parseAddrs(bad); err == nil {
			t.Errorf("%q accepted: %q", bad, got)
		}
	}
}

func TestParseOpTimeout(t *testing.T) {
	if d, err := parseOpTimeout(""); err != nil || d != defaultOpTimeout {
		t.Fatalf("default: %v %v", d, err)
	}
	if d, err := parseOpTimeout("1666"); err != nil || d != 1666*time.Millisecond {
		t.Fatalf("1666: %v %v", d, err)
	}
	for _, bad := range []string{"0", "-1", "x", "1.5"} {
		if _, err := parseOpTimeout(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestNodeTimeout(t *testing.T) {
	for _, c := range []struct{ expiry, round, want time.Duration }{
		{2000 * time.Millisecond, 750 * time.Millisecond, 100 * time.Millisecond}, // redsync's 5%
		{500 * time.Millisecond, 750 * time.Millisecond, 50 * time.Millisecond},   // at least 50 ms
		{60 * time.Second, 750 * time.Millisecond, 750 * time.Millisecond},        // within the round
		{2000 * time.Millisecond, 30 * time.Millisecond, 30 * time.Millisecond},
	} {
		if got := nodeTimeout(c.expiry, c.round); got != c.want {
			t.Errorf("expiry %v, round %v: %v, want %v", c.expiry, c.round, got, c.want)
		}
	}
}

// An acquire's two rounds (SET NX, then the clean-up) fit before the answer deadline.
func TestBudgetFitsTwoRounds(t *testing.T) {
	start := time.Unix(0, 0)
	for _, op := range []time.Duration{300 * time.Millisecond, 1666 * time.Millisecond, 5 * time.Second} {
		answerBy, stepBy := budgetFor(op).Deadlines(start, op)
		round := stepBy.Sub(start)
		if 2*round > answerBy.Sub(start) || answerBy.Sub(start) >= op {
			t.Errorf("op timeout %v: round %v, answer by %v", op, round, answerBy.Sub(start))
		}
	}
}
