"""pottery's Redlock behind the protocol: one `pottery.Redlock` per grant over the run's
independent Redis primaries (see README.md)."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from pottery import Redlock
from pottery.exceptions import ExtendUnlockedLock, ReleaseUnlockedLock, TooManyExtensions
from splitbrain_plugin.protocol import HELD, NOT_HOLDER, Budget, Request, now, ok, refusal

from .calls import Finished, call_by
from .masters import Ledger, Master, Tally, recording_clients

log = logging.getLogger("splitbrain-pottery")

# The commands whose outcome decides each operation: the acquire's SET NX PX, the
# scripts (EVALSHA, EVAL after NOSCRIPT) that extend or release.
ACQUIRE_COMMANDS = ("SET",)
SCRIPT_COMMANDS = ("EVALSHA", "EVAL")

# pottery allows 3 extensions of a Redlock by default (TooManyExtensions after). The
# agent decides how long a holder keeps renewing; the cap is lifted so that renew
# answers for the lock's state, not for a count.
UNLIMITED_EXTENSIONS = sys.maxsize

# An acquire is at most: connect and SET on every master at once, then, when it failed,
# connect and release on every master at once: four socket timeouts end to end. A fifth
# of the answer's time is one socket timeout, which leaves one for the slack.
SOCKET_TIMEOUTS_PER_REQUEST = 5

MAX_KEY_CHARS = 512


def check_key(key: str) -> str:
    if not key:
        return "is empty"
    if len(key) > MAX_KEY_CHARS:
        return f"is longer than {MAX_KEY_CHARS} characters"
    return ""


def socket_timeout_s(budget: Budget) -> float:
    """Each Redis connect and reply is bounded by this, so that pottery's answer, four
    of them at worst, comes before the plug-in's own."""
    return max(0.005, (budget.op_timeout_s - budget.margin_s) / SOCKET_TIMEOUTS_PER_REQUEST)


@dataclass
class Config:
    """The masters, the time budget, and how to make one call's recording clients."""

    masters: list[Master]
    budget: Budget
    make_clients: Callable[[list[Master], Ledger], frozenset] = recording_clients


@dataclass
class Grant:
    key: str
    holder: str
    redlock: Redlock


@dataclass
class PotteryPlugin:
    config: Config
    grants: dict[str, Grant] = field(default_factory=dict)

    @property
    def master_names(self) -> list[str]:
        return [m.name for m in self.config.masters]

    def handle(self, request: Request, start: float) -> dict:
        if request.op == "acquire":
            return self.acquire(request, start)
        if request.op == "renew":
            return self.renew(request, start)
        return self.release(request, start)

    def _run(self, redlock: Redlock, commands: tuple[str, ...], fn: Callable[[], Any],
             start: float) -> tuple[Optional[Finished], Tally]:
        """Runs one pottery call on masters that record into a fresh ledger."""
        ledger = Ledger(commands)
        redlock.masters = self.config.make_clients(self.config.masters, ledger)
        finished = call_by(self.config.budget.answer_by(start), fn, "pottery")
        return finished, ledger.tally(self.master_names)

    def acquire(self, req: Request, start: float) -> dict:
        # An acquire comes only from a client that holds nothing: other grants here are
        # the agent's retired clients'. Their keys expire by their TTL; forget them.
        self.grants = {h: g for h, g in self.grants.items() if h == req.holder}
        if req.holder in self.grants:
            return refusal(req.id, True, "bad request: holder already holds this lock")
        # (Each call gets recording clients; these only stand in until the first.)
        redlock = Redlock(key=req.key, masters=self.config.make_clients(self.config.masters, Ledger(())),
                          auto_release_time=req.ttl_ms / 1000, num_extensions=UNLIMITED_EXTENSIONS)
        finished, tally = self._run(redlock, ACQUIRE_COMMANDS, lambda: redlock.acquire(blocking=False), start)
        if finished is not None and not finished.failed and finished.value:
            self.grants[req.holder] = Grant(req.key, req.holder, redlock)
            return ok(req.id)
        return self._acquire_refused(req, finished, tally)

    def _acquire_refused(self, req: Request, finished: Optional[Finished], tally: Tally) -> dict:
        if finished is None:
            return self._unknown(req, f"timeout: pottery unanswered ({tally.summary()})")
        if finished.failed:
            return self._unknown(req, f"{type(finished.error).__name__}: {finished.error} ({tally.summary()})")
        if tally.may_have_taken_effect():
            # A quorum may hold our value: answers lost, or the grant came too late to
            # be valid (pottery then releases it, which may not have reached them all).
            return self._unknown(req, f"no quorum confirmed, but one may exist: {tally.summary()}")
        if tally.refused_by_quorum():
            return refusal(req.id, True, HELD, _detail(tally))
        return refusal(req.id, True, "no quorum", tally.summary())

    def renew(self, req: Request, start: float) -> dict:
        grant = self.grants.get(req.holder)
        if grant is None or grant.key != req.key:
            return refusal(req.id, True, NOT_HOLDER, "no grant for this holder")
        if req.ttl_ms is not None:
            grant.redlock.auto_release_time = req.ttl_ms / 1000
        finished, tally = self._run(grant.redlock, SCRIPT_COMMANDS, grant.redlock.extend, start)
        if finished is not None and not finished.failed:
            return ok(req.id)
        if finished is not None and isinstance(finished.error, TooManyExtensions):
            return refusal(req.id, True, "too many extensions",
                           f"pottery allows {grant.redlock.num_extensions}; nothing sent")
        if finished is not None and isinstance(finished.error, ExtendUnlockedLock) \
                and not tally.may_have_taken_effect():
            return self._not_done(req, tally)
        return self._unknown(req, _failure(finished, tally))

    def release(self, req: Request, start: float) -> dict:
        grant = self.grants.pop(req.holder, None)
        if grant is None or grant.key != req.key:
            return refusal(req.id, True, NOT_HOLDER, "no grant for this holder")
        finished, tally = self._run(grant.redlock, SCRIPT_COMMANDS, grant.redlock.release, start)
        if finished is not None and not finished.failed:
            return ok(req.id)
        if finished is not None and isinstance(finished.error, ReleaseUnlockedLock) \
                and not tally.may_have_taken_effect():
            return self._not_done(req, tally)
        return self._unknown(req, _failure(finished, tally))

    def _not_done(self, req: Request, tally: Tally) -> dict:
        """A renew or release that certainly took no effect on a quorum: `not-holder`
        when a quorum said our value is not there, else the errors that stopped it. The
        grant is over either way: an extend that failed leaves the lease to run out."""
        self.grants.pop(req.holder, None)
        if tally.refused_by_quorum():
            return refusal(req.id, True, NOT_HOLDER, tally.summary())
        return refusal(req.id, True, "no quorum", tally.summary())

    def _unknown(self, req: Request, error: str) -> dict:
        log.warning("%s %s by %s: %s", req.op, req.key, req.holder, error)
        return refusal(req.id, False, error)


def _detail(tally: Tally) -> Optional[str]:
    """The tally, when anything but plain refusals happened."""
    return tally.summary() if tally.refused != tally.masters else None


def _failure(finished: Optional[Finished], tally: Tally) -> str:
    if finished is None:
        return f"timeout: pottery unanswered ({tally.summary()})"
    return f"{type(finished.error).__name__}: {tally.summary()}"
