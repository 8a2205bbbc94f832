#!/usr/bin/env python3
"""A plug-in that is not a lock: it grants every acquire at once, to everyone.

With `--tokens` each grant carries an increasing fencing token (the nanosecond clock,
which every agent's copy shares), so a fenced resource saves the data; without it the
grants carry none. Tests use it to show that neither is ever judged a valid lock.
"""

import json
import sys
import time

TOKENS = "--tokens" in sys.argv[1:]

for line in sys.stdin:
    request = json.loads(line)
    reply = {"id": request["id"], "ok": True}
    if request.get("op") == "acquire" and TOKENS:
        reply["token"] = time.time_ns()
    print(json.dumps(reply), flush=True)
