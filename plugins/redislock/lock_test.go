package main

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bsm/redislock"
)

// The plug-in with the real redislock Client over a fake Redis (fake_test.go).

const testKey = "splitbrain-lock"

// testOpTimeout keeps hung commands short: 270 ms to answer.
const testOpTimeout = 300 * time.Millisecond

func newTestPlugin(f *fakeRedis, fencing bool) *plugin {
	return newPlugin(redislock.New(f), "10.77.0.1:6379", testOpTimeout, "n1", fencing)
}

var nextID int

func call(p *plugin, op, holder string, ttlMs int64) reply {
	nextID++
	id := json.RawMessage(strconv.Itoa(nextID))
	return p.handle(request{ID: id, Op: op, Key: testKey, Holder: holder, TTLMs: ttlMs}, time.Now())
}

func assertOK(t *testing.T, what string, r reply) {
	t.Helper()
	if !r.OK || r.Token != nil {
		t.Fatalf("%s: %+v (error %q), want ok without a token", what, r, r.Error)
	}
}

func assertRefused(t *testing.T, what string, r reply, definite bool, errPrefix string) {
	t.Helper()
	if r.OK || r.Definite == nil || *r.Definite != definite || !strings.HasPrefix(r.Error, errPrefix) {
		t.Fatalf("%s: ok=%t definite=%v error=%q; want definite=%t error %q...", what, r.OK, r.Definite != nil && *r.Definite, r.Error, definite, errPrefix)
	}
}

func TestAcquireRenewRelease(t *testing.T) {
	f := newFakeRedis()
	p := newTestPlugin(f, false)
	assertOK(t, "acquire", call(p, "acquire", "h1", 2000))
	if got := f.get(testKey); got != "h1\x00" {
		t.Fatalf("the key's value is the holder and a NUL: %q", got)
	}
	if ttl := f.ttl(testKey); ttl <= 1500*time.Millisecond || ttl > 2000*time.Millisecond {
		t.Fatalf("key ttl %v, want 2000 ms", ttl)
	}
	assertRefused(t, "a second acquire", call(p, "acquire", "h2", 2000), true, errHeld)
	f.put(testKey, "h1\x00", 100*time.Millisecond)
	assertOK(t, "renew", call(p, "renew", "h1", 2000))
	if ttl := f.ttl(testKey); ttl <= 1500*time.Millisecond {
		t.Fatalf("renew extends by the grant's 2000 ms: %v", ttl)
	}
	assertRefused(t, "renew by another holder", call(p, "renew", "h2", 2000), true, errNotHolder)
	assertRefused(t, "release by another holder", call(p, "release", "h2", 0), true, errNotHolder)
	assertOK(t, "release", call(p, "release", "h1", 0))
	if got := f.get(testKey); got != "" {
		t.Fatalf("release deletes the key: %q", got)
	}
	assertRefused(t, "a second release", call(p, "release", "h1", 0), true, errNotHolder)
	assertOK(t, "acquire after release", call(p, "acquire", "h3", 2000))
}

func TestFencingOnStillGrantsWithoutToken(t *testing.T) {
	r := call(newTestPlugin(newFakeRedis(), true), "acquire", "h1", 2000)
	assertOK(t, "acquire", r)
	if b, _ := json.Marshal(r); strings.Contains(string(b), "token") {
		t.Fatalf("reply %s carries a token", b)
	}
}

// Refresh and Release of a lock whose key expired and was taken by another holder:
// redislock answers ErrNotObtained (Refresh) and ErrLockNotHeld (Release), both
// definite not-holder.
func TestLostLockIsNotHolder(t *testing.T) {
	f := newFakeRedis()
	p := newTestPlugin(f, false)
	assertOK(t, "acquire h1", call(p, "acquire", "h1", 2000))
	f.put(testKey, "next\x00", time.Minute)
	assertRefused(t, "renew h1", call(p, "renew", "h1", 2000), true, errNotHolder)
	assertRefused(t, "renew h1 again: forgotten", call(p, "renew", "h1", 2000), true, errNotHolder)

	f.put(testKey, "", -time.Second) // expired
	assertOK(t, "acquire h2", call(p, "acquire", "h2", 2000))
	f.put(testKey, "next\x00", time.Minute)
	assertRefused(t, "release h2", call(p, "release", "h2", 0), true, errNotHolder)
	if got := f.get(testKey); got != "next\x00" {
		t.Fatalf("the other holder's key stays: %q", got)
	}
}

// redislock's obtain script sets the key again when its value begins with the token
// (a re-entrant obtain). With the bare holder as token, holder "n1-7-1" would take over
// the lock of "n1-7-12"; the NUL that ends each token keeps them apart.
func TestAHolderThatPrefixesAnotherIsRefused(t *testing.T) {
	f := newFakeRedis()
	p := newTestPlugin(f, false)
	assertOK(t, "acquire n1-7-12", call(p, "acquire", "n1-7-12", 2000))
	assertRefused(t, "acquire n1-7-1", call(p, "acquire", "n1-7-1", 2000), true, errHeld)

	// What the plug-in avoids: redislock itself, with bare holders as tokens.
	raw := newFakeRedis()
	ctx := context.Background()
	c := redislock.New(raw)
	if _, err := c.Obtain(ctx, testKey, time.Second, &redislock.Options{Token: "n1-7-12"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Obtain(ctx, testKey, time.Second, &redislock.Options{Token: "n1-7-1"}); err != nil {
		t.Fatalf("redislock refused the prefix holder (%v): its obtain script no longer takes over, and tokenEnd may go", err)
	}
	if got := raw.get(testKey); got != "n1-7-1" {
		t.Fatalf("the prefix holder took the key: %q", got)
	}
}

func TestHolderWithNULIsRefused(t *testing.T) {
	assertRefused(t, "NUL holder", call(newTestPlugin(newFakeRedis(), false), "acquire", "a\x00b", 2000), true, "bad request")
}

func TestAcquireFaults(t *testing.T) {
	cases := []struct {
		fault    fault
		definite bool
		err      string
		keyLeft  bool
	}{
		{hang, false, "obtain outcome unknown", false},
		{applyAndHang, false, "obtain outcome unknown", true},
		{refuseDial, true, "obtain not run: dial tcp", false},
		{errorReply, true, "obtain not run: MISCONF", false},
	}
	for _, c := range cases {
		f := newFakeRedis()
		f.setFault(c.fault)
		p := newTestPlugin(f, false)
		assertRefused(t, "acquire", call(p, "acquire", "h1", 2000), c.definite, c.err)
		if left := f.get(testKey) != ""; left != c.keyLeft {
			t.Errorf("fault %d: key left %t, want %t", c.fault, left, c.keyLeft)
		}
		if len(p.grants) != 0 {
			t.Errorf("fault %d: a refused acquire is no grant", c.fault)
		}
	}
}

func TestReleaseAndRenewFaults(t *testing.T) {
	for _, c := range []struct {
		fault    fault
		definite bool
		prefix   string
	}{
		{hang, false, "outcome unknown"},
		{applyAndHang, false, "outcome unknown"},
		{refuseDial, true, "not run: dial tcp"},
		{errorReply, true, "not run: MISCONF"},
	} {
		f := newFakeRedis()
		p := newTestPlugin(f, false)
		assertOK(t, "acquire", call(p, "acquire", "h1", 2000))
		f.setFault(c.fault)
		assertRefused(t, "renew", call(p, "renew", "h1", 2000), c.definite, "refresh "+c.prefix)
		assertRefused(t, "release", call(p, "release", "h1", 0), c.definite, "release "+c.prefix)
	}
}

func TestUnknownOpIsUnsupported(t *testing.T) {
	r := newTestPlugin(newFakeRedis(), false).handle(request{ID: json.RawMessage("9"), Op: "frobnicate"}, time.Now())
	assertRefused(t, "unknown op", r, true, errUnsupported)
}
