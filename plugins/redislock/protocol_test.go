package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bsm/redislock"
	goredislib "github.com/redis/go-redis/v9"
)

// serve answers malformed lines that carry an id, skips the rest, and goes on. None of
// these requests reaches Redis.
func TestServeBadInput(t *testing.T) {
	in := strings.Join([]string{
		`garbage`,
		`{"id":1,"op":"acquire","key":"k","holder":"h"}`,
		`{"id":2,"op":"nope"}`,
		strings.Repeat("x", maxLineBytes+10),
		`{"id":3,"op":"renew","key":"k","ttl_ms":1000,"holder":"nobody"}`,
		`{"id":4,"op":"release","key":"k","holder":"nobody"}`,
		`{"id":5,"op":"acquire","key":"","ttl_ms":1000,"holder":"h"}`,
		`{"id":6,"op":"acquire","key":"` + strings.Repeat("k", maxKeyBytes+1) + `","ttl_ms":1000,"holder":"h"}`,
	}, "\n")
	var out strings.Builder
	if err := serve(newTestPlugin(newFakeRedis(), false), strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"id":1,"ok":false,"definite":true,"error":"bad request: acquire without ttl_ms"}`,
		`{"id":2,"ok":false,"definite":true,"error":"unsupported"}`,
		`{"id":3,"ok":false,"definite":true,"error":"not-holder"}`,
		`{"id":4,"ok":false,"definite":true,"error":"not-holder"}`,
		`{"id":5,"ok":false,"definite":true,"error":"bad request: key \"\" is empty"}`,
		`{"id":6,"ok":false,"definite":true,"error":"bad request: key \"` + strings.Repeat("k", 40) + `...\" is longer than 512 bytes"}`,
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

func TestParseAddr(t *testing.T) {
	if got, err := parseAddr(" 10.77.0.1:6379 "); err != nil || got != "10.77.0.1:6379" {
		t.Fatalf("%q %v", got, err)
	}
	for _, bad := range []string{"", "10.77.0.1", ":6379", "h:0", "h:x", "redis://h:6379"} {
		if got, err := parseAddr(bad); err == nil {
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

func TestClassification(t *testing.T) {
	for _, c := range []struct {
		name     string
		got      outcome
		definite bool
		err      string
	}{
		{"obtain refused", classifyObtain(redislock.ErrNotObtained), true, errHeld},
		{"refresh of a lost lock", classifyRefresh(redislock.ErrNotObtained), true, errNotHolder},
		{"release of a lost lock", classifyRelease(redislock.ErrLockNotHeld), true, errNotHolder},
		{"obtain timed out", classifyObtain(errTimeout), false, "obtain outcome unknown"},
		{"obtain deadline", classifyObtain(context.DeadlineExceeded), false, "obtain outcome unknown"},
		{"release reset", classifyRelease(errors.New("read: connection reset by peer")), false, "release outcome unknown"},
		{"obtain error reply", classifyObtain(replyError("OOM command not allowed")), true, "obtain not run"},
		{"release pool timeout", classifyRelease(goredislib.ErrPoolTimeout), true, "release not run"},
		{"refresh closed client", classifyRefresh(fmt.Errorf("x: %w", goredislib.ErrClosed)), true, "refresh not run"},
	} {
		if c.got.definite != c.definite || !strings.HasPrefix(c.got.err, c.err) {
			t.Errorf("%s: definite=%t %q; want definite=%t %q...", c.name, c.got.definite, c.got.err, c.definite, c.err)
		}
	}
}

// A real go-redis client's error for a refused connection proves nothing was sent.
func TestRefusedConnectionIsNotRun(t *testing.T) {
	client := goredislib.NewClient(redisOptions("127.0.0.1:1", time.Second))
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := client.Eval(ctx, "return 1", []string{"k"}).Err()
	if err == nil || !notRun(err) {
		t.Fatalf("dial to a closed port: %v, want a not-run error", err)
	}
}
