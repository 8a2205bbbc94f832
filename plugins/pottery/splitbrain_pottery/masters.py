"""The Redis masters, and what each one did in one operation.

pottery's Redlock asks every master in parallel and keeps only a count of the yeses: a
master that timed out and one that answered "no" look the same to it, and it returns a
bare False (its errors go to its log). Whether a refusal is definite depends on exactly
that difference: a timed-out write may have been applied. So each operation runs on
clients that record, per master, how its write ended; they share the masters'
connection pools, and a new set is made for every operation, so that a call pottery left
running in the background (it returns as soon as it has a quorum) records into the
operation that made it, not into a later one.
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass, field
from typing import Any, Optional

import redis
from redis.backoff import NoBackoff
from redis.exceptions import ResponseError
from redis.retry import Retry


class NotSent(redis.exceptions.ConnectionError):
    """The connection could not be made: nothing of the command was sent."""


class ConnectionMarkingUnsent(redis.Connection):
    """A connection whose failures to connect say that nothing was sent (redis-py raises
    the same ConnectionError for a refused connect and for a reset mid-reply)."""

    def connect(self) -> None:
        try:
            super().connect()
        except redis.exceptions.RedisError as e:
            raise NotSent(f"connecting: {e}") from e


class Outcome(enum.Enum):
    APPLIED = "applied"  # the master did it (SET answered OK, a script answered 1)
    REFUSED = "refused"  # the master answered no (the key is another's, or gone)
    REJECTED = "rejected"  # an error reply (NOSCRIPT, READONLY, OOM...): not executed
    UNSENT = "unsent"  # no connection: nothing sent
    UNKNOWN = "unknown"  # timeout or reset after sending: it may have been done


def outcome_of(result: Any = None, error: Optional[BaseException] = None) -> Outcome:
    if error is None:
        return Outcome.APPLIED if result else Outcome.REFUSED
    if isinstance(error, NotSent):
        return Outcome.UNSENT
    if isinstance(error, ResponseError):
        return Outcome.REJECTED
    return Outcome.UNKNOWN


@dataclass
class Ledger:
    """Per master, how the last of the deciding commands ended, and its error if any."""

    commands: tuple[str, ...]
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, master: str, command: str, outcome: Outcome, error: Optional[BaseException]) -> None:
        if command.upper() not in self.commands:
            return
        with self.lock:
            self.outcomes[master] = outcome
            if error is None:
                self.errors.pop(master, None)
            else:
                self.errors[master] = f"{command.upper()} {type(error).__name__}: {error}"

    def tally(self, masters: list[str]) -> "Tally":
        """The outcomes of `masters`; one with no record counts as unknown."""
        with self.lock:
            seen = [self.outcomes.get(m, Outcome.UNKNOWN) for m in masters]
            errors = dict(self.errors)
        return Tally(
            applied=seen.count(Outcome.APPLIED),
            refused=seen.count(Outcome.REFUSED),
            rejected=seen.count(Outcome.REJECTED),
            unsent=seen.count(Outcome.UNSENT),
            unknown=seen.count(Outcome.UNKNOWN),
            errors=errors,
        )


@dataclass(frozen=True)
class Tally:
    applied: int
    refused: int
    rejected: int
    unsent: int
    unknown: int
    errors: dict[str, str]

    @property
    def masters(self) -> int:
        return self.applied + self.refused + self.rejected + self.unsent + self.unknown

    @property
    def quorum(self) -> int:
        return self.masters // 2 + 1

    def may_have_taken_effect(self) -> bool:
        """Whether a quorum of masters may have done it: those that did, and those whose
        answer never came."""
        return self.applied + self.unknown >= self.quorum

    def refused_by_quorum(self) -> bool:
        """Whether a quorum answered no: the lock is another's (or, for our own value,
        gone)."""
        return self.refused >= self.quorum

    def summary(self) -> str:
        parts = [f"{self.applied} applied", f"{self.refused} refused"]
        if self.rejected:
            parts.append(f"{self.rejected} error replies")
        if self.unsent:
            parts.append(f"{self.unsent} unreachable")
        if self.unknown:
            parts.append(f"{self.unknown} unanswered")
        text = f"{', '.join(parts)} of {self.masters} masters"
        if self.errors:
            text += " (" + "; ".join(f"{m}: {e}" for m, e in sorted(self.errors.items())) + ")"
        return text


class RecordingRedis(redis.Redis):
    """A client on a master's pool that records each command's outcome in a ledger."""

    def __init__(self, pool: redis.ConnectionPool, name: str, ledger: Ledger):
        super().__init__(connection_pool=pool)
        self.master_name = name
        self.ledger = ledger

    def execute_command(self, *args: Any, **options: Any) -> Any:
        command = str(args[0])
        try:
            result = super().execute_command(*args, **options)
        except redis.exceptions.RedisError as e:
            self.ledger.record(self.master_name, command, outcome_of(error=e), e)
            raise
        self.ledger.record(self.master_name, command, outcome_of(result), None)
        return result


@dataclass(frozen=True)
class Master:
    name: str  # host:port
    pool: redis.ConnectionPool


def make_master(host: str, port: int, timeout_s: float) -> Master:
    """A master's pool: connect and socket timeouts of `timeout_s`, no retries (a
    retried SET NX after a lost reply would find our own key and answer no)."""
    pool = redis.ConnectionPool(
        connection_class=ConnectionMarkingUnsent,
        host=host,
        port=port,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry_on_timeout=False,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )
    return Master(f"{host}:{port}", pool)


def recording_clients(masters: list[Master], ledger: Ledger) -> frozenset:
    return frozenset(RecordingRedis(m.pool, m.name, ledger) for m in masters)
