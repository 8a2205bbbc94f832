"""Calls bounded by a deadline: kazoo's synchronous calls wait as long as the client is
reconnecting (a request queued while the connection is down is sent when it is back),
so each one runs on its own thread and the plug-in waits for it only until its answer
is due."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Optional

from splitbrain_plugin.protocol import now


@dataclass(frozen=True)
class Finished:
    """How a call ended: its value, or the exception it raised."""

    value: Any = None
    error: Optional[BaseException] = None

    @property
    def failed(self) -> bool:
        return self.error is not None


def call_by(deadline: float, fn: Callable[[], Any], name: str = "call") -> Optional[Finished]:
    """Runs fn() on a thread of its own and returns how it ended, or None when it is
    still running at `deadline` (monotonic seconds); it then goes on in the background
    and its outcome is dropped."""
    outcome: list[Finished] = []
    done = threading.Event()

    def run() -> None:
        try:
            outcome.append(Finished(value=fn()))
        except BaseException as e:  # reported to the caller, which classifies it
            outcome.append(Finished(error=e))
        finally:
            done.set()

    threading.Thread(target=run, name=name, daemon=True).start()
    if done.wait(max(0.0, deadline - now())):
        return outcome[0]
    return None
