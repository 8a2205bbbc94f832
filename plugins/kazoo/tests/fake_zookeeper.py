"""An in-memory ZooKeeper ensemble and a client with the part of KazooClient's
interface that kazoo's Lock recipe and the plug-in use, with faults to inject. The
recipe under test is kazoo's real `kazoo.recipe.lock.Lock`."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from typing import Callable, Optional

from kazoo.exceptions import NoNodeError, NodeExistsError, SessionExpiredError
from kazoo.handlers.threading import SequentialThreadingHandler
from kazoo.protocol.states import KazooState, ZnodeStat
from kazoo.recipe.lock import Lock


@dataclass
class Znode:
    data: bytes
    czxid: int
    owner: int  # ephemeralOwner: the session id, 0 for a persistent node


class Ensemble:
    """The znodes, shared by every client, and the transaction counter."""

    def __init__(self) -> None:
        self.nodes: dict[str, Znode] = {}
        self.zxid = itertools.count(100)
        self.sequences: dict[str, itertools.count] = {}
        self.session_ids = itertools.count(0x1000)
        self.lock = threading.Lock()

    def children(self, path: str) -> list[str]:
        prefix = path.rstrip("/") + "/"
        return sorted(p[len(prefix):] for p in self.nodes if p.startswith(prefix) and "/" not in p[len(prefix):])

    def expire(self, session_id: int) -> None:
        with self.lock:
            for path in [p for p, n in self.nodes.items() if n.owner == session_id]:
                del self.nodes[path]


def stat(node: Znode) -> ZnodeStat:
    return ZnodeStat(node.czxid, node.czxid, 0, 0, 0, 0, 0, node.owner, len(node.data), 0, node.czxid)


class FakeClient:
    """A connected client with one session. `faults` maps a method name to a function
    called before the method runs; it may raise, block or let the call go on."""

    def __init__(self, ensemble: Ensemble, connected: bool = True):
        self.ensemble = ensemble
        self.handler = SequentialThreadingHandler()
        self.session = next(ensemble.session_ids)
        self.connected = connected
        self.listeners: list[Callable[[str], object]] = []
        self.faults: dict[str, Callable[[], None]] = {}
        self.expired = False
        self.stopped = threading.Event()
        self.calls: list[str] = []

    # --- lifecycle -----------------------------------------------------------------

    def add_listener(self, fn: Callable[[str], object]) -> None:
        self.listeners.append(fn)

    def remove_listener(self, fn: Callable[[str], object]) -> None:
        if fn in self.listeners:
            self.listeners.remove(fn)

    def start_async(self) -> threading.Event:
        live = threading.Event()
        if self.connected:
            live.set()
        return live

    def stop(self) -> None:
        self.stopped.set()
        self.ensemble.expire(self.session)

    def close(self) -> None:
        pass

    @property
    def client_id(self) -> Optional[tuple[int, bytes]]:
        return (self.session, b"") if self.connected and not self.expired else None

    def change_state(self, state: str) -> None:
        for fn in list(self.listeners):
            fn(state)

    def expire_session(self) -> None:
        self.expired = True
        self.ensemble.expire(self.session)
        self.change_state(KazooState.LOST)

    # --- the recipe's calls ---------------------------------------------------------

    def Lock(self, path: str, identifier: str) -> Lock:
        return Lock(self, path, identifier)

    def retry(self, fn, *args, **kwargs):
        return fn(*args, **kwargs)

    def _enter(self, name: str) -> None:
        self.calls.append(name)
        fault = self.faults.get(name)
        if fault is not None:
            fault()
        if self.expired:
            raise SessionExpiredError()

    def ensure_path(self, path: str) -> bool:
        self._enter("ensure_path")
        with self.ensemble.lock:
            parts = [p for p in path.split("/") if p]
            for i in range(1, len(parts) + 1):
                sub = "/" + "/".join(parts[:i])
                if sub not in self.ensemble.nodes:
                    self.ensemble.nodes[sub] = Znode(b"", next(self.ensemble.zxid), 0)
        return True

    def create(self, path: str, value: bytes = b"", ephemeral: bool = False, sequence: bool = False) -> str:
        self._enter("create")
        with self.ensemble.lock:
            parent = path.rsplit("/", 1)[0]
            if parent not in self.ensemble.nodes:
                raise NoNodeError()
            if sequence:
                counter = self.ensemble.sequences.setdefault(parent, itertools.count())
                path = f"{path}{next(counter):010d}"
            if path in self.ensemble.nodes:
                raise NodeExistsError()
            owner = self.session if ephemeral else 0
            self.ensemble.nodes[path] = Znode(value, next(self.ensemble.zxid), owner)
        after = self.faults.get("after_create")
        if after is not None:
            after()
        return path

    def get_children(self, path: str) -> list[str]:
        self._enter("get_children")
        with self.ensemble.lock:
            if path not in self.ensemble.nodes:
                raise NoNodeError()
            return self.ensemble.children(path)

    def delete(self, path: str) -> bool:
        self._enter("delete")
        with self.ensemble.lock:
            if path not in self.ensemble.nodes:
                raise NoNodeError()
            del self.ensemble.nodes[path]
        return True

    def exists(self, path: str) -> Optional[ZnodeStat]:
        self._enter("exists")
        with self.ensemble.lock:
            node = self.ensemble.nodes.get(path)
            return stat(node) if node else None

    def get(self, path: str) -> tuple[bytes, ZnodeStat]:
        self._enter("get")
        with self.ensemble.lock:
            node = self.ensemble.nodes.get(path)
            if node is None:
                raise NoNodeError()
            return node.data, stat(node)


def fail_once(error: BaseException) -> Callable[[], None]:
    """A fault that raises `error` on the first call only."""
    state = {"fired": False}

    def fault() -> None:
        if not state["fired"]:
            state["fired"] = True
            raise error

    return fault


def fail_always(error: BaseException) -> Callable[[], None]:
    def fault() -> None:
        raise error

    return fault


def block_until(event: threading.Event) -> Callable[[], None]:
    """A fault that holds the call until `event` is set (a request queued while the
    connection is down)."""

    def fault() -> None:
        event.wait(10)

    return fault
