"""The kazoo lock behind the protocol: one `kazoo.recipe.lock.Lock` per grant on one
ZooKeeper session per plug-in process (see README.md)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from kazoo.exceptions import NoNodeError, SessionExpiredError
from kazoo.protocol.states import KazooState
from splitbrain_plugin import protocol
from splitbrain_plugin.protocol import HELD, NOT_HOLDER, Budget, Request, now, ok, refusal

from .calls import Finished, call_by

log = logging.getLogger("splitbrain-kazoo")

# Where the locks live: lock K is the recipe's directory LOCK_ROOT/K.
LOCK_ROOT = "/splitbrain/kazoo"

# ZooKeeper grants a session timeout from 2 to 20 ticks; the runner's ensemble has
# tickTime=500, so 1 to 10 s. A ttl outside is clamped here, as the server would.
SESSION_MIN_MS = 1000
SESSION_MAX_MS = 10_000

# A quarter of a request's time is kept for settling an acquire that did not end
# cleanly (listing and deleting a contender node it may have left).
RESERVE_FRACTION = 0.25

MAX_KEY_CHARS = 256


def check_key(key: str) -> str:
    """What is wrong with a lock key, or "": K becomes one znode name under LOCK_ROOT."""
    if not key:
        return "is empty"
    if len(key) > MAX_KEY_CHARS:
        return f"is longer than {MAX_KEY_CHARS} characters"
    if "/" in key:
        return 'contains "/" (one lock\'s directory would hold another lock)'
    if key in (".", ".."):
        return "is not a znode name"
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in key):
        return "contains a control character"
    return ""


def session_timeout_ms(ttl_ms: int) -> int:
    """The session timeout for a ttl, within what the ensemble grants."""
    return min(max(ttl_ms, SESSION_MIN_MS), SESSION_MAX_MS)


def lock_path(key: str) -> str:
    return f"{LOCK_ROOT}/{key}"


def describe(error: BaseException) -> str:
    """An exception as text for a reply: kazoo's exceptions often carry no message."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


@dataclass
class Session:
    """One KazooClient and the session it keeps; dropped sessions are never reused.
    `live` is the event start_async returned: set while connected."""

    client: Any
    timeout_ms: int
    live: Any = None
    dropped: bool = False

    def start(self) -> None:
        self.live = self.client.start_async()

    def session_id(self) -> Optional[int]:
        """The live session's id, None while disconnected."""
        client_id = self.client.client_id
        return client_id[0] if client_id else None

    def wait_connected(self, deadline: float) -> bool:
        """Whether the client is connected by `deadline`."""
        if not self.client.connected and self.live is not None:
            self.live.wait(max(0.0, deadline - now()))
        return bool(self.client.connected)

    def drop(self) -> None:
        """Closes the session in the background: its ephemeral nodes, and with them
        every lock node it may own, go when the close reaches the ensemble, or when the
        session expires if it never does."""
        if self.dropped:
            return
        self.dropped = True
        client = self.client

        def close() -> None:
            try:
                client.stop()
                client.close()
            except Exception as e:  # the session expires on its own then
                log.warning("closing a dropped session: %s", describe(e))

        threading.Thread(target=close, name="drop-session", daemon=True).start()


@dataclass
class Grant:
    """A granted lock: its Lock object, its node, the session that owns the node."""

    key: str
    holder: str
    lock: Any
    node_path: str
    session: Session
    owner_session_id: int
    czxid: int
    lost: bool = False


@dataclass
class Config:
    hosts: str
    fencing: bool
    events: bool
    budget: Budget


@dataclass
class KazooPlugin:
    """Answers the protocol's requests with kazoo's Lock recipe.

    `make_client(hosts, timeout_s)` returns an unstarted KazooClient; `emit(message)`
    writes an unprompted line (a lost event) through the writer that serialises replies.
    """

    config: Config
    make_client: Callable[[str, float], Any]
    emit: Callable[[dict], None]
    session: Optional[Session] = None
    grants: dict[str, Grant] = field(default_factory=dict)
    guard: threading.Lock = field(default_factory=threading.Lock)

    # --- requests -------------------------------------------------------------------

    def handle(self, request: Request, start: float) -> dict:
        if request.op == "acquire":
            return self.acquire(request, start)
        if request.op == "renew":
            return self.renew(request, start)
        return self.release(request, start)

    def acquire(self, req: Request, start: float) -> dict:
        budget = self.config.budget
        step_by, answer_by = budget.step_by(start), budget.answer_by(start)
        if req.holder in self.grants:
            return refusal(req.id, True, "bad request: holder already holds this lock")
        self._forget_abandoned_grants()
        session = self._session_for(req.ttl_ms)
        if not session.wait_connected(step_by):
            return refusal(req.id, True, "zookeeper unreachable",
                           f"no connection to {self.config.hosts} within {_ms(step_by - start)} ms; nothing sent")
        lock = session.client.Lock(lock_path(req.key), req.holder)
        tried = call_by(step_by, lambda: lock.acquire(blocking=False), "acquire")
        if tried is None:
            lock.cancel()
            return self._unknown(req, session, f"timeout: acquire unanswered after {_ms(now() - start)} ms")
        if not tried.failed and tried.value:
            return self._granted(req, session, lock, answer_by)
        return self._refused(req, session, lock, tried, answer_by)

    def _granted(self, req: Request, session: Session, lock: Any, answer_by: float) -> dict:
        """The Lock says it is ours: read the node for its czxid and owning session."""
        node_path = f"{lock.path}/{lock.node}"
        read = call_by(answer_by, lambda: session.client.exists(node_path), "token")
        if read is None or read.failed or read.value is None:
            why = "timeout" if read is None else describe(read.error) if read.failed else "lock node gone"
            return self._unknown(req, session, f"granted, then reading {node_path} failed: {why}")
        stat = read.value
        grant = Grant(req.key, req.holder, lock, node_path, session, stat.ephemeralOwner, stat.czxid)
        with self.guard:
            self.grants[req.holder] = grant
        log.info("granted %s to %s: node %s czxid %d", req.key, req.holder, node_path, stat.czxid)
        return ok(req.id, stat.czxid if self.config.fencing else None)

    def _refused(self, req: Request, session: Session, lock: Any, tried: Finished,
                 answer_by: float) -> dict:
        """The Lock said no, or raised: definite only once no contender node of ours is
        left under the lock, which could become the owner when the holder leaves."""
        settled = call_by(answer_by, lambda: remove_contender_nodes(session.client, lock), "settle")
        if settled is None or settled.failed:
            why = "timeout" if settled is None else describe(settled.error)
            what = describe(tried.error) if tried.failed else "held"
            return self._unknown(req, session, f"acquire {what}; removing our contender node failed: {why}")
        if settled.value:
            log.warning("acquire by %s left contender node(s) %s behind; deleted", req.holder, settled.value)
        if tried.failed:
            return refusal(req.id, True, describe(tried.error), "no lock node of ours remains")
        return refusal(req.id, True, HELD)

    def renew(self, req: Request, start: float) -> dict:
        grant, refused = self._live_grant(req)
        if refused:
            return refused
        return self._still_owned(req, grant, start) or ok(req.id)

    def _still_owned(self, req: Request, grant: Grant, start: float) -> Optional[dict]:
        """None when the grant's lock node still exists and belongs to its session, else
        the reply: not-holder when it is gone or another's, indeterminate when the read
        could not tell. A session the client has not yet learned is expired shows here:
        the ensemble has already deleted its node. What the read taught the client about
        its grant is also said as a lost notice, since kazoo's own connection thread may
        learn it only later, or never once the session is dropped."""
        answer_by = self.config.budget.answer_by(start)
        read = call_by(answer_by, lambda: grant.session.client.get(grant.node_path), req.op)
        if read is None:
            return self._unknown(req, grant.session, f"timeout: reading {grant.node_path} unanswered")
        if isinstance(read.error, NoNodeError):
            self._lose(grant, "lock node gone")
            return refusal(req.id, True, NOT_HOLDER, "lock node gone")
        if isinstance(read.error, SessionExpiredError):
            # The ensemble ended the session (or the plug-in closed it): its ephemeral
            # lock node is gone with it.
            why = f"zookeeper session ended ({describe(read.error)})"
            self._lose(grant, why)
            return refusal(req.id, True, NOT_HOLDER, why)
        if read.failed:
            why = f"reading {grant.node_path}: {describe(read.error)}"
            self._report_lost(grant, f"kazoo connection lost: {why}")
            return self._unknown(req, grant.session, why)
        data, stat = read.value
        if stat.ephemeralOwner != grant.owner_session_id or data != req.holder.encode():
            self._lose(grant, "lock node belongs to another session")
            return refusal(req.id, True, NOT_HOLDER, "lock node belongs to another session")
        return None

    def release(self, req: Request, start: float) -> dict:
        grant, refused = self._live_grant(req)
        if refused:
            return refused
        # kazoo's Lock.release() answers True even when the session expired and its
        # node is gone: a holder that lost the lock would be told it released it.
        refused = self._still_owned(req, grant, start)
        if refused:
            return refused
        self._discard(grant)
        answer_by = self.config.budget.answer_by(start)
        released = call_by(answer_by, grant.lock.release, "release")
        if released is None:
            return self._unknown(req, grant.session, f"timeout: release unanswered after {_ms(now() - start)} ms")
        if released.failed:
            return self._unknown(req, grant.session, f"release: {describe(released.error)}")
        if not released.value:
            return refusal(req.id, True, NOT_HOLDER, "the Lock object was not acquired")
        return ok(req.id)

    # --- grants and sessions --------------------------------------------------------

    def _live_grant(self, req: Request) -> tuple[Optional[Grant], Optional[dict]]:
        """The holder's grant, or the definite refusal when it has none in a live
        session (a session that expired or was dropped took its node with it)."""
        grant = self.grants.get(req.holder)
        if grant is None or grant.key != req.key:
            return None, refusal(req.id, True, NOT_HOLDER, "no grant for this holder")
        if grant.session is not self.session or grant.session.dropped:
            self._discard(grant)
            return None, refusal(req.id, True, NOT_HOLDER, "its zookeeper session was closed")
        current = grant.session.session_id()
        if current is not None and current != grant.owner_session_id:
            self._lose(grant, "its zookeeper session expired")
            return None, refusal(req.id, True, NOT_HOLDER, "its zookeeper session expired")
        return grant, None

    def _lose(self, grant: Grant, detail: str) -> None:
        """A grant its client found gone: said once, then forgotten."""
        self._report_lost(grant, detail)
        self._discard(grant)

    def _discard(self, grant: Grant) -> None:
        with self.guard:
            if self.grants.get(grant.holder) is grant:
                del self.grants[grant.holder]

    def _forget_abandoned_grants(self) -> None:
        """An acquire comes only from a client holding nothing: grants still open here
        belong to client processes the agent retired, and it counts on them lapsing. Only
        the session's end makes kazoo's nodes lapse, so that session is dropped."""
        with self.guard:
            abandoned = [g for g in self.grants.values() if not g.session.dropped]
            self.grants.clear()
        if not abandoned:
            return
        log.info("dropping the session: grants %s were abandoned by the agent",
                 ", ".join(g.holder for g in abandoned))
        for g in abandoned:
            g.session.drop()

    def _session_for(self, ttl_ms: int) -> Session:
        """The current session, or a new one whose timeout follows the ttl."""
        wanted = session_timeout_ms(ttl_ms)
        current = self.session
        if current is not None and not current.dropped:
            if current.timeout_ms == wanted:
                return current
            log.info("ttl %d ms asks for a %d ms session; replacing the %d ms one",
                     ttl_ms, wanted, current.timeout_ms)
            current.drop()
        client = self.make_client(self.config.hosts, wanted / 1000)
        session = Session(client, wanted)
        client.add_listener(lambda state: self._on_state(session, state))
        session.start()
        if wanted != ttl_ms:
            log.info("ttl %d ms: session timeout %d ms (ZooKeeper allows %d to %d ms here)",
                     ttl_ms, wanted, SESSION_MIN_MS, SESSION_MAX_MS)
        self.session = session
        return session

    def _unknown(self, req: Request, session: Session, error: str) -> dict:
        """An outcome nobody can know: the agent retires the client and expects whatever
        it may hold to lapse, so the session goes, and its nodes with it."""
        log.warning("%s %s by %s: %s; dropping the session", req.op, req.key, req.holder, error)
        session.drop()
        return refusal(req.id, False, error)

    # --- connection states (kazoo's own thread) -------------------------------------

    def _on_state(self, session: Session, state: str) -> None:
        if session.dropped or state not in (KazooState.SUSPENDED, KazooState.LOST):
            return
        detail = "kazoo connection SUSPENDED" if state == KazooState.SUSPENDED else "kazoo session LOST"
        with self.guard:
            grants = [g for g in self.grants.values() if g.session is session]
        for g in grants:
            self._report_lost(g, detail)

    def _report_lost(self, grant: Grant, detail: str) -> None:
        """Says, once per grant, that its client learned the grant may be gone: from a
        connection state (kazoo's thread) or from a request's read (the request's)."""
        with self.guard:
            if grant.lost:
                return
            grant.lost = True
        log.warning("%s: grant of %s on %s may be lost", detail, grant.holder, grant.key)
        if self.config.events:
            token = grant.czxid if self.config.fencing else None
            self.emit(protocol.lost_event(grant.key, grant.holder, token, detail))


def remove_contender_nodes(client: Any, lock: Any) -> list[str]:
    """Deletes every node of this Lock object (its names start with the Lock's own
    random prefix) under the lock's directory; returns the names it found."""
    try:
        children = client.get_children(lock.path)
    except NoNodeError:
        return []
    mine = [c for c in children if c.startswith(lock.prefix)]
    for name in mine:
        try:
            client.delete(f"{lock.path}/{name}")
        except NoNodeError:
            pass
    return mine


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))

