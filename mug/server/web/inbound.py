"""Checks every packet a page sends before python-socketio dispatches it.

python-socketio trusts its client: a packet announcing 1000 binary attachments followed by 2.5 MB
binary frames made the server hold every frame until the connection ended (+103 MB for 40 frames,
+145 MB for 58), a bad attachment left the connection swallowing every later message as one, an
event named ``disconnect`` ran the server's disconnect handler with the socket still open, and an
event named ``*`` reached the catch-all handler with its first argument taken as the sid (so the
error went to, and was recorded against, whichever participant the sender named). MUG's pages send
JSON text only, so here a page's packet is decoded with bounded work and either dispatched as
python-socketio would, or refused: a packet that can be answered gets an ``error`` event (and a
failing ack when it asked for one) and the connection stays; one that cannot (binary data, an
unknown packet type, CONNECT_ERROR, anything before the Socket.IO connect) closes the connection.
With these checks the attack above closes the connection at its first packet, and the process running
the server and the attacking client grows by 0.5-8 MB (tests/server/test_inbound.py).

The packets of a connection that opened as a websocket (every participant page) also skip
python-engineio's receive queue and read loop (`InboundChecks.receive`): per message that loop made
a task and a `wait_for` to wait for it and another task to dispatch it, and at 30 actions/s per
player the inbound path was the sockets process's largest cost (~0.4 ms per action). Measured
with `python -m benchmarks.client_capacity` (25 two-player games at 30 fps, each player sending an
action every frame: 1,500 actions/s; 2 cores shared with the simulated clients and, that night,
with other engineers' test runs; the three runs taken while other programs used < 0.1 core): the
sockets process took 0.74 / 0.75 / 0.78 core through Engine.IO and 0.56 / 0.69 / 0.60 core
directly (about 0.3 instead of 0.4 ms per action), and the clients' worst p99 frame inter-arrival
was 52 / 52 / 56 ms against 45 / 53 / 48 ms (the criterion is < 50); in the one window the
machine was otherwise quiet, that level passed both criteria directly (p99 tick lateness 3.8 ms,
worst gap 43 ms, sockets process 0.60 core) and failed both through Engine.IO (5.3 ms, 55 ms,
0.76 core); at 3 actions/s 50 games is the machine's edge either way (4.9, 6.6, 6.9 ms directly,
6.7 ms through Engine.IO; both failed the clients' criterion). At 3 actions/s and 50 games,
on a machine other programs kept saturated, the median `ping` round trip of the same
socket.io-client participants was 13 / 26 / 96 ms directly against 53 / 205 / 165 ms through
Engine.IO in the same three runs. See benchmarks/README.md, "Reading client_capacity".
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
import socketio
import tornado.websocket
from socketio import packet as sio_packet
from socketio.base_server import BaseServer

log = logging.getLogger("mug.server.web.inbound")

NAMESPACE = "/"

#: Deepest JSON nesting a page may send. MUG's largest payloads (client_records) are dicts of dicts
#: under 10 deep; parsing a deeper text costs a RecursionError deep in the stack instead.
MAX_DEPTH = 64

#: Ack ids the page's Socket.IO client makes are counters; 15 digits stay exact in a JS number.
MAX_ACK_ID_DIGITS = 15

#: Event names a page may not send: python-socketio's own (a client-sent ``disconnect`` would run
#: the disconnect handler on an open socket), the Socket.IO client's reserved names, and ``*``
#: (python-socketio's catch-all, which would take the event's first argument as the sid).
RESERVED_EVENTS = frozenset(
    {*BaseServer.reserved_events, "connect", "disconnect", "connect_error", "disconnecting"}
    | {"newListener", "removeListener", "*"}
)

#: What a page may send as an Engine.IO packet over a websocket: a message, a pong, a close; the
#: probe and upgrade packets only while upgrading from long-polling.
_ENGINEIO_ALWAYS = frozenset({"3", "1"})
_ENGINEIO_UPGRADE = frozenset({"2probe", "5"})

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_ACK_ID = re.compile(rf"\d{{1,{MAX_ACK_ID_DIGITS + 1}}}")
_STEP = np.zeros(256, dtype=np.int8)
_STEP[[ord("["), ord("{")]] = 1
_STEP[[ord("]"), ord("}")]] = -1

#: (Socket.IO sid or None, event or packet name, message): told of every refusal.
RefusalHook = Callable[[str | None, str, str], None]


def too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether JSON `text` nests arrays and objects more than `limit` deep, in O(len(text)).

    Brackets inside strings do not count. Any text with at most `limit` brackets passes at once
    (every small event); others are measured on a copy without strings, vectorised.
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    brackets = _STRING.sub('""', text).encode("utf-8", "surrogatepass")
    steps = _STEP[np.frombuffer(brackets, dtype=np.uint8)]
    return bool(np.cumsum(steps, dtype=np.int64).max() > limit)


def frame_problem(message: str | bytes, upgrading: bool) -> str | None:
    """What is wrong with a websocket message as an Engine.IO packet from a page, or None.

    Messages (``4`` and a Socket.IO packet type) go on to `read_packet`. Everything else Engine.IO
    would decode itself, with a JSON parse and no depth bound, or drop without a word.
    """
    if isinstance(message, bytes):
        return f"binary websocket messages are refused ({len(message)} bytes): MUG's protocol is JSON text"
    if message[:1] == "4":
        if message[1:2].isdigit():
            return None
        return f"an Engine.IO message must carry a Socket.IO packet, got {message[1:21]!r}"
    if message in _ENGINEIO_ALWAYS or (upgrading and message in _ENGINEIO_UPGRADE):
        return None
    if not message:
        return "empty Engine.IO packet"
    if message[0] in "0123456":
        return f"a page does not send Engine.IO packet {message[:21]!r} here"
    return f"unknown Engine.IO packet type {message[:1]!r}"


@dataclass(frozen=True)
class Refusal:
    """A packet that is not dispatched: what to tell the page, and whether to close its connection."""

    name: str  # the event's name when it could be read, else "packet"
    message: str
    close: bool
    ack_id: int | None = None


@dataclass(frozen=True)
class Inbound:
    """A well-formed CONNECT, DISCONNECT, EVENT or ACK packet for namespace "/"."""

    kind: int
    ack_id: int | None
    data: Any


def _json(text: str, name: str, connected: bool, ack_id: int | None) -> Any:
    """The JSON value of `text`, or a Refusal saying why it has none."""
    if too_deep(text):
        return Refusal(name, f"the packet nests JSON more than {MAX_DEPTH} deep", not connected, ack_id)
    try:
        value = json.loads(text)
    except ValueError as exc:
        return Refusal(name, f"the packet is not valid JSON: {exc}", not connected, ack_id)
    if _SURROGATE_ESCAPE.search(text):  # a pair is one character; a lone one is no text (nor UTF-8)
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return Refusal(name, "the packet holds a lone UTF-16 surrogate (\\udXXX): not text", not connected, ack_id)
    return value


def read_packet(data: Any, connected: bool) -> Inbound | Refusal:
    """Decode one Socket.IO packet a page sent (Engine.IO message data) without trusting it.

    `connected`: whether the connection is connected to namespace "/"; before that only CONNECT
    is accepted, and every refusal closes the connection (there is no one to answer).
    """
    try:
        return _read_packet(data, connected)
    except Exception as exc:  # anything unforeseen: refused, never raised into Engine.IO
        return Refusal("packet", f"the packet could not be read: {type(exc).__name__}", not connected)


def _read_packet(data: Any, connected: bool) -> Inbound | Refusal:
    if isinstance(data, (bytes, bytearray)):
        return Refusal("packet", "binary data is refused: MUG's protocol is JSON text", True)
    if not isinstance(data, str):
        return Refusal("packet", f"not a Socket.IO packet (Engine.IO data of type {type(data).__name__})", True)
    if not data or data[0] not in "0123456":
        return Refusal("packet", f"unknown Socket.IO packet type {data[:1]!r}", True)
    kind = int(data[0])
    if kind in (sio_packet.BINARY_EVENT, sio_packet.BINARY_ACK):
        return Refusal("packet", "binary attachments are refused: MUG's protocol is JSON text", True)
    if kind == sio_packet.CONNECT_ERROR:
        return Refusal("packet", "a client does not send CONNECT_ERROR", True)
    rest = data[1:]
    if rest.startswith("/"):
        end = rest.find(",")
        namespace, rest = (rest, "") if end < 0 else (rest[:end], rest[end + 1 :])
        namespace = namespace.split("?", 1)[0]
        if namespace != NAMESPACE:
            return Refusal("packet", f"unknown namespace {namespace[:64]!r}; MUG serves only '/'", not connected)
    ack_id = None
    digits = _ACK_ID.match(rest)
    if digits:
        if len(digits.group()) > MAX_ACK_ID_DIGITS:
            return Refusal("packet", f"the ack id is longer than {MAX_ACK_ID_DIGITS} digits", not connected)
        ack_id = int(digits.group())
        rest = rest[digits.end() :]

    if kind == sio_packet.CONNECT:
        if connected:
            return Refusal("connect", "already connected to '/'", False)
        auth = _json(rest, "connect", connected, None) if rest else None
        if isinstance(auth, Refusal):
            return auth
        if ack_id is not None or not (auth is None or isinstance(auth, dict)):
            return Refusal("connect", "CONNECT takes at most an auth object", True)
        return Inbound(kind, None, auth)
    if not connected:
        return Refusal("packet", f"{sio_packet.packet_names[kind]} before CONNECT", True)
    if kind == sio_packet.DISCONNECT:
        if rest or ack_id is not None:
            return Refusal("disconnect", "DISCONNECT takes no data", False)
        return Inbound(kind, None, None)
    if not rest:
        return Refusal("packet", f"{sio_packet.packet_names[kind]} without data", False, _event_ack(kind, ack_id))
    value = _json(rest, "packet", connected, _event_ack(kind, ack_id))
    if isinstance(value, Refusal):
        return value
    if kind == sio_packet.ACK:
        if ack_id is None or not isinstance(value, list):
            return Refusal("packet", "an ACK needs an id and a list of values", False)
        return Inbound(kind, ack_id, value)
    if not isinstance(value, list) or not value:
        return Refusal("packet", "an EVENT's data must be a list [name, ...args]", False, ack_id)
    name = value[0]
    if not isinstance(name, str):
        return Refusal("packet", f"an event name must be a string, not {type(name).__name__}", False, ack_id)
    if name in RESERVED_EVENTS:
        return Refusal(name, f"'{name}' is a reserved event name; a page may not send it", False, ack_id)
    return Inbound(kind, ack_id, value)


def _event_ack(kind: int, ack_id: int | None) -> int | None:
    """The ack id a refusal answers: an EVENT's (an ACK's id is the server's own)."""
    return ack_id if kind == sio_packet.EVENT else None


@types.coroutine
def _resume(coro: Coroutine[Any, Any, None], waiting: Any) -> Generator[Any, Any, None]:
    """Finish a coroutine whose first step already ran (`InboundChecks.receive`) and which is now
    waiting on `waiting` (what its `await` handed out): the task running this waits on it in the
    coroutine's place, then lets the coroutine go on, as a task running it from the start would."""
    while True:
        try:
            yield waiting
        except BaseException as exc:  # (the task was cancelled): into the coroutine, as a task does
            step, arg = coro.throw, exc
        else:
            step, arg = coro.send, None
        try:
            waiting = step(arg)
        except StopIteration:
            return


class InboundChecks(socketio.AsyncServer):
    """`socketio.AsyncServer` that reads each packet with `read_packet` before dispatching it.

    Overrides python-socketio's private `_handle_eio_message` and `_handle_eio_connect`
    (tests/server/test_inbound.py fails loudly if a new version stops calling them). Refusals are
    logged, told to `on_refused`, and answered as the module docstring says; a connection being
    closed for one has its later packets dropped unanswered (its close is their answer).

    A connection that opened as a websocket hands its Socket.IO packets to `receive` straight from
    the websocket handler (`mug.server.web.app`) instead of through Engine.IO's receive queue and
    read loop: see `receive` for why.
    """

    #: Told of every refusal (Socket.IO sid or None, event or packet name, message). Must be quick
    #: and must not raise (an exception is logged and ignored).
    on_refused: RefusalHook | None = None

    #: False: every packet takes python-socketio's own paths (inbound: Engine.IO's receive queue
    #: and read loop; outbound, in `mug.server.web.transport`: its queue and writer task), so a
    #: benchmark can measure the library's way on the same server.
    direct: bool = True

    #: Socket.IO packets a connection may have handled in one turn of the event loop before the
    #: next waits for the turn after (Tornado's own reader yields only every 256 small messages).
    BURST = 16

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._refused: set[str] = set()  # Engine.IO sids being closed for a refusal
        self._closing: set[asyncio.Task[Any]] = set()
        self._turn = 0  # counts the event loop's turns in which packets arrived (for BURST)
        self._turn_ends = False
        self.direct_reads = 0  # packets handed to `receive` (for tests and stats)

    async def _handle_eio_connect(self, eio_sid: str, environ: dict[str, Any]) -> Any:
        # A connection that opened as a websocket (no `sid` query: not an upgrade from long-polling)
        # learns its Engine.IO sid here, before Engine.IO's open packet can reach the page, so the
        # page's first Socket.IO packet (CONNECT) can already take `receive`.
        handler = environ.get("tornado.handler")
        if (
            self.direct
            and isinstance(handler, tornado.websocket.WebSocketHandler)
            and hasattr(handler, "eio_sid")
            and handler.get_query_argument("sid", None) is None
        ):
            handler.eio_sid = eio_sid
        return await super()._handle_eio_connect(eio_sid, environ)

    def turn(self) -> int:
        """A number that changes with every turn of the event loop in which packets arrive."""
        if not self._turn_ends:
            self._turn_ends = True
            asyncio.get_running_loop().call_soon(self._end_turn)
        return self._turn

    def _end_turn(self) -> None:
        self._turn += 1
        self._turn_ends = False

    def receive(self, eio_sid: str, data: str) -> Awaitable[None] | None:
        """Handle a Socket.IO packet (Engine.IO message data) from a websocket-first connection.

        Engine.IO's way costs per message a queue hand-off, a task and a `wait_for` in its read loop
        and another task for the dispatch; at 30 actions/s per player that made the inbound path the
        sockets process's largest cost (~0.4 ms per action, benchmarks/README.md). Here the packet is
        dispatched at once, inline: an event whose handler does not wait (an action, a ping) is
        handled before this returns None, with no task at all. One that waits returns the rest of
        its handling as a future; the websocket handler reads the connection's next message only
        after it, so a connection's packets are still handled one at a time, in order.

        Engine.IO still gets the connection's other packets (pongs, close) through its queue, so its
        ping timeout and read loop go on as before. A handler's exception is logged and the
        connection carries on, as with Engine.IO's dispatch.
        """
        socket = self.eio.sockets.get(eio_sid)
        if socket is None or socket.closed:
            return None  # Engine.IO has ended the connection: its disconnect has run or is running
        self.direct_reads += 1
        coro = self._dispatch(eio_sid, data)
        try:
            waiting = coro.send(None)
        except StopIteration:
            return None
        return asyncio.ensure_future(_resume(coro, waiting))

    async def _dispatch(self, eio_sid: str, data: str) -> None:
        try:
            await self._handle_eio_message(eio_sid, data)
        except Exception:
            log.exception("handling a packet from %s failed", eio_sid)

    def _connected_sid(self, eio_sid: str) -> str | None:
        sid = self.manager.sid_from_eio_sid(eio_sid, NAMESPACE)
        return sid if sid is not None and self.manager.is_connected(sid, NAMESPACE) else None

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        if eio_sid in self._refused:
            return
        sid = self._connected_sid(eio_sid)
        verdict = read_packet(data, sid is not None)
        if isinstance(verdict, Refusal):
            await self.refuse(eio_sid, sid, verdict)
        elif verdict.kind == sio_packet.CONNECT:
            await self._handle_connect(eio_sid, NAMESPACE, verdict.data)
        elif verdict.kind == sio_packet.DISCONNECT:
            await self._handle_disconnect(eio_sid, NAMESPACE, self.reason.CLIENT_DISCONNECT)
        elif verdict.kind == sio_packet.EVENT:
            await self._handle_event(eio_sid, NAMESPACE, verdict.ack_id, verdict.data)
        elif verdict.ack_id in self.manager.callbacks.get(sid, {}) and verdict.ack_id != 0:
            await self._handle_ack(eio_sid, NAMESPACE, verdict.ack_id, verdict.data)
        else:
            unexpected = Refusal("packet", f"unexpected ACK {verdict.ack_id}: the server asked for none", False)
            await self.refuse(eio_sid, sid, unexpected)

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any = None) -> None:
        self._refused.discard(eio_sid)
        await super()._handle_eio_disconnect(eio_sid, reason)

    def accept_frame(self, handler: tornado.websocket.WebSocketHandler, message: str | bytes) -> bool:
        """Whether a websocket message goes on to Engine.IO; refuses (and closes) it if not.

        Called by the websocket handler (`mug.server.web.app`) for each message, before Engine.IO
        decodes it. Messages after the server started closing the connection are dropped.
        """
        connection = handler.ws_connection
        if connection is None or connection.is_closing():
            return False
        if isinstance(message, str) and message[:1] == "4" and message[1:2].isdigit():
            return True  # a Socket.IO packet (nearly every message): `read_packet` reads it
        upgrade_sid = handler.get_query_argument("sid", None)  # set only when upgrading from long-polling
        socket = self.eio.sockets.get(upgrade_sid) if upgrade_sid else None
        # (not `socket.upgrading`: the probe can arrive before Engine.IO's handler has set it)
        problem = frame_problem(message, upgrading=bool(socket is not None and not socket.upgraded))
        if problem is None:
            return True
        eio_sid = upgrade_sid or self._eio_sid_of(handler)
        refusal = Refusal("packet", problem, True)
        if eio_sid is None:  # before Engine.IO's handshake: no one to answer
            self._report(None, refusal)
            handler.close(1008, problem[:120])
        else:
            sid = self._connected_sid(eio_sid)
            if self._claim(eio_sid, sid, refusal):
                self._background(self._answer(eio_sid, sid, refusal))
        return False

    def _eio_sid_of(self, handler: tornado.websocket.WebSocketHandler) -> str | None:
        """The Engine.IO sid of a websocket-first connection (a scan: only on refusals)."""
        for eio_sid, environ in self.environ.items():
            if environ.get("tornado.handler") is handler:
                return eio_sid
        return None

    def _report(self, sid: str | None, refusal: Refusal) -> None:
        action = "closed the connection" if refusal.close else "answered with an error"
        log.log(
            logging.WARNING if refusal.close else logging.INFO,
            "refused %r from %s (%s): %s",
            refusal.name[:64],
            sid,
            action,
            refusal.message,
        )
        if self.on_refused is not None:
            try:
                self.on_refused(sid, refusal.name[:64], refusal.message)
            except Exception:
                log.exception("the on_refused hook failed")

    def _claim(self, eio_sid: str, sid: str | None, refusal: Refusal) -> bool:
        """Report a refusal and, if it closes, mark the connection; False if it is being closed already."""
        if eio_sid in self._refused:
            return False
        self._report(sid, refusal)
        if refusal.close:
            self._refused.add(eio_sid)
        return True

    async def refuse(self, eio_sid: str, sid: str | None, refusal: Refusal) -> None:
        """Refuse a packet: report it, answer with an ``error`` event (and a failing ack) when
        connected, and close the connection if the refusal says so."""
        if self._claim(eio_sid, sid, refusal):
            await self._answer(eio_sid, sid, refusal)

    async def _answer(self, eio_sid: str, sid: str | None, refusal: Refusal) -> None:
        if sid is not None:
            body = {"event": refusal.name[:64], "message": refusal.message}
            await self._send_packet(eio_sid, self.packet_class(sio_packet.EVENT, ["error", body], namespace=NAMESPACE))
            if refusal.ack_id is not None and not refusal.close:
                reply = [{"ok": False, "error": refusal.message}]
                await self._send_packet(
                    eio_sid, self.packet_class(sio_packet.ACK, reply, namespace=NAMESPACE, id=refusal.ack_id)
                )
            if refusal.close:  # the page's client then does not reconnect on its own
                await self._send_packet(eio_sid, self.packet_class(sio_packet.DISCONNECT, namespace=NAMESPACE))
        if refusal.close:
            await self.close_connection(eio_sid, refusal.message)

    async def close_connection(self, eio_sid: str, reason: str) -> None:
        """Close a connection after what was sent to it; through Engine.IO (a long-polling connection)."""
        self._background(self.eio.disconnect(eio_sid))

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
