"""What a hostile page's packets get: an error reply or a closed connection, never a hold on the server.

Packets are written by hand on a raw websocket (Engine.IO and Socket.IO framing included), against a
real server on 127.0.0.1; see mug/server/web/inbound.py.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import multiprocessing
import random
import time
from typing import Any

import socketio
from envs import walk_scene
from helpers import eventually, run_async
from tornado.websocket import WebSocketClientConnection, WebSocketClosedError, websocket_connect

from mug import ClientLimits, Experiment, StartScene, StaticScene
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


class Raw:
    """A page's connection spoken by hand: each Engine.IO packet is one websocket message."""

    def __init__(self, ws: WebSocketClientConnection) -> None:
        self.ws = ws
        self.closed = False  # a send failed or the close was read
        self.ended = False  # the close was read: nothing more will come
        self.sid = ""

    @classmethod
    async def open(cls, port: int, connect: bool = True) -> Raw:
        url = f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"
        raw = cls(await websocket_connect(url, max_message_size=64 << 20))
        opening = await raw.recv()
        assert isinstance(opening, str) and opening.startswith("0{"), f"no Engine.IO open packet: {opening!r}"
        if connect:
            await raw.send("40")
            reply = await raw.recv()
            assert isinstance(reply, str) and reply.startswith("40{"), f"no Socket.IO connect reply: {reply!r}"
            raw.sid = json.loads(reply[2:])["sid"]
        return raw

    async def send(self, message: str | bytes) -> bool:
        """Send one message; False if the connection is closed."""
        if not self.closed:
            try:
                await self.ws.write_message(message, binary=isinstance(message, bytes))
            except WebSocketClosedError:
                self.closed = True
        return not self.closed

    async def recv(self, timeout: float = 10.0) -> str | bytes | None:
        """The next message other than an Engine.IO ping (answered here); None once closed."""
        while not self.ended:
            message = await asyncio.wait_for(self.ws.read_message(), timeout)
            if message == "2":
                await self.send("3")
                continue
            if message is None:
                self.closed = self.ended = True
            return message
        return None

    async def until(self, prefix: str, timeout: float = 15.0) -> tuple[list[str | bytes], str | None]:
        """Messages up to the first starting with `prefix` (returned apart), or all until the close (None).

        Fails when neither comes within `timeout` seconds (Engine.IO pings keep an idle connection up).
        """
        seen: list[str | bytes] = []
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            try:
                message = await self.recv(left)
            except asyncio.TimeoutError:
                raise AssertionError(f"neither {prefix!r} nor a close within {timeout} s; got {seen!r:.300}") from None
            if message is None:
                return seen, None
            if isinstance(message, str) and message.startswith(prefix):
                return seen, message
            seen.append(message)

    async def exchange(self, packet: str | bytes, probe: int) -> tuple[list[str | bytes], bool]:
        """Send `packet`, then a probe (a `ping` asking for ack `probe`): what came back before the
        probe's ack, and whether the connection closed instead."""
        if await self.send(packet):
            await self.send(f'42{probe}["ping",{{"t":{probe}}}]')
        seen, ack = await self.until(f"43{probe}[")
        return seen, ack is None

    async def call(self, ack_id: int, event: str, payload: Any) -> tuple[list[str | bytes], Any]:
        """Emit an event asking for an ack; the messages before the ack, and the ack's first value."""
        await self.send(f"42{ack_id}" + json.dumps([event, payload]))
        seen, ack = await self.until(f"43{ack_id}[")
        assert ack is not None, f"the connection closed before the ack of {event!r}; got {seen!r}"
        return seen, json.loads(ack[len(f"43{ack_id}") :])[0]

    async def ping(self, ack_id: int) -> None:
        """The server still answers this connection (a `ping` event and its ack)."""
        _, reply = await self.call(ack_id, "ping", {"t": ack_id})
        assert reply["t"] == ack_id and reply["ok"] is True, reply

    async def close(self) -> None:
        self.ws.close()


def errors_in(messages: list[str | bytes]) -> list[dict[str, str]]:
    """The payloads of the `error` events among `messages`."""
    return [json.loads(m[2:])[1] for m in messages if isinstance(m, str) and m.startswith('42["error",')]


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


# -- (d) fuzzing ---------------------------------------------------------------------------------

MUG_EVENTS = ("join", "advance", "start_game", "action", "ping", "client_event", "client_records")
FUZZ_PACKETS = 10_000
FUZZ_CONNECTIONS = 2
PROBE = 1_000_000_000  # the probes' ack ids; fuzzed packets use smaller ones


def _wrong_payloads(rng: random.Random, event: str) -> list[Any]:
    """Argument lists every one of which `event` must refuse (wrong types, counts, values)."""
    huge = 10 ** rng.randint(20, 400)
    odd = "".join(chr(rng.choice([rng.randint(0x80, 0x2FFF), rng.randint(0x1F300, 0x1FAFF)])) for _ in range(6))
    fields = {
        "join": {"participant_id": rng.choice([huge, odd, [], "x" * 200])},
        "advance": {"scene_id": rng.choice([huge, odd, None, {"a": 1}])},
        "start_game": {"scene_id": rng.choice([huge, odd, True, []])},
        "action": {"scene_id": rng.choice([huge, odd, 1.5]), "action": 1},
        "ping": {"t": rng.choice(["now", None, [], {"x": 1}, huge * 10**400])},
        "client_event": {"kind": rng.choice([huge, odd, "keypress"])},
        "client_records": {"records": rng.choice([huge, odd, [], {"seq": 1}])},
    }
    return [
        [],  # no payload
        [rng.choice([huge, odd, None, True, [1, 2], "text"])],  # not an object
        [fields[event]],  # an object with a wrong field
        [{**fields[event], f"extra_{odd}": 1}],  # an unknown field
        [{"a": 1}, {"b": 2}],  # two payloads
        [fields[event], huge],
    ]


def fuzz_cases(seed: int, count: int) -> list[str | bytes]:
    """`count` packets, each one the server must refuse (with an error or by closing), from `seed`."""
    rng = random.Random(seed)
    valid = [
        ["join", {"query": {"participant": "someone"}}],
        ["advance", {"scene_id": "a"}],
        ["start_game", {"scene_id": "walk"}],
        ["action", {"scene_id": "walk", "action": 1}],
        ["ping", {"t": 1.5, "rtt": 2}],
        ["client_event", {"kind": "focus", "data": {}}],
        ["client_records", {"records": [{"seq": 1, "kind": "event", "payload": {}}]}],
    ]
    cases: list[str | bytes] = []
    while len(cases) < count:
        ack = f"{rng.randint(0, 999_999)}" if rng.random() < 0.5 else ""
        # Packets that close the connection (kinds 7 and 8) come a third as often as the others:
        # each costs a reconnect and a join, whose session and database work is not what is tested.
        kind = rng.choices(range(13), weights=(3, 3, 3, 3, 3, 3, 3, 1, 1, 3, 3, 3, 3))[0]
        if kind == 0:  # a valid packet cut short (any proper prefix of the JSON is invalid)
            text = f"42{ack}" + json.dumps(rng.choice(valid))
            cases.append(text[: rng.randint(2, len(text) - 1)])
        elif kind in (1, 2, 3):  # each MUG event with arguments it must refuse
            event = rng.choice(MUG_EVENTS)
            args = rng.choice(_wrong_payloads(rng, event))
            cases.append(f"42{ack}" + json.dumps([event, *args]))
        elif kind == 4:  # unknown events, unicode names
            name = rng.choice(["x", "frame", "error", "message", "joinx", "é", "🎮", "\u202e", "a" * 300])
            cases.append(f"42{ack}" + json.dumps([name + str(rng.randint(0, 99)), {"a": 1}]))
        elif kind == 5:  # reserved names
            name = rng.choice(["connect", "disconnect", "connect_error", "newListener", "removeListener", "*"])
            cases.append(f"42{ack}" + json.dumps([name, {}]))
        elif kind == 6:  # random bytes as text after an event header
            first = rng.choice("xyz@#$%^&*()<>?|~")
            body = "".join(chr(rng.randint(0x20, 0xD7FF)) for _ in range(rng.randint(0, 60)))
            cases.append(f"42{ack}{first}{body}")
        elif kind == 7:  # garbage packet types (Engine.IO and Socket.IO)
            cases.append(
                rng.choice(
                    ["47", "48", "49", "4x", "4", "44", '44{"message":"x"}', "x", "", "0", "2", "6", "5", "3probe"]
                )
                + rng.choice(["", '["ping",{"t":1}]', "junk"])
            )
        elif kind == 8:  # binary packets and frames
            if rng.random() < 0.02:
                cases.append(bytes(2_500_000))
            elif rng.random() < 0.5:
                cases.append(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 64))))
            else:
                cases.append(
                    rng.choice(["45", "46"]) + f"{rng.randint(1, 1000)}-" + '["x",{"_placeholder":true,"num":0}]'
                )
        elif kind == 9:  # deep nesting
            depth = rng.choice([MAX_DEPTH + 1, 500, 100_000])
            cases.append(f"42{ack}" + rng.choice(["[" * depth, '["ping",' + "[" * depth + "]" * depth + "]"]))
        elif kind == 10:  # wrong namespace, stray acks, a second connect
            cases.append(
                rng.choice([f'42/admin,{ack}["ping",{{"t":1}}]', f"43{rng.randint(1, 99)}[{{}}]", "40", "43[]"])
            )
        elif kind == 11:  # over-long ack ids, surrogates
            cases.append(rng.choice(["42" + "9" * rng.randint(16, 90) + '["ping",{"t":1}]', f'42{ack}["ping\\udc00"]']))
        else:  # values JSON allows but no event takes: huge numbers, unicode keys, nulls
            event = rng.choice(MUG_EVENTS)
            cases.append(f"42{ack}" + json.dumps([event, {"é" * rng.randint(1, 3): 10 ** rng.randint(20, 300)}]))
    return cases


async def _fuzz_connection(port: int, index: int, cases: list[str | bytes]) -> dict[str, int]:
    """Send `cases` one by one, each followed by a probe (a ping with an ack); classify the answers."""
    counts = {"sent": 0, "answered": 0, "closed": 0, "silent": 0}
    raw = await Raw.open(port)
    await raw.call(1, "join", {"query": {"participant": f"fuzz{index}"}})
    for number, case in enumerate(cases):
        counts["sent"] += 1
        seen, closed = await raw.exchange(case, PROBE + number)
        if closed:
            counts["closed"] += 1
            raw = await Raw.open(port)
            await raw.call(1, "join", {"query": {"participant": f"fuzz{index}"}})
        elif errors_in(seen) or any(isinstance(m, str) and m.startswith("43") and '"ok":false' in m for m in seen):
            counts["answered"] += 1
        else:
            counts["silent"] += 1
            print(f"no answer to {case[:80]!r}: {seen!r}")
    await raw.close()
    return counts


def run_fuzzer(port: int, seed: int) -> dict[str, int]:
    """The fuzzer (in a process of its own, so it takes no GIL time from the server's thread)."""
    cases = fuzz_cases(seed, FUZZ_PACKETS)
    share = FUZZ_PACKETS // FUZZ_CONNECTIONS

    async def main() -> list[dict[str, int]]:
        return await asyncio.gather(
            *(_fuzz_connection(port, i, cases[i * share : (i + 1) * share]) for i in range(FUZZ_CONNECTIONS))
        )

    totals = {"sent": 0, "answered": 0, "closed": 0, "silent": 0}
    for counts in run_async(main()):  # (a thread of its own: Playwright may own this one's loop)
        for key, value in counts.items():
            totals[key] += value
    return totals


def test_ten_thousand_fuzzed_packets_are_all_refused_while_a_game_runs_on_time(tmp_path) -> None:
    exp = _experiment(tmp_path, walk_scene(length=1_000_000).gameplay(max_steps=1_000_000))
    # Each fuzzed packet is followed by a probe; both are events, far above a page's event budget,
    # whose refusals would answer the probes with errors of their own.
    with exp.serve(client_limits=ClientLimits(events_per_s=100_000, events_burst=100_000)) as server:
        player = socketio.Client(reconnection=False)
        frames: list[int] = []
        player.on("frame", lambda frame: frames.append(frame["step"]))
        player.connect(server.url, transports=["websocket"], socketio_path="socket.io")
        try:
            assert player.call("join", {"query": {"participant": "player"}})["ok"]
            assert player.call("start_game", {"scene_id": "walk"})["ok"]
            eventually(lambda: len(frames) > 30, timeout=20)  # past the env's placement probe
            server.call(lambda: [game.lateness_ms.clear() for game in server.sessions.games.values()])
            before = len(frames)
            start = time.monotonic()
            spawn = multiprocessing.get_context("spawn")
            with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as pool:
                totals = pool.submit(run_fuzzer, server.port, 20_261_204).result(timeout=120)
            took = time.monotonic() - start
            lateness = sorted(server.stats()["tick_lateness_ms"])
            played = len(frames) - before
            fresh = socketio.Client(reconnection=False)
            fresh.connect(server.url, transports=["websocket"], socketio_path="socket.io")
            try:
                assert fresh.call("join", {"query": {"participant": "fresh"}})["ok"]
                assert fresh.call("ping", {"t": 1})["ok"]
            finally:
                fresh.disconnect()
        finally:
            player.disconnect()
    assert totals["sent"] == FUZZ_PACKETS
    assert totals["answered"] + totals["closed"] == totals["sent"], totals
    assert totals["closed"] > 300 and totals["answered"] > 5000, totals  # both kinds of refusal were exercised
    assert took < 60, f"the fuzz took {took:.0f} s"
    assert played >= 30 * took * 0.9, f"the game played {played} frames in {took:.1f} s"
    # Every tick ran: the game's loop was never stuck behind the fuzz long enough to drop one.
    # (How late ticks start under malformed traffic is a figure of the machine's load as much as
    # of the server, so it is measured, not asserted: `python -m benchmarks --only robustness`,
    # "tick_lateness_under_hostile_traffic"; a p99 < 5 ms check here failed whenever other
    # programs took a core.)
    assert len(lateness) >= 30 * took * 0.9, f"{len(lateness)} ticks ran in {took:.1f} s"
