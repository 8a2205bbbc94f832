"""The `kazoo` command: reads the environment the agent gives, then answers requests
on stdin until it closes."""

from __future__ import annotations

import logging
import os
import sys

from kazoo.client import KazooClient
from splitbrain_plugin import protocol

from .plugin import RESERVE_FRACTION, Config, KazooPlugin, check_key, log

# The client reconnects at once after a drop and never waits more than a second
# between rounds of the ensemble (kazoo's default backs off to an hour), so a session
# the ensemble still keeps is found again before it expires.
CONNECTION_RETRY = {"max_tries": -1, "delay": 0.05, "backoff": 2, "max_delay": 1.0}


def make_client(hosts: str, timeout_s: float) -> KazooClient:
    return KazooClient(
        hosts=hosts,
        timeout=timeout_s,
        connection_retry=dict(CONNECTION_RETRY),
        logger=logging.getLogger("kazoo.client"),
    )


def config_from(env: dict) -> Config:
    servers = protocol.parse_servers("SPLITBRAIN_ZOOKEEPER", env.get("SPLITBRAIN_ZOOKEEPER"))
    return Config(
        hosts=",".join(f"{host}:{port}" for host, port in servers),
        fencing=protocol.fencing_wanted(env),
        events=protocol.events_wanted(env),
        budget=protocol.Budget.for_timeout(protocol.op_timeout_ms(env), RESERVE_FRACTION),
    )


def setup_logging(node: str) -> None:
    """Everything goes to stderr, the agent's log: kazoo's warnings (connection drops,
    session expiry) and the plug-in's own notes."""
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.WARNING,
        format=f"%(asctime)s kazoo[{node}] %(name)s %(levelname)s: %(message)s",
    )
    log.setLevel(logging.INFO)


def main() -> None:
    setup_logging(os.environ.get("SPLITBRAIN_NODE", "?"))
    try:
        config = config_from(os.environ)
    except ValueError as e:
        log.error("%s (run with --plugin-servers zookeeper)", e)
        sys.exit(2)
    log.info("zookeeper %s, op timeout %.0f ms, fencing %s, lost events %s", config.hosts,
             config.budget.op_timeout_s * 1000, config.fencing, config.events)
    writer = protocol.LineWriter(sys.stdout.buffer)
    plugin = KazooPlugin(config, make_client, writer.write)
    protocol.serve(sys.stdin.buffer, writer, check_key, plugin.handle, log.warning)
    # End of input: exit without releasing, as a crashed client would; the session's
    # nodes go when the ensemble expires it. (The client's threads are not waited for.)
    if plugin.grants:
        log.info("stdin closed; exiting with %d grant(s) open, left to expire", len(plugin.grants))
    sys.stdout.flush()
    os._exit(0)
