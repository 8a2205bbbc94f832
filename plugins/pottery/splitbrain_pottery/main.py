"""The `pottery` command: reads the environment the agent gives, then answers requests
on stdin until it closes."""

from __future__ import annotations

import logging
import os
import sys

from splitbrain_plugin import protocol

from .masters import make_master
from .plugin import Config, PotteryPlugin, check_key, log, socket_timeout_s

# pottery's Redlock has no fencing token; the budget keeps no reserve (nothing is
# settled after pottery answers: its own failure path already releases).
RESERVE_FRACTION = 0.0


def config_from(env: dict) -> Config:
    servers = protocol.parse_servers("SPLITBRAIN_REDLOCK", env.get("SPLITBRAIN_REDLOCK"))
    budget = protocol.Budget.for_timeout(protocol.op_timeout_ms(env), RESERVE_FRACTION)
    timeout = socket_timeout_s(budget)
    return Config(masters=[make_master(host, port, timeout) for host, port in servers], budget=budget)


def setup_logging(node: str) -> None:
    """The plug-in's notes go to stderr, the agent's log. pottery logs every Redis error
    with its traceback; the plug-in's own line for the operation says the same in one."""
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.WARNING,
        format=f"%(asctime)s pottery[{node}] %(name)s %(levelname)s: %(message)s",
    )
    log.setLevel(logging.INFO)
    logging.getLogger("pottery").setLevel(logging.CRITICAL)


def main() -> None:
    setup_logging(os.environ.get("SPLITBRAIN_NODE", "?"))
    try:
        config = config_from(os.environ)
    except ValueError as e:
        log.error("%s (run with --plugin-servers redlock)", e)
        sys.exit(2)
    if protocol.fencing_wanted(os.environ):
        log.warning("SPLITBRAIN_FENCING=on, but pottery's Redlock has no fencing token: grants carry none")
    log.info("redis masters %s, op timeout %.0f ms, socket timeouts %.0f ms",
             ",".join(m.name for m in config.masters), config.budget.op_timeout_s * 1000,
             socket_timeout_s(config.budget) * 1000)
    writer = protocol.LineWriter(sys.stdout.buffer)
    plugin = PotteryPlugin(config)
    protocol.serve(sys.stdin.buffer, writer, check_key, plugin.handle, log.warning)
    # End of input: exit without releasing, as a crashed client would; the keys expire.
    sys.stdout.flush()
    os._exit(0)
