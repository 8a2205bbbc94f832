package main

import (
	"context"
	"sync"
	"time"

	redsyncredis "github.com/go-redsync/redsync/v4/redis"
	"github.com/go-redsync/redsync/v4/redis/goredis/v9"
	goredislib "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// redisPools is one redsync pool per primary, each over its own go-redis client.
func redisPools(addrs []string, opTimeout time.Duration) []redsyncredis.Pool {
	pools := make([]redsyncredis.Pool, len(addrs))
	for i, addr := range addrs {
		pools[i] = goredis.NewPool(goredislib.NewClient(redisOptions(addr, opTimeout)))
	}
	return pools
}

// redisOptions configures the go-redis client of one primary. Every command is sent at
// most once, and its context's deadline (the per-node timeout redsync or the plug-in
// sets) bounds it.
func redisOptions(addr string, opTimeout time.Duration) *goredislib.Options {
	return &goredislib.Options{
		Addr: addr,
		// No resending: a SET NX resent after its first attempt took the key would find
		// that key and answer "taken", and the plug-in would call its own grant someone
		// else's; a resent delete would answer "gone" for a key it had deleted.
		MaxRetries: -1,
		// One dial per command: the pool's default, 5 dials 100 ms apart, would outlast
		// a per-node timeout.
		DialerRetries: 1,
		// Each command's context deadline sets its socket deadlines.
		ContextTimeoutEnabled: true,
		// Fallbacks for a context without a deadline (the plug-in always sets one).
		DialTimeout:  opTimeout,
		ReadTimeout:  opTimeout,
		WriteTimeout: opTimeout,
		PoolTimeout:  opTimeout,
		// A new connection sends only HELLO before the command: no CLIENT SETINFO
		// (Redis 7.2+) and no maintenance-notification handshake (Redis Enterprise).
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
}

// A command is what one primary answered to one command of a request: the reply (a bool
// for SET NX, the script's integer for EVAL) or the error.
type command struct {
	node  int
	name  string // "SET NX" or "EVAL"
	reply any
	err   error
}

// A commandLog collects the commands that redsync sends on one request's context. The
// Mutex hides them: TryLock returns one error for all primaries and drops the answers
// of the clean-up that follows a failed attempt, Unlock and Extend drop every error
// once a quorum agreed. Knowing each primary's answer is what lets the plug-in say
// whether a refusal is definite.
type commandLog struct {
	mu       sync.Mutex
	commands []command
}

type commandLogKey struct{}

func withCommandLog(ctx context.Context, l *commandLog) context.Context {
	return context.WithValue(ctx, commandLogKey{}, l)
}

func (l *commandLog) add(c command) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.commands = append(l.commands, c)
}

func (l *commandLog) all() []command {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]command(nil), l.commands...)
}

// recordingPools wraps each primary's pool so that its SET NX and EVAL answers go to the
// commandLog of the context they run on, tagged with the primary's index.
func recordingPools(pools []redsyncredis.Pool) []redsyncredis.Pool {
	out := make([]redsyncredis.Pool, len(pools))
	for i, p := range pools {
		out[i] = recordingPool{Pool: p, node: i}
	}
	return out
}

type recordingPool struct {
	redsyncredis.Pool
	node int
}

func (p recordingPool) Get(ctx context.Context) (redsyncredis.Conn, error) {
	conn, err := p.Pool.Get(ctx)
	if err != nil {
		return nil, err
	}
	l, _ := ctx.Value(commandLogKey{}).(*commandLog)
	if l == nil {
		return conn, nil
	}
	return recordingConn{Conn: conn, node: p.node, log: l}, nil
}

type recordingConn struct {
	redsyncredis.Conn
	node int
	log  *commandLog
}

func (c recordingConn) SetNX(name, value string, expiry time.Duration) (bool, error) {
	ok, err := c.Conn.SetNX(name, value, expiry)
	c.log.add(command{node: c.node, name: "SET NX", reply: ok, err: err})
	return ok, err
}

func (c recordingConn) Eval(script *redsyncredis.Script, keysAndArgs ...any) (any, error) {
	v, err := c.Conn.Eval(script, keysAndArgs...)
	c.log.add(command{node: c.node, name: "EVAL", reply: v, err: err})
	return v, err
}
