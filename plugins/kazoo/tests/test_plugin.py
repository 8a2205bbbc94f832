"""The plug-in's acquire, renew and release on kazoo's real Lock recipe over an
in-memory ensemble, with faults injected, and how each outcome is classified."""

import threading

import pytest
from kazoo.exceptions import ConnectionLoss, NoAuthError
from kazoo.protocol.states import KazooState

from fake_zookeeper import Ensemble, FakeClient, block_until, fail_always, fail_once
from splitbrain_kazoo.plugin import (
    Config, KazooPlugin, check_key, lock_path, session_timeout_ms)
from splitbrain_plugin.protocol import Budget, Request, now

KEY = "splitbrain-lock"


class Agent:
    """One plug-in and what it emitted, over a shared ensemble."""

    def __init__(self, ensemble, fencing=True, events=True, op_timeout_ms=600, connected=True):
        self.ensemble = ensemble
        self.clients = []
        self.events = []
        self.connected = connected
        config = Config("zk:2181", fencing, events, Budget.for_timeout(op_timeout_ms, 0.25))
        self.plugin = KazooPlugin(config, self._make_client, self.events.append)
        self.next_id = 0

    def _make_client(self, hosts, timeout_s):
        client = FakeClient(self.ensemble, connected=self.connected)
        client.timeout_s = timeout_s
        self.clients.append(client)
        return client

    @property
    def client(self):
        return self.clients[-1]

    def request(self, op, holder, ttl_ms=2000):
        self.next_id += 1
        req = Request(id=self.next_id, op=op, key=KEY, holder=holder,
                      ttl_ms=ttl_ms if op != "release" else None)
        return self.plugin.handle(req, now())

    def acquire(self, holder, ttl_ms=2000):
        return self.request("acquire", holder, ttl_ms)


@pytest.fixture
def ensemble():
    return Ensemble()


def lock_nodes(ensemble):
    path = lock_path(KEY)
    return ensemble.children(path) if path in ensemble.nodes else []


def test_a_grant_carries_its_lock_nodes_czxid(ensemble):
    a = Agent(ensemble)
    reply = a.acquire("a1")
    assert reply["ok"] is True
    (node,) = lock_nodes(ensemble)
    assert reply["token"] == ensemble.nodes[f"{lock_path(KEY)}/{node}"].czxid


def test_without_fencing_there_is_no_token(ensemble):
    assert "token" not in Agent(ensemble, fencing=False).acquire("a1")


def test_tokens_grow_with_every_grant(ensemble):
    a = Agent(ensemble)
    tokens = []
    for i in range(3):
        tokens.append(a.acquire(f"a{i}")["token"])
        assert a.request("release", f"a{i}") == {"id": a.next_id, "ok": True}
    assert tokens == sorted(tokens) and len(set(tokens)) == 3


def test_a_held_lock_is_refused_definitely_and_leaves_no_contender(ensemble):
    a, b = Agent(ensemble), Agent(ensemble)
    a.acquire("a1")
    assert b.acquire("b1") == {"id": 1, "ok": False, "definite": True, "error": "held"}
    assert len(lock_nodes(ensemble)) == 1


def test_the_session_timeout_follows_the_ttl_within_zookeepers_bounds(ensemble):
    assert [session_timeout_ms(t) for t in (200, 2000, 60_000)] == [1000, 2000, 10_000]
    a = Agent(ensemble)
    a.acquire("a1", ttl_ms=3000)
    assert a.client.timeout_s == 3.0


def test_renew_answers_whether_the_node_is_still_ours(ensemble):
    a = Agent(ensemble)
    a.acquire("a1")
    assert a.request("renew", "a1")["ok"] is True
    ensemble.nodes.pop(f"{lock_path(KEY)}/{lock_nodes(ensemble)[0]}")
    assert a.request("renew", "a1") == {
        "id": 3, "ok": False, "definite": True, "error": "not-holder", "detail": "lock node gone"}


def test_release_of_a_node_the_ensemble_already_deleted_is_not_holder(ensemble):
    # A holder paused past its session resumes before its client learns the session
    # expired; kazoo's Lock.release() would answer True. The plug-in reads the node first.
    a = Agent(ensemble)
    a.acquire("a1")
    ensemble.nodes.pop(f"{lock_path(KEY)}/{lock_nodes(ensemble)[0]}")
    assert a.request("release", "a1") == {
        "id": 2, "ok": False, "definite": True, "error": "not-holder", "detail": "lock node gone"}


def test_renew_after_the_session_expired_is_definitely_not_holder(ensemble):
    a = Agent(ensemble)
    a.acquire("a1")
    a.client.expire_session()
    reply = a.request("renew", "a1")
    assert (reply["definite"], reply["error"]) == (True, "not-holder")


def test_release_and_renew_of_an_unknown_holder_are_not_holder(ensemble):
    a = Agent(ensemble)
    for op in ("renew", "release"):
        reply = a.request(op, "nobody")
        assert (reply["ok"], reply["definite"], reply["error"]) == (False, True, "not-holder")


def test_a_contender_node_left_by_kazoos_cleanup_is_removed_before_answering_held(ensemble):
    # kazoo deletes its node after a refused try but swallows a failure to do so: the
    # node would stay, and become the owner nobody knows of when the holder leaves.
    a, b = Agent(ensemble), Agent(ensemble)
    a.acquire("a1")
    b.acquire("warm-up")  # held: makes b's session
    b.client.faults["delete"] = fail_once(ConnectionLoss())
    assert b.acquire("b1")["error"] == "held"
    assert len(lock_nodes(ensemble)) == 1
    a.request("release", "a1")
    assert Agent(ensemble).acquire("c1")["ok"] is True


def test_an_acquire_that_outlives_its_time_is_indeterminate_and_its_session_dropped(ensemble):
    a = Agent(ensemble, op_timeout_ms=300)
    a.acquire("warm-up")
    a.request("release", "warm-up")
    released = threading.Event()
    a.client.faults["create"] = block_until(released)
    reply = a.acquire("a1")
    assert (reply["ok"], reply["definite"]) == (False, False)
    assert reply["error"].startswith("timeout")
    assert a.client.stopped.wait(1), "the session of an unknown outcome is closed"
    released.set()
    # The next request gets a new session.
    assert a.acquire("a2")["ok"] is True
    assert len(a.clients) == 2


def test_a_refusal_whose_contender_cannot_be_checked_is_indeterminate(ensemble):
    a, b = Agent(ensemble), Agent(ensemble)
    a.acquire("a1")
    b.acquire("warm-up")
    calls = {"n": 0}

    def children_then_lose_the_connection():
        calls["n"] += 1
        if calls["n"] > 1:  # the recipe's own look, then the plug-in's check
            raise ConnectionLoss()

    b.client.faults["get_children"] = children_then_lose_the_connection
    b.client.faults["delete"] = fail_always(ConnectionLoss())
    reply = b.acquire("b1")
    assert (reply["ok"], reply["definite"]) == (False, False)
    assert b.client.stopped.wait(1)
    assert len(lock_nodes(ensemble)) == 1, "closing the session took its contender node"


def test_an_error_the_server_gave_before_any_node_existed_is_definite(ensemble):
    a = Agent(ensemble)
    a.acquire("warm-up")
    a.request("release", "warm-up")
    a.client.faults["create"] = fail_always(NoAuthError())
    reply = a.acquire("a1")
    assert (reply["ok"], reply["definite"], reply["error"]) == (False, True, "NoAuthError")


def test_an_ensemble_out_of_reach_is_a_definite_refusal(ensemble):
    reply = Agent(ensemble, connected=False, op_timeout_ms=100).acquire("a1")
    assert (reply["definite"], reply["error"]) == (True, "zookeeper unreachable")
    assert lock_nodes(ensemble) == []


def test_a_release_that_times_out_is_indeterminate_and_the_session_goes(ensemble):
    a = Agent(ensemble, op_timeout_ms=300)
    a.acquire("a1")
    a.client.faults["delete"] = block_until(threading.Event())
    reply = a.request("release", "a1")
    assert (reply["ok"], reply["definite"]) == (False, False)
    assert a.client.stopped.wait(1)
    assert lock_nodes(ensemble) == []


def test_grants_the_agent_abandoned_lapse_with_their_session(ensemble):
    # The agent retired the client holding a1 and forgot it; a new client acquires.
    a = Agent(ensemble)
    a.acquire("a1")
    first = a.client
    reply = a.acquire("a2")
    assert first.stopped.wait(1)
    assert reply["ok"] is True and a.client is not first


def test_suspended_and_lost_emit_one_lost_event_per_grant(ensemble):
    a = Agent(ensemble)
    token = a.acquire("a1")["token"]
    a.client.change_state(KazooState.SUSPENDED)
    a.client.change_state(KazooState.LOST)
    assert a.events == [{"event": "lost", "key": KEY, "holder": "a1", "token": token,
                         "detail": "kazoo connection SUSPENDED"}]


def test_a_release_that_finds_the_node_gone_says_so_once_before_kazoo_does(ensemble):
    # The resumed holder's release can reach the ensemble before kazoo's connection
    # thread notices the session ended; the notice then comes from the release's read.
    a = Agent(ensemble)
    token = a.acquire("a1")["token"]
    ensemble.nodes.pop(f"{lock_path(KEY)}/{lock_nodes(ensemble)[0]}")
    assert a.request("release", "a1")["error"] == "not-holder"
    a.client.change_state(KazooState.SUSPENDED)
    assert a.events == [{"event": "lost", "key": KEY, "holder": "a1", "token": token,
                         "detail": "lock node gone"}]


def test_a_read_that_loses_the_connection_says_the_grant_may_be_lost(ensemble):
    a = Agent(ensemble)
    a.acquire("a1")
    node = f"{lock_path(KEY)}/{lock_nodes(ensemble)[0]}"
    a.client.faults["get"] = fail_once(ConnectionLoss())
    reply = a.request("renew", "a1")
    assert (reply["ok"], reply["definite"]) == (False, False)
    assert [e["detail"] for e in a.events] == [f"kazoo connection lost: reading {node}: ConnectionLoss"]


def test_a_release_that_times_out_says_nothing_was_lost(ensemble):
    a = Agent(ensemble, op_timeout_ms=300)
    a.acquire("a1")
    a.client.faults["get"] = block_until(threading.Event())
    assert a.request("release", "a1")["definite"] is False
    assert a.events == []


def test_no_events_unless_the_agent_asks(ensemble):
    a = Agent(ensemble, events=False)
    a.acquire("a1")
    a.client.change_state(KazooState.LOST)
    assert a.events == []


def test_a_dropped_session_emits_nothing(ensemble):
    a = Agent(ensemble)
    a.acquire("a1")
    first = a.client
    a.acquire("a2")  # drops the first session
    first.change_state(KazooState.LOST)
    assert a.events == []


@pytest.mark.parametrize("key, ok", [("splitbrain-lock", True), ("", False), ("a/b", False),
                                     ("..", False), ("a\nb", False), ("x" * 300, False)])
def test_keys_must_make_one_znode_name(key, ok):
    assert (check_key(key) == "") == ok
