#!/usr/bin/env python3
"""A lock kept in the plug-in's own memory, for runs with one client (one agent, so one
copy of the plug-in): exclusive by construction. Two behaviours are switched on by
arguments, each a real plug-in's habit that splitbrain must report:

  --lose-after-ms N   N ms after a grant the plug-in drops it by itself and, when the
                      agent takes notices (SPLITBRAIN_EVENTS has "lost"), says so with a
                      lost notice, as Curator does on a LOST connection; a later release
                      or renew of that grant is refused as not-holder with a detail.
  --stuck-after-s S   S s after the plug-in started, every acquire is refused as held,
                      for the rest of the run: a lock that stopped granting.
"""

import json
import sys
import threading
import time


def option(name, default=None):
    args = sys.argv[1:]
    return float(args[args.index(name) + 1]) if name in args else default


LOSE_AFTER_S = (option("--lose-after-ms") or 0) / 1000
STUCK_AFTER_S = option("--stuck-after-s")
NOTICES = "lost" in __import__("os").environ.get("SPLITBRAIN_EVENTS", "").split(",")
STARTED = time.monotonic()

out = threading.Lock()  # one whole line at a time on stdout
state = threading.Lock()
holder = None
next_token = 1


def write(message):
    with out:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()


def lose_later(grant, key, token):
    time.sleep(LOSE_AFTER_S)
    global holder
    with state:
        if holder != grant:
            return
        holder = None
    if NOTICES:
        write({"event": "lost", "key": key, "holder": grant, "token": token,
               "detail": f"dropped {int(LOSE_AFTER_S * 1000)} ms after the grant"})


def acquire(request):
    global holder, next_token
    if STUCK_AFTER_S is not None and time.monotonic() - STARTED > STUCK_AFTER_S:
        return {"ok": False, "definite": True, "error": "held", "detail": "stuck on purpose"}
    with state:
        if holder is not None:
            return {"ok": False, "definite": True, "error": "held"}
        holder, token = request["holder"], next_token
        next_token += 1
    if LOSE_AFTER_S:
        threading.Thread(target=lose_later, args=(holder, request["key"], token), daemon=True).start()
    return {"ok": True, "token": token}


def release(request):
    global holder
    with state:
        if holder != request["holder"]:
            return {"ok": False, "definite": True, "error": "not-holder",
                    "detail": "the grant was dropped before the release"}
        holder = None
    return {"ok": True}


def renew(request):
    with state:
        if holder != request["holder"]:
            return {"ok": False, "definite": True, "error": "not-holder"}
    return {"ok": True}


OPS = {"acquire": acquire, "release": release, "renew": renew}

for line in sys.stdin:
    request = json.loads(line)
    handler = OPS.get(request.get("op"))
    reply = handler(request) if handler else {"ok": False, "definite": True, "error": "unsupported"}
    reply["id"] = request["id"]
    write(reply)
