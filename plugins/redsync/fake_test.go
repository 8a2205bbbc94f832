package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	redsyncredis "github.com/go-redsync/redsync/v4/redis"
)

// A fake Redis primary behind redsync's Pool and Conn interfaces: the plug-in's logic
// runs against the real redsync Mutex, with faults injected per primary. It serves what
// redsync sends: SET NX PX, and its delete and extend scripts (told apart by their
// source).

type fault int

const (
	healthy      fault = iota // run and reply
	hang                      // no reply until the command's deadline; not run
	applyAndHang              // run, then no reply until the deadline (the reply is lost)
	refuseDial                // no connection: a dial error, not run
	errorReply                // an error reply (like MISCONF), not run
)

type entry struct {
	value   string
	expires time.Time
}

type fakeNode struct {
	mu    sync.Mutex
	addr  string
	keys  map[string]entry
	fault fault
	delay time.Duration // before running each command (a slow primary)
}

func newFakeNodes(n int) []*fakeNode {
	out := make([]*fakeNode, n)
	for i := range out {
		out[i] = &fakeNode{addr: fmt.Sprintf("10.77.0.%d:6379", i+1), keys: map[string]entry{}}
	}
	return out
}

func (f *fakeNode) setFault(ft fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault = ft
}

// put stores key=value with a TTL, as another client's grant.
func (f *fakeNode) put(key, value string, ttl time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys[key] = entry{value: value, expires: time.Now().Add(ttl)}
}

// get is the live value of key, or "".
func (f *fakeNode) get(key string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.keys[key]
	if !ok || time.Now().After(e.expires) {
		return ""
	}
	return e.value
}

func (f *fakeNode) ttl(key string) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return time.Until(f.keys[key].expires)
}

type fakePool struct{ node *fakeNode }

func (p fakePool) Get(ctx context.Context) (redsyncredis.Conn, error) {
	return fakeConn{node: p.node, ctx: ctx}, nil
}

func fakePools(nodes []*fakeNode) ([]string, []redsyncredis.Pool) {
	addrs := make([]string, len(nodes))
	pools := make([]redsyncredis.Pool, len(nodes))
	for i, n := range nodes {
		addrs[i], pools[i] = n.addr, fakePool{node: n}
	}
	return addrs, pools
}

type fakeConn struct {
	node *fakeNode
	ctx  context.Context
}

var errTimeout = &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}

type replyError string

func (e replyError) Error() string { return string(e) }
func (replyError) RedisError()     {}

// do runs one command under the node's fault.
func (c fakeConn) do(run func(keys map[string]entry) any) (any, error) {
	f := c.node
	f.mu.Lock()
	ft, delay := f.fault, f.delay
	f.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	switch ft {
	case refuseDial:
		return nil, c.dialError()
	case errorReply:
		return nil, replyError("MISCONF Redis is configured to save RDB snapshots")
	case hang:
		<-c.ctx.Done()
		return nil, errTimeout
	}
	f.mu.Lock()
	v := run(f.keys)
	f.mu.Unlock()
	if ft == applyAndHang {
		<-c.ctx.Done()
		return nil, errTimeout
	}
	return v, nil
}

func (fakeConn) dialError() error {
	return &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
}

func live(keys map[string]entry, name string) (entry, bool) {
	e, ok := keys[name]
	if ok && time.Now().After(e.expires) {
		delete(keys, name)
		return entry{}, false
	}
	return e, ok
}

func (c fakeConn) SetNX(name, value string, expiry time.Duration) (bool, error) {
	v, err := c.do(func(keys map[string]entry) any {
		if _, ok := live(keys, name); ok {
			return false
		}
		keys[name] = entry{value: value, expires: time.Now().Add(expiry)}
		return true
	})
	ok, _ := v.(bool)
	return ok, err
}

func (c fakeConn) Eval(script *redsyncredis.Script, keysAndArgs ...any) (any, error) {
	name, value := keysAndArgs[0].(string), keysAndArgs[1].(string)
	return c.do(func(keys map[string]entry) any {
		e, ok := live(keys, name)
		switch {
		case strings.Contains(script.Src, `"DEL"`): // delete if ours: 1, not ours 0, gone -1
			if !ok {
				return int64(-1)
			}
			if e.value != value {
				return int64(0)
			}
			delete(keys, name)
			return int64(1)
		case strings.Contains(script.Src, `"PEXPIRE"`): // extend if ours: 1, else 0
			if !ok || e.value != value {
				return int64(0)
			}
			ms := keysAndArgs[2].(int)
			keys[name] = entry{value: value, expires: time.Now().Add(time.Duration(ms) * time.Millisecond)}
			return int64(1)
		}
		panic("unexpected script: " + script.Src)
	})
}

func (c fakeConn) Get(string) (string, error)            { panic("not used") }
func (c fakeConn) Set(string, string) (bool, error)      { panic("not used") }
func (c fakeConn) ScriptLoad(*redsyncredis.Script) error { panic("not used") }
func (c fakeConn) PTTL(string) (time.Duration, error)    { panic("not used") }
func (c fakeConn) Close() error                          { return nil }
