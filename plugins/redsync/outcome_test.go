package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	goredislib "github.com/redis/go-redis/v9"
)

var threeAddrs = []string{"10.77.0.1:6379", "10.77.0.2:6379", "10.77.0.3:6379"}

func TestAnswerOf(t *testing.T) {
	for _, c := range []struct {
		cmd  command
		want answer
	}{
		{command{name: "SET NX", reply: true}, yes},
		{command{name: "SET NX", reply: false}, no},
		{command{name: "EVAL", reply: int64(1)}, yes},
		{command{name: "EVAL", reply: int64(0)}, no},
		{command{name: "EVAL", reply: int64(-1)}, no},
		{command{name: "EVAL", err: replyError("BUSY Redis is busy running a script")}, refused},
		{command{name: "EVAL", err: fmt.Errorf("wrapped: %w", replyError("LOADING"))}, refused},
		{command{name: "SET NX", err: refusedDial()}, refused},
		{command{name: "SET NX", err: goredislib.ErrPoolTimeout}, refused},
		{command{name: "SET NX", err: goredislib.ErrClosed}, refused},
		{command{name: "SET NX", err: errTimeout}, unanswered},
		{command{name: "SET NX", err: context.DeadlineExceeded}, unanswered},
		{command{name: "EVAL", err: errors.New("read: connection reset by peer")}, unanswered},
	} {
		if got := answerOf(c.cmd); got != c.want {
			t.Errorf("%+v: %d, want %d", c.cmd, got, c.want)
		}
	}
}

func refusedDial() error { return fakeConn{}.dialError() }

// A real go-redis client's error for a refused connection proves nothing was sent.
func TestRefusedConnectionIsNotRun(t *testing.T) {
	client := goredislib.NewClient(redisOptions("127.0.0.1:1", time.Second))
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := client.SetNX(ctx, "k", "v", time.Second).Err()
	if err == nil || !notRun(err) {
		t.Fatalf("dial to a closed port: %v, want a not-run error", err)
	}
}

func set(node int, ok bool) command { return command{node: node, name: "SET NX", reply: ok} }
func setErr(node int, err error) command {
	return command{node: node, name: "SET NX", err: err}
}
func eval(node int, v int64) command { return command{node: node, name: "EVAL", reply: v} }
func evalErr(node int, err error) command {
	return command{node: node, name: "EVAL", err: err}
}

func TestAcquireVerdict(t *testing.T) {
	cases := []struct {
		name     string
		cmds     []command
		definite bool
		err      string
	}{
		{"taken everywhere", []command{set(0, false), set(1, false), set(2, false), eval(0, 0), eval(1, 0), eval(2, 0)},
			true, errHeld},
		{"taken on two, third unanswered, clean-up unanswered there", []command{set(0, false), set(1, false), setErr(2, errTimeout), eval(0, 0), eval(1, 0), evalErr(2, errTimeout)},
			true, errHeld},
		{"set on one, taken on one, one refused", []command{set(0, true), set(1, false), setErr(2, refusedDial()), eval(0, 1), eval(1, 0), evalErr(2, refusedDial())},
			true, "not acquired: SET NX set 1, taken 1, refused 1"},
		{"set on one, two unanswered and not cleaned", []command{set(0, true), setErr(1, errTimeout), setErr(2, errTimeout), eval(0, 1), evalErr(1, errTimeout), eval(2, -1)},
			false, "acquire outcome unknown: 2 primaries may hold"},
		{"two unanswered, both cleaned up by a delete of our key", []command{set(0, false), setErr(1, errTimeout), setErr(2, errTimeout), eval(0, 0), eval(1, 1), eval(2, 1)},
			true, "not acquired"},
		{"set everywhere, too late, clean-up answered", []command{set(0, true), set(1, true), set(2, true), eval(0, 1), eval(1, 1), eval(2, -1)},
			true, "not acquired: SET NX set 3"},
		{"set everywhere, too late, clean-up unanswered on two", []command{set(0, true), set(1, true), set(2, true), eval(0, 1), evalErr(1, errTimeout), evalErr(2, context.DeadlineExceeded)},
			false, "acquire outcome unknown"},
		{"set on two, clean-up refused on both", []command{set(0, true), set(1, true), set(2, false), evalErr(0, replyError("MISCONF")), evalErr(1, replyError("MISCONF")), eval(2, 0)},
			false, "acquire outcome unknown"},
		{"nothing recorded", nil, false, "acquire outcome unknown: 3 primaries may hold"},
	}
	for _, c := range cases {
		v := acquireVerdict(c.cmds, threeAddrs)
		if v.definite != c.definite || !strings.HasPrefix(v.err, c.err) {
			t.Errorf("%s: definite=%t %q; want definite=%t %q...", c.name, v.definite, v.err, c.definite, c.err)
		}
	}
}

func TestReleaseAndRenewVerdicts(t *testing.T) {
	cases := []struct {
		name     string
		cmds     []command
		definite bool
		release  string
		renew    string
	}{
		{"not ours anywhere", []command{eval(0, 0), eval(1, -1), eval(2, -1)}, true, errNotHolder, errNotHolder},
		{"gone on one, unanswered on two", []command{eval(0, -1), evalErr(1, errTimeout), evalErr(2, errTimeout)}, false,
			"release outcome unknown", "renew outcome unknown"},
		{"done on one, unanswered on one, not ours on one", []command{eval(0, 1), evalErr(1, errTimeout), eval(2, 0)}, false,
			"release outcome unknown", "renew outcome unknown"},
		{"done on one, not ours on two", []command{eval(0, 1), eval(1, 0), eval(2, -1)}, true, errNotHolder, errNotHolder},
		{"done on one, refused on two", []command{eval(0, 1), evalErr(1, refusedDial()), evalErr(2, replyError("MISCONF"))}, true,
			"release reached no quorum: deleted 1", "renew reached no quorum: extended 1"},
		{"unanswered on one, refused on one, not ours on one", []command{evalErr(0, errTimeout), evalErr(1, refusedDial()), eval(2, 0)}, true,
			"release reached no quorum", "renew reached no quorum"},
	}
	for _, c := range cases {
		if v := releaseVerdict(c.cmds, threeAddrs); v.definite != c.definite || !strings.HasPrefix(v.err, c.release) {
			t.Errorf("release, %s: definite=%t %q; want definite=%t %q...", c.name, v.definite, v.err, c.definite, c.release)
		}
		if v := renewVerdict(c.cmds, threeAddrs, false); v.definite != c.definite || !strings.HasPrefix(v.err, c.renew) {
			t.Errorf("renew, %s: definite=%t %q; want definite=%t %q...", c.name, v.definite, v.err, c.definite, c.renew)
		}
	}
	v := renewVerdict([]command{eval(0, 1), eval(1, 1), eval(2, 1)}, threeAddrs, true)
	if v.definite || !strings.HasPrefix(v.err, "renew took effect too late") {
		t.Errorf("ErrExtendFailed: %+v", v)
	}
}

// Five primaries: a quorum is 3, and 3 refusals rule a majority out.
func TestVerdictsWithFivePrimaries(t *testing.T) {
	five := append(append([]string(nil), threeAddrs...), "10.77.0.4:6379", "10.77.0.5:6379")
	v := acquireVerdict([]command{set(0, false), set(1, false), set(2, true), setErr(3, errTimeout), setErr(4, errTimeout),
		eval(0, 0), eval(1, 0), eval(2, 1), evalErr(3, errTimeout), evalErr(4, errTimeout)}, five)
	if !v.definite || !strings.HasPrefix(v.err, "not acquired") {
		t.Errorf("taken on 2 of 5, 2 unanswered: %+v", v)
	}
	v = acquireVerdict([]command{set(0, false), set(1, false), set(2, false), setErr(3, errTimeout), setErr(4, errTimeout)}, five)
	if !v.definite || v.err != errHeld {
		t.Errorf("taken on 3 of 5: %+v", v)
	}
}

func TestVerdictsAreRoutineOnlyWhenEveryPrimaryAnswered(t *testing.T) {
	if v := acquireVerdict([]command{set(0, false), set(1, false), set(2, false), eval(0, 0), eval(1, 0), eval(2, 0)}, threeAddrs); !v.routine {
		t.Errorf("held everywhere is routine: %+v", v)
	}
	if v := acquireVerdict([]command{set(0, false), set(1, false), setErr(2, errTimeout)}, threeAddrs); v.routine {
		t.Errorf("held with a primary down is worth a log line: %+v", v)
	}
}
