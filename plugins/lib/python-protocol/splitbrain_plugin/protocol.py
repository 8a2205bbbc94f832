"""splitbrain's plug-in protocol (docs/plugins.md): one JSON request per line on stdin,
one JSON reply per line on stdout carrying the request's id, and, when the agent asks
for them (SPLITBRAIN_EVENTS=lost), unprompted lost-lock events.

This module knows nothing of any lock: it parses requests, encodes replies and events,
writes each line whole under one lock, and reads the environment every plug-in gets.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, BinaryIO, Callable, Optional

# Errors the agent understands.
HELD = "held"
NOT_HOLDER = "not-holder"
UNSUPPORTED = "unsupported"

LOCK_OPS = ("acquire", "renew", "release")

# The agent kills a plug-in that writes a line over 1 MiB; requests are far shorter.
MAX_LINE_BYTES = 1 << 20

# Keeps a ttl, and every duration derived from it, in range.
MAX_TTL_MS = (1 << 31) - 1

DEFAULT_OP_TIMEOUT_MS = 1000


@dataclass(frozen=True)
class Request:
    """One parsed request line. `id` is echoed verbatim (any JSON value round-trips)."""

    id: Any
    op: str
    key: str = ""
    holder: str = ""
    ttl_ms: Optional[int] = None


class BadRequest(Exception):
    """A request line that cannot be carried out. `id` is set when the line was a JSON
    object with an id, so that the refusal can be addressed to it."""

    def __init__(self, message: str, id: Any = None):
        super().__init__(message)
        self.id = id


def truncate(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n] + "..."


def parse_request(line: str, check_key: Callable[[str], str]) -> Request:
    """Decodes and checks one request line; check_key says what is wrong with a key for
    the lock system, or "". An unknown op parses (the answer is "unsupported"); a
    missing or ill-typed field an op needs does not."""
    try:
        fields = json.loads(line)
    except ValueError:
        raise BadRequest(f"bad request: not JSON: {truncate(line, 200)!r}")
    if not isinstance(fields, dict):
        raise BadRequest(f"bad request: not a JSON object: {truncate(line, 200)!r}")
    if fields.get("id") is None:
        raise BadRequest("bad request: no id")
    rid = fields["id"]

    def bad(message: str) -> BadRequest:
        return BadRequest("bad request: " + message, rid)

    op = fields.get("op")
    if not isinstance(op, str):
        raise bad("op is missing or not a string")
    if op not in LOCK_OPS:
        return Request(id=rid, op=op)
    key = fields.get("key")
    if not isinstance(key, str):
        raise bad("key is missing or not a string")
    problem = check_key(key)
    if problem:
        raise bad(f"key {truncate(key, 40)!r} {problem}")
    holder = fields.get("holder")
    if not isinstance(holder, str) or not holder:
        raise bad("holder is missing, empty or not a string")
    ttl_ms = fields.get("ttl_ms")
    if op == "acquire" or ttl_ms is not None:
        ttl_ms = _parse_ttl(fields, bad)
    return Request(id=rid, op=op, key=key, holder=holder, ttl_ms=ttl_ms)


def _parse_ttl(fields: dict, bad: Callable[[str], BadRequest]) -> int:
    if "ttl_ms" not in fields:
        raise bad(f"{fields['op']} without ttl_ms")
    ttl = fields["ttl_ms"]
    # bool is an int in Python; a JSON true is no ttl.
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)):
        raise bad(f"ttl_ms is not a number: {truncate(json.dumps(ttl), 40)}")
    if isinstance(ttl, float) and not (math.isfinite(ttl) and ttl.is_integer()):
        raise bad(f"ttl_ms must be a whole number of milliseconds, got {ttl}")
    ttl = int(ttl)
    if not 1 <= ttl <= MAX_TTL_MS:
        raise bad(f"ttl_ms must be from 1 to {MAX_TTL_MS}, got {ttl}")
    return ttl


def ok(rid: Any, token: Optional[int] = None) -> dict:
    """A success; the token is left out when there is none (or the run wants none)."""
    reply = {"id": rid, "ok": True}
    if token is not None:
        reply["token"] = token
    return reply


def refusal(rid: Any, definite: bool, error: str, detail: Optional[str] = None) -> dict:
    """A failure; definite when the operation certainly did not take effect."""
    reply = {"id": rid, "ok": False, "definite": definite, "error": error}
    if detail:
        reply["detail"] = detail
    return reply


def lost_event(key: str, holder: str, token: Optional[int], detail: str) -> dict:
    """The unprompted line saying a grant is no longer held."""
    return {"event": "lost", "key": key, "holder": holder, "token": token, "detail": detail}


def encode(message: dict) -> bytes:
    """One line, newline included. json.dumps escapes newlines inside strings, so the
    line never holds one of its own."""
    return (json.dumps(message, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


class LineWriter:
    """Writes replies and events to the agent, each line whole, one at a time: events
    come from the lock client's own threads while a request may be in flight."""

    def __init__(self, out: BinaryIO):
        self._out = out
        self._lock = threading.Lock()

    def write(self, message: dict) -> None:
        line = encode(message)
        with self._lock:
            self._out.write(line)
            self._out.flush()


class LineTooLong(Exception):
    """A request line over the limit; it was consumed whole."""


def read_line(stream: BinaryIO, limit: int = MAX_LINE_BYTES) -> Optional[bytes]:
    """The next line without its line end and surrounding blanks, None at the end of
    input. Raises LineTooLong for a line over `limit` bytes, after consuming it."""
    line = stream.readline(limit + 2)
    if not line:
        return None
    if not line.endswith(b"\n") and len(line) > limit:
        while line and not line.endswith(b"\n"):
            line = stream.readline(64 << 10)
        raise LineTooLong(f"bad request: a line longer than {limit} bytes, skipped")
    return line.strip(b" \t\r\n")


# --- the environment -------------------------------------------------------------


def events_wanted(env: dict = os.environ) -> bool:
    """Whether the agent reads lost-lock events (SPLITBRAIN_EVENTS lists `lost`)."""
    return "lost" in [e.strip() for e in env.get("SPLITBRAIN_EVENTS", "").split(",")]


def fencing_wanted(env: dict = os.environ) -> bool:
    return env.get("SPLITBRAIN_FENCING") == "on"


def op_timeout_ms(env: dict = os.environ) -> int:
    """SPLITBRAIN_OP_TIMEOUT_MS, the agent's bound on one request."""
    raw = env.get("SPLITBRAIN_OP_TIMEOUT_MS", "").strip()
    if not raw:
        return DEFAULT_OP_TIMEOUT_MS
    try:
        ms = int(raw)
    except ValueError:
        ms = 0
    if not 1 <= ms <= MAX_TTL_MS:
        raise ValueError(f"SPLITBRAIN_OP_TIMEOUT_MS={raw!r} is not a positive number of milliseconds")
    return ms


def parse_servers(name: str, value: Optional[str]) -> list[tuple[str, int]]:
    """A list of host:port, comma-separated, as the runner sets SPLITBRAIN_<SYSTEM>."""
    if not value or not value.strip():
        raise ValueError(f"{name} is not set: it must list host:port,host:port,...")
    servers = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{name}={value!r}: {item!r} is not host:port")
        servers.append((host, int(port)))
    if not servers:
        raise ValueError(f"{name}={value!r} names no server")
    return servers


# --- the time budget of one request ------------------------------------------------


@dataclass(frozen=True)
class Budget:
    """How a request's time is split. The answer must leave `margin` before the agent
    gives up; the main step must end `reserve` before that, so that a step whose outcome
    is unknown can still be settled in time."""

    op_timeout_s: float
    margin_s: float
    reserve_s: float

    @classmethod
    def for_timeout(cls, op_timeout_ms: int, reserve_fraction: float) -> "Budget":
        timeout = op_timeout_ms / 1000
        margin = min(max(timeout / 10, 0.010), 0.250, timeout / 2)
        return cls(timeout, margin, (timeout - margin) * reserve_fraction)

    def answer_by(self, start: float) -> float:
        return start + self.op_timeout_s - self.margin_s

    def step_by(self, start: float) -> float:
        return self.answer_by(start) - self.reserve_s


def now() -> float:
    return time.monotonic()


# --- the loop --------------------------------------------------------------------


def serve(
    stdin: BinaryIO,
    writer: LineWriter,
    check_key: Callable[[str], str],
    handle: Callable[[Request, float], dict],
    log: Callable[[str], None],
) -> None:
    """Answers requests until stdin closes, one at a time; handle gets each request and
    the monotonic time it was read. Bad lines are answered (when they carry an id) or
    logged, and skipped."""
    while True:
        try:
            raw = read_line(stdin)
        except LineTooLong as e:
            log(str(e))
            continue
        if raw is None:
            return
        if not raw:
            continue
        reply = answer(raw, now(), check_key, handle, log)
        if reply is not None:
            writer.write(reply)


def answer(
    raw: bytes,
    start: float,
    check_key: Callable[[str], str],
    handle: Callable[[Request, float], dict],
    log: Callable[[str], None],
) -> Optional[dict]:
    """The reply to one raw line, or None for a line that cannot be answered."""
    try:
        request = parse_request(raw.decode("utf-8", errors="replace"), check_key)
    except BadRequest as e:
        log(str(e))
        return None if e.id is None else refusal(e.id, True, str(e))
    if request.op not in LOCK_OPS:
        return refusal(request.id, True, UNSUPPORTED, f"no op {truncate(request.op, 40)!r}")
    return handle(request, start)
