package main

import (
	"errors"
	"net"
	"time"

	goredislib "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// redisOptions configures the go-redis client. Every command is sent at most once, and
// its context's deadline bounds it.
func redisOptions(addr string, opTimeout time.Duration) *goredislib.Options {
	return &goredislib.Options{
		Addr: addr,
		// No resending: a release script resent after its first attempt deleted the key
		// would find no key and answer "not held" for a release that happened.
		MaxRetries: -1,
		// One dial per command: the pool's default, 5 dials 100 ms apart, would outlast
		// the op timeout.
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

// notRun reports whether err proves that the command never ran on the server:
//
//   - an error reply (a redis.Error: LOADING, MISCONF, OOM, BUSY, READONLY, a script
//     error): redislock's scripts write only in their last call, so no error can
//     follow a write (a NOSCRIPT reply is answered by go-redis with EVAL, whose error is
//     the one returned);
//   - a failed dial (*net.OpError "dial"): there was no connection to send it on; once
//     as many dials failed as the pool has connections, go-redis answers the last dial
//     error without dialing;
//   - the pool gave no connection (pool timeout or exhausted, client closed).
//
// Any other error came after the command may have been written (a read timeout, a reset
// or closed connection, the context's deadline): it may have run. go-redis sends a
// command once (MaxRetries -1), so an error is about its only attempt.
func notRun(err error) bool {
	var reply goredislib.Error
	if errors.As(err, &reply) {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, goredislib.ErrPoolTimeout) || errors.Is(err, goredislib.ErrPoolExhausted) ||
		errors.Is(err, goredislib.ErrClosed)
}
