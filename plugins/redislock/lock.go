package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/bsm/redislock"
)

// tokenEnd ends every token. redislock's Obtain takes a key whose value begins with its
// token for its own (a re-entrant obtain: it sets the key again), so no token may be the
// beginning of another: holder "n1-7-1" would take over the lock of "n1-7-12". A token
// is the holder and then tokenEnd, which no holder contains.
const tokenEnd = "\x00"

// A grant is one obtained lock and the ttl that renew extends it by (lockprotocol reads
// ttl_ms only for acquire; every renew of a run asks for the run's one ttl).
type grant struct {
	lock *redislock.Lock
	key  string
	ttl  time.Duration
}

// plugin answers requests with a redislock Client. redislock's Lock carries the token
// it was obtained with and cannot be made from one, so the grants this process made are
// kept, by holder, from acquire to release.
type plugin struct {
	client        *redislock.Client
	addr          string
	node          string
	fencingWanted bool
	opTimeout     time.Duration
	budget        opBudget
	grants        map[string]grant
}

func newPlugin(client *redislock.Client, addr string, opTimeout time.Duration, node string, fencing bool) *plugin {
	return &plugin{
		client:        client,
		addr:          addr,
		node:          node,
		fencingWanted: fencing,
		opTimeout:     opTimeout,
		budget:        budgetFor(opTimeout),
		grants:        map[string]grant{},
	}
}

// handle carries out one parsed request read at start.
func (p *plugin) handle(req request, start time.Time) reply {
	answerBy, _ := p.budget.Deadlines(start, p.opTimeout)
	ctx, cancel := context.WithDeadline(context.Background(), answerBy)
	defer cancel()
	switch req.Op {
	case "acquire":
		return p.acquire(ctx, req)
	case "renew":
		return p.renew(ctx, req)
	case "release":
		return p.release(ctx, req)
	default:
		return refusal(req.ID, true, errUnsupported)
	}
}

// acquire is one Obtain with NoRetry: a script that sets the key to our token with
// SET NX PX ttl (or, if the key's value begins with our token, sets it again). The
// grant carries no token: redislock has none.
func (p *plugin) acquire(ctx context.Context, req request) reply {
	if strings.Contains(req.Holder, tokenEnd) {
		return refusal(req.ID, true, "bad request: holder contains a NUL byte")
	}
	if _, dup := p.grants[req.Holder]; dup {
		return refusal(req.ID, true, fmt.Sprintf("holder %q already holds a lock in this plug-in", req.Holder))
	}
	ttl := time.Duration(req.TTLMs) * time.Millisecond
	lock, err := p.client.Obtain(ctx, req.Key, ttl, &redislock.Options{
		Token:         req.Holder + tokenEnd,
		RetryStrategy: redislock.NoRetry(),
	})
	if err == nil {
		p.grants[req.Holder] = grant{lock: lock, key: req.Key, ttl: ttl}
		return okReply(req.ID)
	}
	return p.refuse(req, classifyObtain(err))
}

// renew is Refresh: PEXPIRE the key by the grant's ttl if its value is still our token.
func (p *plugin) renew(ctx context.Context, req request) reply {
	g, ok := p.grants[req.Holder]
	if !ok || g.key != req.Key {
		return refusal(req.ID, true, errNotHolder)
	}
	err := g.lock.Refresh(ctx, g.ttl, nil)
	if err == nil {
		return okReply(req.ID)
	}
	o := classifyRefresh(err)
	if o.definite && o.err == errNotHolder {
		delete(p.grants, req.Holder)
	}
	return p.refuse(req, o)
}

// release is Release: delete the key if its value is still our token.
func (p *plugin) release(ctx context.Context, req request) reply {
	g, ok := p.grants[req.Holder]
	if !ok || g.key != req.Key {
		return refusal(req.ID, true, errNotHolder)
	}
	delete(p.grants, req.Holder)
	err := g.lock.Release(ctx)
	if err == nil {
		return okReply(req.ID)
	}
	return p.refuse(req, classifyRelease(err))
}

// refuse answers a failed request, saying on stderr what redislock returned unless it
// is the everyday "held" or "not-holder".
func (p *plugin) refuse(req request, o outcome) reply {
	if !errors.Is(o.libErr, redislock.ErrNotObtained) && !errors.Is(o.libErr, redislock.ErrLockNotHeld) {
		kind := "definite"
		if !o.definite {
			kind = "indefinite"
		}
		log.Printf("%s holder %s: %s %s", req.Op, req.Holder, kind, o.err)
	}
	return refusal(req.ID, o.definite, o.err)
}
