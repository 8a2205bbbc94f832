#!/usr/bin/env python3
"""A splitbrain lock plug-in: a Redis lock (SET NX PX) speaking raw RESP over a socket.

splitbrain's agent starts this program on a node and writes one JSON request per line on
its stdin; it answers with one JSON reply per line on stdout, carrying the request's id:

    -> {"id":1,"op":"acquire","key":"k","ttl_ms":1000,"holder":"n2-77-1"}
    <- {"id":1,"ok":true,"token":42}
    -> {"id":2,"op":"release","key":"k","holder":"n2-77-1","token":42}
    <- {"id":2,"ok":true}

Refusals say whether they are definite (the operation certainly did not take effect):

    <- {"id":3,"ok":false,"definite":true,"error":"held"}
    <- {"id":4,"ok":false,"definite":false,"error":"timeout after 300 ms"}

It reads its Redis address from SPLITBRAIN_REDIS (started for it by
`splitbrain run --lock external --plugin-servers redis`), hands out fencing tokens from
an INCR counter when SPLITBRAIN_FENCING=on, and bounds each Redis call below
SPLITBRAIN_OP_TIMEOUT_MS so its own answer arrives before the agent gives up.

It also answers `read` and `cas` on counters in the same Redis, the optimistic
workload's store (`--workload optimistic`): `read` returns the counter (0 when never
written), `cas` swaps it atomically in a Lua script and says whether it did:

    -> {"id":5,"op":"cas","key":"c","from":7,"to":8}
    <- {"id":5,"ok":true,"value":true}

With the argument `--unsafe-cas` the swap skips its comparison (a deliberately broken
store, for showing the linearizability checker at work). Other command-line arguments
are ignored. Only the standard library is used. Diagnostics go to stderr (the agent's log): stdout
carries replies only.
"""

import json
import os
import socket
import sys

# Take the lock and, atomically with it, the next fencing token.
ACQUIRE_FENCED = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return false
"""

# Delete or extend the lock only if we still own it.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


# Compare-and-set a counter (absent reads as 0); the unsafe one writes without comparing.
CAS = """
if (redis.call('GET', KEYS[1]) or '0') == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
UNSAFE_CAS = """
redis.call('SET', KEYS[1], ARGV[2])
return 1
"""
UNSAFE = "--unsafe-cas" in sys.argv[1:]


class RedisError(Exception):
    """An error reply from Redis: the command was refused, nothing happened."""


class NotSent(Exception):
    """The connection could not be made: nothing was sent, nothing happened."""


class Redis:
    """A minimal RESP2 client: one connection, reopened after any failure."""

    def __init__(self, addr, timeout_s):
        host, port = addr.rsplit(":", 1)
        self.addr = (host, int(port))
        self.timeout_s = timeout_s
        self.sock = None
        self.buf = b""

    def close(self):
        if self.sock is not None:
            self.sock.close()
        self.sock, self.buf = None, b""

    def call(self, *args):
        if self.sock is None:
            try:
                self.sock = socket.create_connection(self.addr, timeout=self.timeout_s)
            except OSError as e:
                self.close()
                raise NotSent(f"cannot connect to redis {self.addr[0]}:{self.addr[1]}: {e}")
        parts = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
        try:
            self.sock.sendall(b"".join(parts))
            return self.reply()
        except RedisError:
            raise
        except Exception:
            # Timeout, reset, bad reply: the connection's state is unknown.
            self.close()
            raise

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        line = self.line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.exact(n).decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise ConnectionError(f"unexpected reply from redis: {line!r}")


def ok(rid, **fields):
    return {"id": rid, "ok": True, **fields}


def refused(rid, error, definite):
    return {"id": rid, "ok": False, "definite": definite, "error": error}


def handle(redis, fencing, req):
    """Carries out one request; returns the reply."""
    rid, op = req.get("id"), req.get("op")
    key, holder = req.get("key"), req.get("holder")
    if op == "acquire":
        ttl = max(1, int(req["ttl_ms"]))
        if fencing:
            token = redis.call("EVAL", ACQUIRE_FENCED, 2, key, key + ":fence", holder, ttl)
            return ok(rid, token=token) if token is not None else refused(rid, "held", True)
        got = redis.call("SET", key, holder, "NX", "PX", ttl)
        return ok(rid) if got == "OK" else refused(rid, "held", True)
    if op == "release":
        done = redis.call("EVAL", RELEASE, 1, key, holder)
        return ok(rid) if done == 1 else refused(rid, "not-holder", True)
    if op == "renew":
        done = redis.call("EVAL", RENEW, 1, key, holder, max(1, int(req["ttl_ms"])))
        return ok(rid) if done == 1 else refused(rid, "not-holder", True)
    if op == "read":
        return ok(rid, value=int(redis.call("GET", key) or 0))
    if op == "cas":
        script = UNSAFE_CAS if UNSAFE else CAS
        done = redis.call("EVAL", script, 1, key, int(req["from"]), int(req["to"]))
        return ok(rid, value=done == 1)
    return refused(rid, "unsupported", True)


def main():
    addr = os.environ.get("SPLITBRAIN_REDIS")
    if not addr:
        print("lock.py: SPLITBRAIN_REDIS is not set; run with --plugin-servers redis",
              file=sys.stderr)
        return 2
    # Answer well inside the agent's bound: our own answer is more precise than its
    # timeout.
    bound_ms = int(os.environ.get("SPLITBRAIN_OP_TIMEOUT_MS", "1000"))
    redis = Redis(addr.split(",")[0], timeout_s=max(0.05, bound_ms * 0.7 / 1000))
    fencing = os.environ.get("SPLITBRAIN_FENCING") == "on"
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
        except ValueError as e:
            print(f"lock.py: bad request {line!r}: {e}", file=sys.stderr)
            continue
        try:
            reply = handle(redis, fencing, req)
        except NotSent as e:
            reply = refused(req.get("id"), str(e), True)
        except RedisError as e:
            # READONLY, LOADING, ...: Redis refused the command without running it.
            reply = refused(req.get("id"), f"redis refused: {e}", True)
        except socket.timeout:
            reply = refused(req.get("id"), f"timeout after {int(redis.timeout_s * 1000)} ms",
                            False)
        except Exception as e:  # reset, closed, bad reply: may have taken effect
            reply = refused(req.get("id"), f"{type(e).__name__}: {e}", False)
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
