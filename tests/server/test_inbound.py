"""What a hostile page's packets get: an error reply or a closed connection, never a hold on the server.

Packets are written by hand on a raw websocket (Engine.IO and Socket.IO framing included), against a
real server on 127.0.0.1; see mug/server/web/inbound.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import socketio
from helpers import eventually, run_async
from raw_page import Raw, errors_in

from mug import Experiment, StartScene, StaticScene
from mug.server.runner import MAX_MESSAGE_BYTES
from mug.server.web.inbound import MAX_DEPTH, InboundChecks, Refusal, frame_problem, read_packet, too_deep


def _experiment(tmp_path, *scenes: Any) -> Experiment:
    return Experiment("inbound", list(scenes) or [StartScene().scene("a"), StaticScene().scene("b")], data_dir=tmp_path)


def rss_bytes() -> int:
    """This process's resident memory (the server runs in it, on a thread)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS line in /proc/self/status")


def watch_refusals(server) -> list[tuple[str | None, str, str]]:
    """Record the server's refusals (`on_refused`), keeping any hook already set."""
    seen: list[tuple[str | None, str, str]] = []

    def install() -> None:
        previous = server.sio.on_refused

        def hook(sid: str | None, name: str, message: str) -> None:
            seen.append((sid, name, message))
            if previous is not None:
                previous(sid, name, message)

        server.sio.on_refused = hook

    server.call(install)
    return seen


# -- the checks on their own ---------------------------------------------------------------------


def test_the_server_dispatches_engineio_messages_through_the_checks(tmp_path) -> None:
    """python-socketio must still route every Engine.IO message through `_handle_eio_message`."""
    with _experiment(tmp_path).serve() as server:
        handler = server.sio.eio.handlers["message"]
        assert handler.__func__ is InboundChecks._handle_eio_message, (
            "python-socketio no longer hands Engine.IO messages to _handle_eio_message; "
            "mug.server.web.inbound must hook in elsewhere"
        )


def test_nesting_depth_is_measured_outside_strings_and_in_linear_time() -> None:
    assert not too_deep("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    assert too_deep("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    assert not too_deep(json.dumps(["[" * 1000, {"a": "{" * 1000}, '\\"[[[[']))  # brackets inside strings
    wide = json.dumps({"records": [{"seq": i, "payload": {"a": [1, {"b": 2}]}} for i in range(20_000)]})
    start = time.perf_counter()
    assert not too_deep(wide)
    assert too_deep("[" * 1_000_000)
    assert time.perf_counter() - start < 0.5, "depth checks of ~1 MB texts should take milliseconds"


def test_each_malformed_packet_is_refused_with_a_message_naming_the_problem() -> None:
    cases = {
        '2["join",{': ("packet", "not valid JSON", False),
        "2" + "[" * 100_000: ("packet", "more than 64 deep", False),
        '2["disconnect"]': ("disconnect", "reserved event name", False),
        '2["*","victim"]': ("*", "reserved event name", False),
        "2[1]": ("packet", "event name must be a string", False),
        '2/admin,["ping",{"t":1}]': ("packet", "unknown namespace '/admin'", False),
        '21234567890123456["ping"]': ("packet", "ack id is longer than 15 digits", False),
        '2["x\\ud800"]': ("packet", "lone UTF-16 surrogate", False),
        "0": ("connect", "already connected", False),
        "7": ("packet", "unknown Socket.IO packet type '7'", True),
        "x": ("packet", "unknown Socket.IO packet type 'x'", True),
        '51-["x",{"_placeholder":true,"num":0}]': ("packet", "binary attachments are refused", True),
        "4": ("packet", "does not send CONNECT_ERROR", True),
    }
    for packet, (name, words, closes) in cases.items():
        verdict = read_packet(packet, connected=True)
        assert isinstance(verdict, Refusal), f"{packet[:40]!r} was not refused"
        assert (verdict.name, verdict.close) == (name, closes) and words in verdict.message, (packet[:40], verdict)
    assert read_packet(b"\x00", connected=True).close
    assert read_packet('2["ping",{"t":1}]', connected=False).close  # before CONNECT: no one to answer
    assert frame_problem("2probe", upgrading=False) and frame_problem("2probe", upgrading=True) is None
    assert frame_problem(b"abc", upgrading=False) and frame_problem("4x", upgrading=False)


def test_a_long_polling_connection_still_upgrades_to_a_websocket(tmp_path) -> None:
    """The upgrade's probe and upgrade packets are Engine.IO packets a page sends only then."""
    with _experiment(tmp_path).serve() as server:
        refused = watch_refusals(server)
        client = socketio.Client(reconnection=False)
        client.connect(server.url, transports=["polling", "websocket"], socketio_path="socket.io")
        try:
            eventually(lambda: client.transport() == "websocket", timeout=20)
            assert client.call("ping", {"t": 3})["t"] == 3
        finally:
            client.disconnect()
        assert refused == []


# -- the direct inbound path -----------------------------------------------------------------------


def test_a_websocket_connections_packets_skip_engineio_and_are_answered_in_order(tmp_path) -> None:
    """A websocket-first connection's packets go straight to the checks (`InboundChecks.receive`),
    still one after the other: a `join` (which waits for the database) written together with 20
    pings is answered first, the pings in the order sent, and an upgraded long-polling connection
    (the test above) keeps Engine.IO's path."""
    with _experiment(tmp_path).serve() as server:
        before = server.call(lambda: server.sio.direct_reads)

        async def main() -> list[int]:
            raw = await Raw.open(server.port)
            await raw.send('421["join",{"query":{"participant":"orderly"}}]')
            for ack in range(2, 22):
                await raw.send(f'42{ack}["ping",{{"t":{ack}}}]')
            acks: list[int] = []
            while len(acks) < 21:
                message = await raw.recv()
                assert message is not None, f"the connection closed after acks {acks}"
                if isinstance(message, str) and message.startswith("43"):
                    acks.append(int(message[2 : message.index("[")]))
            await raw.close()
            return acks

        acks = run_async(main())
        read = server.call(lambda: server.sio.direct_reads) - before
    assert acks == list(range(1, 22))
    assert read == 22, f"{read} of the 22 packets (CONNECT, join, 20 pings) took the direct path"


def test_a_connection_that_sends_only_events_outlives_engineios_read_timeout(tmp_path) -> None:
    """Engine.IO's read loop gives up on a connection from which it hears nothing for its ping
    interval + timeout (15 s); its events no longer pass through that loop, so its pongs must: a
    connection that answers 4 Engine.IO pings (~20 s) and sends events all along is still served."""
    with _experiment(tmp_path).serve() as server:

        async def main() -> None:
            raw = await Raw.open(server.port)
            await raw.call(1, "join", {"query": {"participant": "steady"}})
            pings, ack = 0, 2
            while pings < 4:
                await raw.send(f'42["ping",{{"t":{ack}}}]')  # (no ack asked: only pongs reach Engine.IO)
                ack += 1
                message = await asyncio.wait_for(raw.ws.read_message(), 10)
                assert message is not None, f"the server closed the connection after {pings} pings"
                if message == "2":
                    pings += 1
                    await raw.send("3")
            await raw.ping(ack)  # still answered
            await raw.close()

        run_async(main())


# -- (a) binary attachments ----------------------------------------------------------------------


def test_a_packet_announcing_binary_attachments_closes_the_connection_before_the_server_holds_any(tmp_path) -> None:
    """Before: 1000 announced attachments then 40 frames of 2.5 MB grew the server by 103 MB, held while connected."""
    with _experiment(tmp_path).serve() as server:
        refused = watch_refusals(server)

        async def attack() -> tuple[list[str | bytes], bool, int, int]:
            blob = bytes(2_500_000)
            raw = await Raw.open(server.port)
            before = rss_bytes()
            placeholders = [{"_placeholder": True, "num": i} for i in range(1000)]
            await raw.send("451000-" + json.dumps(["x", *placeholders]))
            delivered = 0
            for _ in range(8):
                if not await raw.send(blob):
                    break
                delivered += 1
            replies, end = await raw.until("\x00(only the close)")
            return replies, end is None and raw.closed, delivered, rss_bytes() - before

        replies, closed, delivered, growth = run_async(attack())
        assert closed, "the connection stayed open after a binary packet"
        assert growth < 10_000_000, f"the server grew by {growth / 1e6:.1f} MB"
        # The refusal was told to the page when it could still read it, and to the hook.
        assert all(e["event"] == "packet" and "binary" in e["message"] for e in errors_in(replies)), replies
        assert any("binary attachments are refused" in message for _, _, message in refused), refused
        assert delivered < 8, "every 2.5 MB frame was taken after the refusal"

        async def afterwards() -> None:
            raw = await Raw.open(server.port)
            await raw.ping(1)
            await raw.close()

        run_async(afterwards())


def test_messages_past_the_size_cap_close_the_connection_and_the_largest_event_still_fits(tmp_path) -> None:
    with _experiment(tmp_path).serve() as server:

        async def scenario() -> tuple[Any, bool]:
            raw = await Raw.open(server.port)
            _, joined = await raw.call(1, "join", {"query": {"participant": "big"}})
            assert joined["ok"], joined
            # client_records at its own limit (1,000,000 bytes of JSON) is answered, not cut off.
            record = {"seq": 0, "kind": "event", "payload": {"scene_id": "a", "kind": "note", "t": 1.0, "data": {}}}
            filler = 1_000_000 - len(json.dumps({"records": [record]}, separators=(",", ":"))) - len('"x":""')
            record["payload"]["data"] = {"x": "y" * filler}
            body = {"records": [record]}
            assert len(json.dumps(body, separators=(",", ":"))) == 1_000_000
            await raw.send("422" + json.dumps(["client_records", body], separators=(",", ":")))
            _, ack = await raw.until("432[")
            assert ack is not None, "a 1,000,000-byte client_records closed the connection"
            # Twice that (the attack's frames were 2.5 MB) is refused at its header, not read whole.
            await raw.send("423" + json.dumps(["client_event", {"kind": "log", "data": {"x": "y" * 2_000_000}}]))
            _, end = await raw.until("433[")
            return json.loads(ack[3:])[0], end is None

        reply, closed = run_async(scenario())
        assert "ok" in reply, reply
        assert closed, f"a 2 MB message did not close the connection (MAX_MESSAGE_BYTES is {MAX_MESSAGE_BYTES})"


# -- (b) malformed packets and reserved names ----------------------------------------------------


def test_malformed_packets_get_an_error_reply_and_the_connection_carries_on(tmp_path) -> None:
    with _experiment(tmp_path).serve() as server:
        refused = watch_refusals(server)

        async def scenario() -> list[tuple[str, list[dict[str, str]]]]:
            raw = await Raw.open(server.port)
            answers = []
            for i, packet in enumerate(
                [
                    "42" + "[" * 100_000,
                    '42["join",{',
                    '4299["join",{',
                    '42["ping",' + "{" * 70 + "}" * 70 + "]",
                    "42",
                    "42[]",
                    '42[{"a":1}]',
                    '42/admin,["ping",{"t":1}]',
                    "431[{}]",
                    "40",
                ]
            ):
                seen, closed = await raw.exchange(packet, 100 + i)
                answers.append((packet[:30], errors_in(seen)))
                assert not closed, f"{packet[:30]!r} closed the connection"
                if packet.startswith("4299"):
                    assert any(m.startswith('4399[{"ok":false') for m in seen), seen  # the ack it asked for
                await raw.ping(200 + i)
            await raw.close()
            return answers

        for packet, errors in run_async(scenario()):
            assert len(errors) == 1 and errors[0]["message"], f"{packet!r} got {errors!r}"
        assert {message.split(":")[0] for _, _, message in refused} >= {
            "the packet nests JSON more than 64 deep",
            "the packet is not valid JSON",
        }


def test_reserved_event_names_are_refused_and_never_dispatched(tmp_path) -> None:
    with _experiment(tmp_path).serve() as server:

        async def scenario() -> tuple[str, dict[str, list[dict[str, str]]], list[str | bytes]]:
            raw = await Raw.open(server.port)
            _, joined = await raw.call(1, "join", {"query": {"participant": "reserved"}})
            assert joined["ok"], joined
            bystander = await Raw.open(server.port)
            _, other = await bystander.call(1, "join", {"query": {"participant": "bystander"}})
            assert other["ok"], other
            answers = {}
            for i, name in enumerate(["disconnect", "connect", "connect_error", "newListener", "disconnecting", "*"]):
                # "*" is python-socketio's catch-all: its first argument would be taken as the sid.
                seen, closed = await raw.exchange("42" + json.dumps([name, bystander.sid, "x"]), 50 + i)
                assert not closed, f"a {name!r} event closed the connection"
                answers[name] = errors_in(seen)
            bystander_seen, closed = await bystander.exchange("3", 99)  # (a pong: nothing to answer)
            assert not closed
            return raw.sid, answers, bystander_seen

        sid, answers, bystander_seen = run_async(scenario())
        for name, errors in answers.items():
            assert errors == [{"event": name, "message": f"'{name}' is a reserved event name; a page may not send it"}]
        assert not errors_in(bystander_seen), "another participant was answered for this one's packet"
        # The disconnect handler did not run: the participant is still connected on that sid.
        assert server.call(lambda: sid in server.sessions.by_sid), "a client-sent 'disconnect' ran the handler"


def test_packets_that_cannot_be_answered_close_the_connection(tmp_path) -> None:
    with _experiment(tmp_path).serve() as server:
        refused = watch_refusals(server)

        async def scenario() -> dict[str, tuple[bool, list[dict[str, str]]]]:
            outcome = {}
            for packet, connect in [
                ("47", True),
                ("4x", True),
                ('44{"message":"x"}', True),
                ('451-["x",{"_placeholder":true,"num":0}]', True),
                ('461-[{"_placeholder":true,"num":0}]', True),
                (b"\x04binary", True),
                ("6", True),
                ("", True),
                ('42["join",{}]', False),  # before the Socket.IO connect
                ("garbage", False),
            ]:
                raw = await Raw.open(server.port, connect=connect)
                await raw.send(packet)
                seen, end = await raw.until("\x00(only the close)")
                outcome[repr(packet)[:30]] = (end is None and raw.closed, errors_in(seen))
            return outcome

        for packet, (closed, errors) in run_async(scenario()).items():
            assert closed, f"{packet} left the connection open"
            assert all(e["event"] == "packet" and e["message"] for e in errors), (packet, errors)
        assert len(refused) == 10 and all(message for _, _, message in refused), refused


# -- (c) a bad binary placeholder -----------------------------------------------------------------


def test_a_bad_binary_placeholder_closes_the_connection_instead_of_wedging_it(tmp_path) -> None:
    """Before: the packet stayed pending and every later message was taken as its attachment."""
    with _experiment(tmp_path).serve() as server:

        async def scenario() -> tuple[bool, bool]:
            raw = await Raw.open(server.port)
            await raw.send('451-["x",{"_placeholder":true,"num":5}]')
            await raw.send(b"\x01\x02")
            _, closed = await raw.exchange("6", 12)  # not even a probe is answered
            fresh = await Raw.open(server.port)
            await fresh.ping(1)
            await fresh.close()
            return closed, True

        closed, fresh_answered = run_async(scenario())
        assert closed, "the connection stayed open after a bad binary placeholder"
        assert fresh_answered
