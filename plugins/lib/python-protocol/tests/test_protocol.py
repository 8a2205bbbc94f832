"""The protocol module: request parsing, reply and event lines, the environment."""

import io
import json
import threading

import pytest

from splitbrain_plugin import protocol
from splitbrain_plugin.protocol import BadRequest, Budget, LineWriter, parse_request


def no_key_rules(key):
    return ""


def parse(obj, check_key=no_key_rules):
    return parse_request(json.dumps(obj), check_key)


def test_an_acquire_parses_with_every_field():
    req = parse({"id": 1, "op": "acquire", "key": "k", "ttl_ms": 1000, "holder": "n2-1"})
    assert req == protocol.Request(id=1, op="acquire", key="k", holder="n2-1", ttl_ms=1000)


def test_release_needs_no_ttl_and_ignores_the_token():
    req = parse({"id": 3, "op": "release", "key": "k", "holder": "h", "token": 42})
    assert (req.op, req.ttl_ms) == ("release", None)


def test_an_unknown_op_parses_so_that_it_can_be_answered_unsupported():
    assert parse({"id": 9, "op": "frobnicate"}).op == "frobnicate"


def test_the_id_is_echoed_whatever_json_it_is():
    assert parse({"id": {"a": [1]}, "op": "x"}).id == {"a": [1]}


@pytest.mark.parametrize(
    "line, message",
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"op": "acquire"}', "no id"),
        ('{"id": null, "op": "acquire"}', "no id"),
    ],
)
def test_lines_without_an_id_cannot_be_answered(line, message):
    with pytest.raises(BadRequest) as e:
        parse_request(line, no_key_rules)
    assert message in str(e.value)
    assert e.value.id is None


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"op": 7}, "op is missing"),
        ({"op": "acquire", "ttl_ms": 1000, "holder": "h"}, "key is missing"),
        ({"op": "acquire", "key": "k", "ttl_ms": 1000}, "holder is missing"),
        ({"op": "acquire", "key": "k", "ttl_ms": 1000, "holder": ""}, "holder is missing, empty"),
        ({"op": "acquire", "key": "k", "holder": "h"}, "acquire without ttl_ms"),
        ({"op": "acquire", "key": "k", "holder": "h", "ttl_ms": "1000"}, "not a number"),
        ({"op": "acquire", "key": "k", "holder": "h", "ttl_ms": True}, "not a number"),
        ({"op": "acquire", "key": "k", "holder": "h", "ttl_ms": 1.5}, "whole number"),
        ({"op": "acquire", "key": "k", "holder": "h", "ttl_ms": 0}, "from 1 to"),
        ({"op": "acquire", "key": "k", "holder": "h", "ttl_ms": 1 << 40}, "from 1 to"),
        ({"op": "renew", "key": "k", "holder": "h", "ttl_ms": -5}, "from 1 to"),
    ],
)
def test_bad_fields_are_refused_with_the_requests_id(fields, message):
    with pytest.raises(BadRequest) as e:
        parse({"id": 5, **fields})
    assert message in str(e.value)
    assert e.value.id == 5


def test_a_whole_float_ttl_is_taken():
    assert parse({"id": 1, "op": "acquire", "key": "k", "holder": "h", "ttl_ms": 2000.0}).ttl_ms == 2000


def test_the_lock_systems_key_rules_apply():
    with pytest.raises(BadRequest) as e:
        parse({"id": 2, "op": "acquire", "key": "a/b", "holder": "h", "ttl_ms": 5},
              lambda k: "contains a slash" if "/" in k else "")
    assert "'a/b' contains a slash" in str(e.value)


def test_replies_are_compact_lines_without_absent_fields():
    assert protocol.encode(protocol.ok(1, 42)) == b'{"id":1,"ok":true,"token":42}\n'
    assert protocol.encode(protocol.ok(2)) == b'{"id":2,"ok":true}\n'
    assert protocol.encode(protocol.refusal(4, True, "held")) == (
        b'{"id":4,"ok":false,"definite":true,"error":"held"}\n')
    assert protocol.encode(protocol.refusal(5, False, "timeout", "after 300 ms")) == (
        b'{"id":5,"ok":false,"definite":false,"error":"timeout","detail":"after 300 ms"}\n')


def test_a_token_of_zero_is_still_a_token():
    assert json.loads(protocol.encode(protocol.ok(1, 0)))["token"] == 0


def test_a_newline_inside_a_message_stays_inside_its_line():
    line = protocol.encode(protocol.refusal(1, False, "a\nb <é>"))
    assert line.count(b"\n") == 1 and json.loads(line)["error"] == "a\nb <é>"


def test_a_lost_event_has_no_id_and_names_the_grant():
    event = json.loads(protocol.encode(protocol.lost_event("k", "n1-7", None, "session LOST")))
    assert event == {"event": "lost", "key": "k", "holder": "n1-7", "token": None, "detail": "session LOST"}


def test_lines_written_from_many_threads_never_interleave():
    out = io.BytesIO()
    writer = LineWriter(out)
    long_text = "x" * 50_000

    def write_many(n):
        for i in range(20):
            writer.write(protocol.refusal(n * 100 + i, True, long_text))

    threads = [threading.Thread(target=write_many, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = out.getvalue().split(b"\n")[:-1]
    assert len(lines) == 80
    assert all(json.loads(line)["error"] == long_text for line in lines)


def test_read_line_skips_an_overlong_line_whole():
    stream = io.BytesIO(b"x" * 50 + b"\n" + b"y" * 5000 + b"\n" + b"  last\r\n")
    assert protocol.read_line(stream, limit=100) == b"x" * 50
    with pytest.raises(protocol.LineTooLong):
        protocol.read_line(stream, limit=100)
    assert protocol.read_line(stream, limit=100) == b"last"
    assert protocol.read_line(stream, limit=100) is None


def test_serve_answers_each_line_and_skips_what_it_cannot_address():
    lines = b"\n".join([
        b'{"id":1,"op":"acquire","key":"k","ttl_ms":10,"holder":"h"}',
        b"",
        b"garbage",
        b'{"id":2,"op":"acquire","key":"k","holder":"h"}',
        b'{"id":3,"op":"lock"}',
    ]) + b"\n"
    out, logged = io.BytesIO(), []
    protocol.serve(io.BytesIO(lines), LineWriter(out), no_key_rules,
                   lambda req, start: protocol.ok(req.id, 7), logged.append)
    replies = [json.loads(line) for line in out.getvalue().splitlines()]
    assert replies[0] == {"id": 1, "ok": True, "token": 7}
    assert replies[1]["id"] == 2 and replies[1]["definite"] is True
    assert replies[2] == {"id": 3, "ok": False, "definite": True, "error": "unsupported", "detail": "no op 'lock'"}
    assert len(replies) == 3 and any("not JSON" in m for m in logged)


def test_events_are_wanted_only_when_the_agent_lists_lost():
    assert protocol.events_wanted({"SPLITBRAIN_EVENTS": "lost"})
    assert protocol.events_wanted({"SPLITBRAIN_EVENTS": "other, lost"})
    assert not protocol.events_wanted({"SPLITBRAIN_EVENTS": "lostish"})
    assert not protocol.events_wanted({})


def test_the_op_timeout_defaults_and_must_be_positive():
    assert protocol.op_timeout_ms({}) == protocol.DEFAULT_OP_TIMEOUT_MS
    assert protocol.op_timeout_ms({"SPLITBRAIN_OP_TIMEOUT_MS": "1666"}) == 1666
    for bad in ("0", "-3", "1.5s"):
        with pytest.raises(ValueError):
            protocol.op_timeout_ms({"SPLITBRAIN_OP_TIMEOUT_MS": bad})


def test_server_lists_are_host_port_pairs():
    assert protocol.parse_servers("X", "10.0.0.1:2181, 10.0.0.2:2181,") == [("10.0.0.1", 2181), ("10.0.0.2", 2181)]
    for bad in (None, "", " , ", "host", "host:0", "host:http", ":2181"):
        with pytest.raises(ValueError):
            protocol.parse_servers("X", bad)


def test_the_budget_answers_before_the_agent_gives_up_and_keeps_a_reserve():
    b = Budget.for_timeout(1000, 0.25)
    assert b.answer_by(10.0) == pytest.approx(10.9)
    assert b.step_by(10.0) == pytest.approx(10.9 - 0.225)
    # The margin is 10 to 250 ms and never more than half the bound.
    assert Budget.for_timeout(60_000, 0.25).margin_s == pytest.approx(0.25)
    assert Budget.for_timeout(15, 0.25).margin_s == pytest.approx(0.0075)
