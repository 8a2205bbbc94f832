package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The plug-in with the real redsync Mutex over fake primaries (fake_test.go).

const testKey = "splitbrain-lock"

func newTestPlugin(t *testing.T, nodes []*fakeNode) *plugin {
	t.Helper()
	addrs, pools := fakePools(nodes)
	return newPlugin(addrs, pools, testOpTimeout, "n1", false)
}

// testOpTimeout keeps hung commands short: 270 ms to answer, 135 ms per round.
const testOpTimeout = 300 * time.Millisecond

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
		d := "<nil>"
		if r.Definite != nil {
			d = map[bool]string{true: "true", false: "false"}[*r.Definite]
		}
		t.Fatalf("%s: ok=%t definite=%s error=%q; want definite=%t error %q...", what, r.OK, d, r.Error, definite, errPrefix)
	}
}

func holdersOf(nodes []*fakeNode) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.get(testKey)
	}
	return out
}

func TestAcquireRenewRelease(t *testing.T) {
	nodes := newFakeNodes(3)
	p := newTestPlugin(t, nodes)
	assertOK(t, "acquire", call(p, "acquire", "h1", 2000))
	if got := strings.Join(holdersOf(nodes), ","); got != "h1,h1,h1" {
		t.Fatalf("the holder is the value on every primary: %s", got)
	}
	if ttl := nodes[0].ttl(testKey); ttl <= 1500*time.Millisecond || ttl > 2000*time.Millisecond {
		t.Fatalf("key ttl %v, want the 2000 ms expiry", ttl)
	}
	assertRefused(t, "a second acquire", call(p, "acquire", "h2", 2000), true, errHeld)
	assertOK(t, "renew", call(p, "renew", "h1", 2000))
	assertRefused(t, "renew by another holder", call(p, "renew", "h2", 2000), true, "renew of a grant this plug-in process did not make")
	assertRefused(t, "release by another holder", call(p, "release", "h2", 0), true, errNotHolder)
	assertOK(t, "release", call(p, "release", "h1", 0))
	if got := strings.Join(holdersOf(nodes), ","); got != ",," {
		t.Fatalf("release deletes the key everywhere: %q", got)
	}
	assertRefused(t, "a second release", call(p, "release", "h1", 0), true, errNotHolder)
	assertOK(t, "acquire after release", call(p, "acquire", "h3", 2000))
}

func TestFencingOnStillGrantsWithoutToken(t *testing.T) {
	addrs, pools := fakePools(newFakeNodes(3))
	p := newPlugin(addrs, pools, testOpTimeout, "n1", true)
	r := call(p, "acquire", "h1", 2000)
	assertOK(t, "acquire", r)
	b, err := json.Marshal(r)
	if err != nil || strings.Contains(string(b), "token") {
		t.Fatalf("reply %s carries a token", b)
	}
}

func TestAcquireHeldOnAMajorityWithOnePrimaryDown(t *testing.T) {
	for _, ft := range []fault{hang, applyAndHang, refuseDial, errorReply} {
		nodes := newFakeNodes(3)
		nodes[0].put(testKey, "other", time.Minute)
		nodes[1].put(testKey, "other", time.Minute)
		nodes[2].setFault(ft)
		assertRefused(t, "taken on 2, third down", call(newTestPlugin(t, nodes), "acquire", "h1", 2000), true, errHeld)
	}
}

func TestAcquireGrantedByAMajority(t *testing.T) {
	nodes := newFakeNodes(3)
	nodes[2].setFault(hang)
	assertOK(t, "2 of 3 set", call(newTestPlugin(t, nodes), "acquire", "h1", 2000))
}

// Two SET NX without answers may both have set the key, and redsync's clean-up got no
// answer from them either: the attempt may hold a majority.
func TestAcquireUnknownWhenAQuorumDidNotAnswer(t *testing.T) {
	for _, ft := range []fault{hang, applyAndHang} {
		nodes := newFakeNodes(3)
		nodes[1].setFault(ft)
		nodes[2].setFault(ft)
		r := call(newTestPlugin(t, nodes), "acquire", "h1", 2000)
		assertRefused(t, "1 set, 2 unanswered", r, false, "acquire outcome unknown")
		if nodes[0].get(testKey) != "" {
			t.Fatal("redsync's clean-up deletes the key where it answers")
		}
	}
}

// One primary set the key, one was taken, one refused the connection: the clean-up
// deleted the one key, no majority is possible: definite, but not "held" (one taken
// primary does not rule out a majority).
func TestAcquireDefiniteWithoutQuorumOfAnswers(t *testing.T) {
	nodes := newFakeNodes(3)
	nodes[1].put(testKey, "other", time.Minute)
	nodes[2].setFault(refuseDial)
	r := call(newTestPlugin(t, nodes), "acquire", "h1", 2000)
	assertRefused(t, "set 1, taken 1, refused 1", r, true, "not acquired: SET NX set 1, taken 1, refused 1, unanswered 0 of 3")
	if nodes[0].get(testKey) != "" {
		t.Fatal("the clean-up deletes the key it set")
	}
}

// A quorum set the key but the round outlasted the ttl (redsync's ErrFailed with one
// try): redsync's clean-up deleted the keys, and its answers say so. The delay, which
// the fake serves past the command's deadline, stands for a plug-in paused mid-acquire.
func TestAcquireTooSlowIsDefiniteOnceCleanedUp(t *testing.T) {
	nodes := newFakeNodes(3)
	for _, n := range nodes {
		n.delay = 70 * time.Millisecond // each SET NX answers after the 60 ms ttl
	}
	r := call(newTestPlugin(t, nodes), "acquire", "h1", 60)
	assertRefused(t, "validity gone", r, true, "not acquired: SET NX set 3")
	if got := strings.Join(holdersOf(nodes), ","); got != ",," {
		t.Fatalf("keys left: %q", got)
	}
}

// The ErrLockAlreadyExpired trap: one primary says the key is gone and two do not
// answer; redsync's error includes ErrLockAlreadyExpired, but the two may have deleted a
// key that was ours.
func TestReleaseUnknownDespiteOneExpired(t *testing.T) {
	nodes := newFakeNodes(3)
	p := newTestPlugin(t, nodes)
	assertOK(t, "acquire", call(p, "acquire", "h1", 2000))
	nodes[0].put(testKey, "", -time.Second) // expired on one
	nodes[1].setFault(applyAndHang)
	nodes[2].setFault(hang)
	assertRefused(t, "release", call(p, "release", "h1", 0), false, "release outcome unknown")
}

func TestReleaseNotHolderWhenAMajoritySaysNotOurs(t *testing.T) {
	nodes := newFakeNodes(3)
	p := newTestPlugin(t, nodes)
	assertOK(t, "acquire", call(p, "acquire", "h1", 2000))
	nodes[0].put(testKey, "next", time.Minute) // ours expired, another took it
	nodes[1].put(testKey, "", -time.Second)    // ours expired
	nodes[2].setFault(hang)
	assertRefused(t, "release", call(p, "release", "h1", 0), true, errNotHolder)
}

func TestReleaseNoQuorumOfAnswersIsDefinite(t *testing.T) {
	nodes := newFakeNodes(3)
	p := newTestPlugin(t, nodes)
	assertOK(t, "acquire", call(p, "acquire", "h1", 2000))
	nodes[1].setFault(refuseDial)
	nodes[2].setFault(errorReply)
	assertRefused(t, "release", call(p, "release", "h1", 0), true, "release reached no quorum: deleted 1")
}

func TestRenewOutcomes(t *testing.T) {
	nodes := newFakeNodes(3)
	p := newTestPlugin(t, nodes)
	assertOK(t, "acquire", call(p, "acquire", "h1", 2000))

	nodes[2].setFault(hang)
	assertOK(t, "renew by 2 of 3", call(p, "renew", "h1", 2000))

	nodes[1].setFault(applyAndHang)
	assertRefused(t, "renew, 2 unanswered", call(p, "renew", "h1", 2000), false, "renew outcome unknown")

	nodes[1].setFault(healthy)
	nodes[2].setFault(healthy)
	nodes[0].put(testKey, "", -time.Second)
	nodes[1].put(testKey, "next", time.Minute)
	assertRefused(t, "renew after losing a majority", call(p, "renew", "h1", 2000), true, errNotHolder)
	assertRefused(t, "renew after not-holder", call(p, "renew", "h1", 2000), true, "renew of a grant this plug-in process did not make")
}

// A quorum extended the key, but too slowly for the validity it would grant
// (ErrExtendFailed): it took effect, so the refusal cannot be definite.
func TestRenewTooSlowIsUnknown(t *testing.T) {
	nodes := newFakeNodes(3)
	p := newTestPlugin(t, nodes)
	assertOK(t, "acquire", call(p, "acquire", "h1", 200))
	for _, n := range nodes {
		n.delay = 45 * time.Millisecond // under the 50 ms per-node timeout
	}
	// The validity a renew grants is expiry - elapsed - 1% drift: with the grant's
	// expiry 40 ms, a 45 ms round leaves none.
	p.expiries["h1"] = 40 * time.Millisecond
	before := nodes[0].ttl(testKey)
	assertRefused(t, "slow renew", call(p, "renew", "h1", 40), false, "renew took effect too late")
	if after := nodes[0].ttl(testKey); after >= before || after > 40*time.Millisecond {
		t.Fatalf("the renew set the key's ttl to the 40 ms expiry: %v before, %v after", before, after)
	}
}

func TestUnknownOpIsUnsupported(t *testing.T) {
	r := newTestPlugin(t, newFakeNodes(3)).handle(request{ID: json.RawMessage("9"), Op: "frobnicate"}, time.Now())
	assertRefused(t, "unknown op", r, true, errUnsupported)
}
