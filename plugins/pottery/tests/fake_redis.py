"""In-memory Redis masters for pottery's real Redlock, with faults to inject.

FakeMaster is the plug-in's RecordingRedis with only the network replaced: redis-py
builds the commands (SET ... PX ... NX, EVALSHA, SCRIPT LOAD), the recording layer
records them, and a small store answers them the way Redis would, running the three
Lua scripts pottery registers by what they do."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Optional

import redis
from redis.exceptions import NoScriptError, TimeoutError

from splitbrain_pottery.masters import Ledger, NotSent, RecordingRedis


@dataclass
class Store:
    """One master's keys (value, expiry on the monotonic clock) and loaded scripts."""

    keys: dict[str, tuple[str, float]] = field(default_factory=dict)
    scripts: dict[str, str] = field(default_factory=dict)
    # Faults: "down" (cannot connect), "timeout" (no answer, nothing done),
    # "timeout-after" (done, but the answer is lost).
    fault: Optional[str] = None

    def get(self, key: str) -> Optional[str]:
        entry = self.keys.get(key)
        if entry is None or entry[1] <= time.monotonic():
            self.keys.pop(key, None)
            return None
        return entry[0]

    def set(self, key: str, value: str, px: int) -> None:
        self.keys[key] = (value, time.monotonic() + px / 1000)

    def run(self, args: tuple) -> object:
        if self.fault == "down":
            raise NotSent("connecting: Error 111 connecting to fake. Connection refused.")
        if self.fault == "timeout":
            raise TimeoutError("Timeout reading from socket")
        result = self.execute(args)
        if self.fault == "timeout-after":
            raise TimeoutError("Timeout reading from socket")
        return result

    def execute(self, args: tuple) -> object:
        command = args[0].upper()
        if command == "SET":  # SET key value PX ms NX, as pottery sends it
            key, value = args[1], args[2]
            px = int(args[args.index("PX") + 1])
            if self.get(key) is not None:
                return None
            self.set(key, value, px)
            return True
        if command == "SCRIPT LOAD":
            sha = hashlib.sha1(args[1].encode()).hexdigest()
            self.scripts[sha] = args[1]
            return sha
        if command == "EVALSHA":
            sha, numkeys = args[1], int(args[2])
            if sha not in self.scripts:
                raise NoScriptError("NOSCRIPT No matching script. Please use EVAL.")
            keys, argv = args[3:3 + numkeys], args[3 + numkeys:]
            return self.script(self.scripts[sha], keys, argv)
        raise AssertionError(f"the fake does not know {args!r}")

    def script(self, text: str, keys: tuple, argv: tuple) -> int:
        key, ours = keys[0], self.get(keys[0]) == argv[0]
        if "pexpire" in text:
            if ours:
                self.set(key, argv[0], int(argv[1]))
            return int(ours)
        if "del" in text:
            if ours:
                del self.keys[key]
            return int(ours)
        if "pttl" in text:
            return int((self.keys[key][1] - time.monotonic()) * 1000) if ours else 0
        raise AssertionError(f"unknown script {text!r}")


class FakeMaster(RecordingRedis):
    """The plug-in's recording client, answered by a Store instead of a socket."""

    def __init__(self, name: str, store: Store, ledger: Ledger):
        super().__init__(redis.ConnectionPool(), name, ledger)
        self.store = store

    def _execute_command(self, *args, **options):
        return self.store.run(tuple(str(a) if not isinstance(a, str) else a for a in args))


def fake_masters(stores: dict[str, Store]):
    """A make_clients for the plug-in's Config: one FakeMaster per store."""

    def make_clients(masters, ledger: Ledger) -> frozenset:
        return frozenset(FakeMaster(name, store, ledger) for name, store in stores.items())

    return make_clients
