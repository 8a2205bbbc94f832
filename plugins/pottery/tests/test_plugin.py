"""The plug-in's acquire, renew and release on pottery's real Redlock over in-memory
masters, with faults injected, and how each outcome is classified."""

import socket
import time

import pytest
from redis.exceptions import ConnectionError, ResponseError, TimeoutError

from fake_redis import Store, fake_masters
from splitbrain_pottery.masters import (
    Ledger, Master, NotSent, Outcome, make_master, outcome_of)
from pottery import Redlock
from splitbrain_pottery.plugin import (
    Config, PotteryPlugin, check_key, socket_timeout_s)
from splitbrain_plugin.protocol import Budget, Request, now

KEY = "splitbrain-lock"
NAMES = ["r1:6379", "r2:6379", "r3:6379"]


class Agent:
    def __init__(self, stores, op_timeout_ms=1000):
        config = Config([Master(n, None) for n in NAMES], Budget.for_timeout(op_timeout_ms, 0.0),
                        fake_masters(stores))
        self.plugin = PotteryPlugin(config)
        self.next_id = 0

    def request(self, op, holder, ttl_ms=2000):
        self.next_id += 1
        req = Request(id=self.next_id, op=op, key=KEY, holder=holder,
                      ttl_ms=None if op == "release" else ttl_ms)
        return self.plugin.handle(req, now())

    def acquire(self, holder, ttl_ms=2000):
        return self.request("acquire", holder, ttl_ms)


@pytest.fixture
def stores():
    return {name: Store() for name in NAMES}


def lock_values(stores):
    return [s.get("redlock:" + KEY) for s in stores.values()]


def test_a_grant_has_no_token_and_holds_every_master(stores):
    reply = Agent(stores).acquire("a1")
    assert reply == {"id": 1, "ok": True}
    values = lock_values(stores)
    assert None not in values and len(set(values)) == 1


def test_a_held_lock_is_refused_definitely(stores):
    a, b = Agent(stores), Agent(stores)
    a.acquire("a1")
    assert b.acquire("b1") == {"id": 1, "ok": False, "definite": True, "error": "held"}


def test_release_frees_the_lock_for_the_next_holder(stores):
    a, b = Agent(stores), Agent(stores)
    a.acquire("a1")
    assert a.request("release", "a1") == {"id": 2, "ok": True}
    assert lock_values(stores) == [None, None, None]
    assert b.acquire("b1")["ok"] is True


def test_renew_extends_the_lease_past_potterys_default_cap_of_three(stores):
    a = Agent(stores)
    a.acquire("a1", ttl_ms=300)
    for _ in range(5):
        time.sleep(0.1)
        assert a.request("renew", "a1", ttl_ms=300)["ok"] is True
    assert None not in lock_values(stores), "still held 500 ms after a 300 ms grant"


def test_renew_after_the_lease_ran_out_is_definitely_not_holder(stores):
    a = Agent(stores)
    a.acquire("a1", ttl_ms=50)
    time.sleep(0.08)
    reply = a.request("renew", "a1", ttl_ms=50)
    assert (reply["ok"], reply["definite"], reply["error"]) == (False, True, "not-holder")
    assert a.request("release", "a1")["error"] == "not-holder"


def test_release_of_an_unknown_holder_is_not_holder(stores):
    reply = Agent(stores).request("release", "nobody")
    assert (reply["definite"], reply["error"], reply["detail"]) == (True, "not-holder", "no grant for this holder")


def test_an_unreachable_master_does_not_stop_a_majority_grant(stores):
    stores["r3:6379"].fault = "down"
    assert Agent(stores).acquire("a1")["ok"] is True


def test_held_with_a_master_down_is_still_definite(stores):
    Agent(stores).acquire("a1")
    stores["r1:6379"].fault = "down"
    reply = Agent(stores).acquire("b1")
    assert (reply["definite"], reply["error"]) == (True, "held")
    assert "1 unreachable" in reply["detail"]


def test_held_with_a_master_silent_is_still_definite(stores):
    # The silent master may have taken our value, but one is no majority.
    Agent(stores).acquire("a1")
    stores["r1:6379"].fault = "timeout-after"
    reply = Agent(stores).acquire("b1")
    assert (reply["definite"], reply["error"]) == (True, "held")


def test_a_failed_acquire_that_a_majority_may_have_taken_is_indeterminate(stores):
    # r1 grants, r2 takes it but its answer is lost, r3 is held by someone else:
    # pottery counts one vote and says False, yet r1 and r2 may hold our value.
    stores["r3:6379"].set("redlock:" + KEY, "someone-else", 5000)
    stores["r2:6379"].fault = "timeout-after"
    reply = Agent(stores).acquire("a1")
    assert (reply["ok"], reply["definite"]) == (False, False)
    assert "1 applied, 1 refused, 1 unanswered" in reply["error"]


def test_two_masters_down_is_a_definite_refusal_without_a_quorum(stores):
    stores["r1:6379"].fault = stores["r2:6379"].fault = "down"
    reply = Agent(stores).acquire("a1")
    assert (reply["definite"], reply["error"]) == (True, "no quorum")
    assert lock_values(stores)[2] is None, "pottery released the one it got"


def preload_scripts(stores):
    for script in (Redlock._acquired_script, Redlock._extend_script, Redlock._release_script):
        for s in stores.values():
            s.scripts[script.sha] = script.script.decode() if isinstance(script.script, bytes) else script.script


def test_a_release_whose_answers_were_lost_is_indeterminate(stores):
    a = Agent(stores)
    a.acquire("a1")
    preload_scripts(stores)
    for s in stores.values():
        s.fault = "timeout-after"
    reply = a.request("release", "a1")
    assert (reply["ok"], reply["definite"]) == (False, False)
    assert lock_values(stores) == [None, None, None]


def test_a_release_that_never_ran_its_script_is_definite_but_not_not_holder(stores):
    # EVALSHA answers NOSCRIPT, and the SCRIPT LOAD that follows gets no answer: the
    # release script never ran anywhere.
    a = Agent(stores)
    a.acquire("a1")
    for s in stores.values():
        s.scripts.clear()
        s.fault = "timeout-after"
    reply = a.request("release", "a1")
    assert (reply["definite"], reply["error"]) == (True, "no quorum")
    assert "3 error replies" in reply["detail"]
    assert None not in lock_values(stores), "still ours, until it expires"


def test_a_renew_whose_answers_were_lost_is_indeterminate(stores):
    a = Agent(stores)
    a.acquire("a1")
    stores["r1:6379"].fault = stores["r2:6379"].fault = "timeout"
    reply = a.request("renew", "a1")
    assert (reply["ok"], reply["definite"]) == (False, False)


def test_grants_the_agent_abandoned_are_forgotten(stores):
    a = Agent(stores)
    a.acquire("a1", ttl_ms=30)
    time.sleep(0.05)
    assert a.acquire("a2")["ok"] is True
    assert set(a.plugin.grants) == {"a2"}


def test_outcomes_say_whether_a_master_may_have_done_it():
    assert outcome_of(True) is Outcome.APPLIED
    assert outcome_of(None) is Outcome.REFUSED
    assert outcome_of(0) is Outcome.REFUSED
    assert outcome_of(error=NotSent("x")) is Outcome.UNSENT
    assert outcome_of(error=ResponseError("READONLY")) is Outcome.REJECTED
    assert outcome_of(error=TimeoutError("Timeout reading")) is Outcome.UNKNOWN
    assert outcome_of(error=ConnectionError("Connection closed by server.")) is Outcome.UNKNOWN


def test_the_ledger_keeps_only_the_deciding_commands():
    ledger = Ledger(("SET",))
    ledger.record("r1", "SET", Outcome.APPLIED, None)
    ledger.record("r1", "EVALSHA", Outcome.UNKNOWN, TimeoutError("late"))
    ledger.record("r2", "SET", Outcome.UNKNOWN, TimeoutError("Timeout reading"))
    tally = ledger.tally(["r1", "r2", "r3"])
    assert (tally.applied, tally.refused, tally.unknown) == (1, 0, 2), "r3 never answered"
    assert tally.errors == {"r2": "SET TimeoutError: Timeout reading"}
    assert tally.may_have_taken_effect()


def test_a_refused_connection_is_marked_unsent():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before the connect
    master = make_master("127.0.0.1", port, 0.5)
    ledger = Ledger(("SET",))
    from splitbrain_pottery.masters import recording_clients
    (client,) = recording_clients([master], ledger)
    with pytest.raises(NotSent):
        client.set("k", "v", px=1000, nx=True)
    assert ledger.tally([master.name]).unsent == 1


def test_socket_timeouts_leave_room_for_four_of_them():
    b = Budget.for_timeout(1000, 0.0)
    assert socket_timeout_s(b) == pytest.approx(0.18)
    assert 4 * socket_timeout_s(b) < b.op_timeout_s - b.margin_s


def test_keys_are_any_nonempty_text():
    assert check_key("splitbrain-lock") == ""
    assert check_key("") and check_key("x" * 600)
