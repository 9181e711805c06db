"""Every client payload is parsed before use; malformed ones raise ProtocolError with a clear message."""

from __future__ import annotations

import pytest

from mug.server.web import protocol
from mug.server.web.protocol import ProtocolError


@pytest.mark.parametrize(
    ("parse", "args", "message"),
    [
        (protocol.parse_join, (), r"exactly one payload object, got 0"),
        (protocol.parse_join, ({}, {}), r"got 2 arguments"),
        (protocol.parse_join, ("me",), r"payload must be an object, got str"),
        (protocol.parse_join, ({"participant_id": 5},), r"'participant_id' has the wrong type int"),
        (protocol.parse_join, ({"participant_id": "a b"},), r"must be 1-128 letters"),
        (protocol.parse_join, ({"query": {"a": 1}},), r"'query' must map at most 50 names to strings"),
        (protocol.parse_join, ({"who": "x"},), r"unknown field\(s\) who"),
        (protocol.parse_advance, ({"answers": {}},), r"needs the field 'scene_id'"),
        (protocol.parse_advance, ({"scene_id": "s", "answers": {"a": {"b": 1}}},), r"answer 'a' must be"),
        (protocol.parse_advance, ({"scene_id": "../etc"},), r"not a valid scene id"),
        (protocol.parse_action, ({"scene_id": "s"},), r"needs the field 'action'"),
        (
            protocol.parse_action,
            ({"scene_id": "s", "action": "x" * 5000},),
            r"payload is 50\d\d bytes; the limit is 2048",
        ),
        (protocol.parse_ping, ({"t": True},), r"'t' has the wrong type bool"),
        (protocol.parse_client_event, ({"kind": "hack"},), r"kind must be one of"),
    ],
)
def test_malformed_payloads_are_rejected(parse, args, message) -> None:
    with pytest.raises(ProtocolError, match=message):
        parse(args)


def test_well_formed_payloads_parse() -> None:
    assert protocol.parse_join(({"participant_id": None, "query": {"PROLIFIC_PID": "abc"}},)).query == {
        "PROLIFIC_PID": "abc"
    }
    assert protocol.parse_advance(({"scene_id": "s", "answers": {"a": ["x"], "b": True}},)).answers["b"] is True
    assert protocol.parse_action(({"scene_id": "s", "action": [0, 1]},)).action == [0, 1]
    assert protocol.parse_ping(({"t": 1.5, "rtt": 0.8},)) == protocol.Ping(1.5, 0.8)
    assert protocol.action_key((0, 1)) == protocol.action_key([0, 1])
