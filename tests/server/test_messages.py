"""The one definition of page → server messages: the page's types are generated from it, the server validates by it."""

from __future__ import annotations

import pytest

from mug import Experiment, StartScene
from mug.server.web import protocol
from mug.server.web.messages import CLIENT_MESSAGES, TS_PATH, typescript

PARSERS = {
    "join": protocol.parse_join,
    "advance": protocol.parse_advance,
    "start_game": protocol.parse_start_game,
    "action": protocol.parse_action,
    "ping": protocol.parse_ping,
    "client_event": protocol.parse_client_event,
    "client_records": protocol.parse_client_records,
    "p2p_signal": protocol.parse_p2p_signal,
    "p2p_relay": protocol.parse_p2p_relay,
    "p2p_status": protocol.parse_p2p_status,
    "p2p_probe_result": protocol.parse_p2p_probe_result,
    "leave": protocol.parse_leave,
}


def test_the_pages_typescript_types_are_what_the_definition_generates() -> None:
    stale = "run `python -m mug.server.web.messages` and commit mug/client/src/messages.ts"
    assert TS_PATH.read_text() == typescript(), stale


def test_every_defined_message_has_a_parser_and_a_handler(tmp_path) -> None:
    assert set(PARSERS) == set(CLIENT_MESSAGES)
    with Experiment("msgs", [StartScene().scene("a")], data_dir=tmp_path).serve() as server:
        handled = server.call(lambda: set(server.sio.handlers["/"]))
    assert set(CLIENT_MESSAGES) <= handled


@pytest.mark.parametrize("event", sorted(CLIENT_MESSAGES))
def test_a_field_the_definition_does_not_have_is_refused_naming_the_allowed_ones(event: str) -> None:
    with pytest.raises(protocol.ProtocolError) as refused:
        PARSERS[event](({"not_a_field": 1},))
    message = str(refused.value)
    assert "not_a_field" in message
    assert all(name in message for name in CLIENT_MESSAGES[event].names)


@pytest.mark.parametrize("event", sorted(CLIENT_MESSAGES))
def test_each_messages_size_limit_comes_from_the_definition(event: str) -> None:
    assert protocol.MAX_SIZE[event] == CLIENT_MESSAGES[event].limit
