package main

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	goredislib "github.com/redis/go-redis/v9"
)

// A fake Redis behind go-redis's Scripter interface, which is all redislock uses: the
// plug-in runs the real redislock Client and Lock against it, with faults injected.
// EVALSHA always answers NOSCRIPT, so go-redis falls back to EVAL with the script's
// source, and the fake runs redislock's four scripts (told apart by their source) as
// their Lua does.

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

type fakeRedis struct {
	goredislib.Scripter // nil: EvalRO, ScriptExists... panic
	mu                  sync.Mutex
	keys                map[string]entry
	fault               fault
}

func newFakeRedis() *fakeRedis { return &fakeRedis{keys: map[string]entry{}} }

func (f *fakeRedis) setFault(ft fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault = ft
}

// put stores key=value with a TTL, as another client's lock.
func (f *fakeRedis) put(key, value string, ttl time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys[key] = entry{value: value, expires: time.Now().Add(ttl)}
}

// get is the live value of key, or "".
func (f *fakeRedis) get(key string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if e, ok := f.live(key); ok {
		return e.value
	}
	return ""
}

func (f *fakeRedis) ttl(key string) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return time.Until(f.keys[key].expires)
}

func (f *fakeRedis) live(key string) (entry, bool) {
	e, ok := f.keys[key]
	if ok && time.Now().After(e.expires) {
		delete(f.keys, key)
		return entry{}, false
	}
	return e, ok
}

type replyError string

func (e replyError) Error() string { return string(e) }
func (replyError) RedisError()     {}

var errTimeout = &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}

func (f *fakeRedis) EvalSha(context.Context, string, []string, ...any) *goredislib.Cmd {
	return goredislib.NewCmdResult(nil, goredislib.ErrNoScript)
}

func (f *fakeRedis) Eval(ctx context.Context, src string, keys []string, args ...any) *goredislib.Cmd {
	f.mu.Lock()
	ft := f.fault
	f.mu.Unlock()
	switch ft {
	case refuseDial:
		return goredislib.NewCmdResult(nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")})
	case errorReply:
		return goredislib.NewCmdResult(nil, replyError("MISCONF Redis is configured to save RDB snapshots"))
	case hang:
		<-ctx.Done()
		return goredislib.NewCmdResult(nil, errTimeout)
	}
	f.mu.Lock()
	v, err := f.run(src, keys[0], args)
	f.mu.Unlock()
	if ft == applyAndHang {
		<-ctx.Done()
		return goredislib.NewCmdResult(nil, errTimeout)
	}
	return goredislib.NewCmdResult(v, err)
}

// run is redislock's scripts: obtain (SET NX PX, or SET PX again when the value begins
// with our token), refresh (PEXPIRE if ours), release (DEL if ours).
func (f *fakeRedis) run(src, key string, args []any) (any, error) {
	e, exists := f.live(key)
	value := args[0].(string)
	switch {
	case strings.Contains(src, "getrange"):
		offset := args[1].(int)
		ttl, _ := strconv.Atoi(args[2].(string))
		if !exists || (len(e.value) >= offset && e.value[:offset] == value[:offset]) {
			f.keys[key] = entry{value: value, expires: time.Now().Add(time.Duration(ttl) * time.Millisecond)}
			return "OK", nil
		}
		return nil, goredislib.Nil
	case strings.Contains(src, "pexpire"):
		ttl, _ := strconv.Atoi(args[1].(string))
		if !exists || e.value != value {
			return int64(0), nil
		}
		f.keys[key] = entry{value: value, expires: time.Now().Add(time.Duration(ttl) * time.Millisecond)}
		return int64(1), nil
	case strings.Contains(src, `"del"`):
		if !exists || e.value != value {
			return int64(0), nil
		}
		delete(f.keys, key)
		return int64(1), nil
	}
	panic("unexpected script: " + src)
}
