package main

import (
	"context"
	"errors"
	"log"
	"time"

	"github.com/go-redsync/redsync/v4"
	redsyncredis "github.com/go-redsync/redsync/v4/redis"
)

// plugin answers requests with redsync Mutexes over the primaries. A Mutex is made for
// each request, its value the request's holder, so that release and renew act on the
// key only while it holds that holder. The one thing kept between requests is each
// grant's expiry, which renew extends by: lockprotocol reads ttl_ms only for acquire,
// and every renew of a run asks for the run's one ttl.
type plugin struct {
	rs            *redsync.Redsync
	addrs         []string
	node          string
	fencingWanted bool
	opTimeout     time.Duration
	budget        opBudget
	expiries      map[string]time.Duration // by holder, from grant to release
}

func newPlugin(addrs []string, pools []redsyncredis.Pool, opTimeout time.Duration, node string, fencing bool) *plugin {
	return &plugin{
		rs:            redsync.New(recordingPools(pools)...),
		addrs:         addrs,
		node:          node,
		fencingWanted: fencing,
		opTimeout:     opTimeout,
		budget:        budgetFor(opTimeout),
		expiries:      map[string]time.Duration{},
	}
}

func (p *plugin) quorum() int { return len(p.addrs)/2 + 1 }

// handle carries out one parsed request read at start.
func (p *plugin) handle(req request, start time.Time) reply {
	switch req.Op {
	case "acquire":
		return p.acquire(req, start)
	case "renew":
		return p.renew(req, start)
	case "release":
		return p.release(req, start)
	default:
		return refusal(req.ID, true, errUnsupported)
	}
}

// acquire is one TryLockContext (a single attempt, whatever WithTries says: the same as
// LockContext with WithTries(1)): SET key holder NX PX ttl on every primary at once, each
// bounded by the per-node timeout (redsync's timeout factor); granted when a quorum set
// it and validity is left (ttl less the time taken less 1% drift). A failed attempt is
// cleaned up by redsync (a delete of our key everywhere) before TryLock returns. The
// grant carries no token: Redlock has none.
func (p *plugin) acquire(req request, start time.Time) reply {
	answerBy, stepBy := p.budget.Deadlines(start, p.opTimeout)
	expiry := time.Duration(req.TTLMs) * time.Millisecond
	perNode := nodeTimeout(expiry, stepBy.Sub(start))
	cmds := &commandLog{}
	ctx, cancel := context.WithDeadline(withCommandLog(context.Background(), cmds), answerBy)
	defer cancel()
	holder := req.Holder
	m := p.rs.NewMutex(req.Key,
		redsync.WithExpiry(expiry),
		redsync.WithTimeoutFactor(float64(perNode)/float64(expiry)),
		redsync.WithGenValueFunc(func() (string, error) { return holder, nil }),
	)
	err := m.TryLockContext(ctx)
	if err == nil {
		p.expiries[holder] = expiry
		return okReply(req.ID)
	}
	v := acquireVerdict(cmds.all(), p.addrs)
	p.logVerdict("acquire", req, time.Since(start), err, v)
	return refusal(req.ID, v.definite, v.err)
}

// renew is ExtendContext: on every primary, PEXPIRE the key by the grant's ttl if it
// holds our value. A holder this process did not grant (a plug-in started after the
// grant) is refused before anything is sent: its ttl is unknown here.
func (p *plugin) renew(req request, start time.Time) reply {
	_, stepBy := p.budget.Deadlines(start, p.opTimeout)
	expiry, ok := p.expiries[req.Holder]
	if !ok {
		return refusal(req.ID, true, "renew of a grant this plug-in process did not make: its ttl is unknown; nothing sent")
	}
	cmds := &commandLog{}
	deadline := start.Add(nodeTimeout(expiry, stepBy.Sub(start)))
	ctx, cancel := context.WithDeadline(withCommandLog(context.Background(), cmds), deadline)
	defer cancel()
	m := p.rs.NewMutex(req.Key, redsync.WithExpiry(expiry), redsync.WithValue(req.Holder))
	extended, err := m.ExtendContext(ctx)
	if extended && err == nil {
		return okReply(req.ID)
	}
	v := renewVerdict(cmds.all(), p.addrs, errors.Is(err, redsync.ErrExtendFailed))
	if v.definite && v.err == errNotHolder {
		delete(p.expiries, req.Holder)
	}
	p.logVerdict("renew", req, time.Since(start), err, v)
	return refusal(req.ID, v.definite, v.err)
}

// release is UnlockContext: on every primary, delete the key if it holds our value.
func (p *plugin) release(req request, start time.Time) reply {
	answerBy, _ := p.budget.Deadlines(start, p.opTimeout)
	cmds := &commandLog{}
	ctx, cancel := context.WithDeadline(withCommandLog(context.Background(), cmds), answerBy)
	defer cancel()
	delete(p.expiries, req.Holder)
	m := p.rs.NewMutex(req.Key, redsync.WithValue(req.Holder))
	ok, err := m.UnlockContext(ctx)
	if ok {
		return okReply(req.ID)
	}
	v := releaseVerdict(cmds.all(), p.addrs)
	p.logVerdict("release", req, time.Since(start), err, v)
	return refusal(req.ID, v.definite, v.err)
}

// logVerdict says on stderr what a refusal was and what redsync returned.
func (p *plugin) logVerdict(op string, req request, took time.Duration, libErr error, v verdict) {
	if v.routine {
		return
	}
	kind := "definite"
	if !v.definite {
		kind = "indefinite"
	}
	what := v.err
	if what == errHeld || what == errNotHolder {
		what += " (" + v.tally + ")"
	}
	log.Printf("%s holder %s after %v: %s %s; redsync: %s", op, req.Holder, took.Round(time.Millisecond), kind, what, oneLine(libErr))
}
