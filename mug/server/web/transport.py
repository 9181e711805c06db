"""Socket.IO server whose packets go straight onto each connection's websocket, in order.

python-socketio hands every packet to Engine.IO, which queues it for a per-connection writer task;
`emit` to a room also makes one task per recipient. At a game's frame rate that bookkeeping cost
more than the game itself. For connections that opened as websockets (the participant page only
uses websockets) this server writes Socket.IO packets directly to the Tornado websocket instead,
and `broadcast` encodes a message once for all of a room's members.

Order is kept because every Socket.IO-level packet of such a connection takes the direct path:
the first one (the connect reply) can only be sent after the client has received Engine.IO's open
packet, and Engine.IO's own control packets (ping, close) have no order relative to messages.
Connections that began with HTTP long-polling keep python-socketio's normal path.

Writes made during one turn of the event loop are held and written together right after it
(`_flush`). Games of one tick slot (`mug.server.ticks`) run in the same turn, so their frames leave
back to back: on loopback, and on a VM, a write that wakes a sleeping reader costs the writer
several times more than one to a reader that is still awake (`python -m benchmarks --only
server_capacity` reports both), and this halved the server's time in socket writes.

This overrides two private methods of python-socketio (`_send_packet`, `_send_eio_packet`);
tests/server/test_transport.py fails loudly if a new version stops calling them, and
pyproject.toml pins python-socketio to the minor version tested (5.18).

Measured against the library's own path (`DirectSocketServer.direct = False`: Engine.IO's
per-connection queue and writer task, Tornado's `write_message`), same server, same simulated
participants, in one run (`python -m benchmarks --only client_capacity`; 2 cores shared with the
clients, 3 game processes, 3 actions/s per player; two runs): at 50 games the stock path gave the
median client a p99 frame inter-arrival of 305 / 240 ms (frames bunched behind the writer tasks)
with this process at 0.60 / 0.65 core, the direct path 47 / 42 ms at 0.43 / 0.37 core; at 100
games the stock path could not keep its connections while 200 participants joined (dropped for
missed Engine.IO pings), the direct path ran them. The direct path stays: by the figures it is
the cheaper and steadier write path. (At 25 games both keep every client at 30 frames/s.)
"""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any

import tornado.iostream
import tornado.websocket
from engineio import packet as eio_packet

from mug.server.web.inbound import InboundChecks

NAMESPACE = "/"


_ENCODE = json.JSONEncoder(separators=(",", ":")).encode  # made once: json.dumps builds one per call


def encode_event(event: str, payload: Any) -> str:
    """A Socket.IO event packet as text (``2["event",payload]``), for `send_encoded`.

    Raises TypeError for payloads that are not plain JSON (bytes go through `emit` instead).
    """
    return "2" + _ENCODE([event, payload])


def websocket_frame(message: str | bytes) -> bytes:
    """One final, unmasked websocket frame (text for str, binary for bytes), as a server sends it.

    RFC 6455, 5.2. Written straight to the connection's stream; without per-message compression
    (turned off in `mug.server.web.app`, and optional for a sender anyway) this is all a message is
    on the wire.
    """
    first = 0x81 if isinstance(message, str) else 0x82  # FIN + text or binary
    data = message.encode() if isinstance(message, str) else message
    size = len(data)
    if size < 126:
        header = bytes((first, size))
    elif size <= 0xFFFF:
        header = struct.pack("!BBH", first, 126, size)
    else:
        header = struct.pack("!BBQ", first, 127, size)
    return header + data


def _write_frame(stream: tornado.iostream.IOStream, frame: bytes) -> None:
    """Write a whole frame to a connection's stream, in order with what the stream has queued.

    When nothing is queued the frame goes to the socket at once (the usual case: the IOStream's
    own write path costs as much Python again); what the socket does not take, and everything
    while something is queued, goes through the stream, which keeps the order.
    """
    if type(stream) is tornado.iostream.IOStream and not stream.writing():  # (not TLS: SSLIOStream)
        try:
            sent = stream.socket.send(frame)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            return  # the connection is broken; its reader runs the disconnect
        if sent == len(frame):
            return
        frame = frame[sent:]
    stream.write(frame).add_done_callback(_retrieve)


def _close_websocket(handler: tornado.websocket.WebSocketHandler, reason: str) -> None:
    """Start the websocket closing handshake: a close frame, 1008 (policy violation) with `reason`.

    Tornado then drops the page's further messages (`InboundChecks.accept_frame` sees it closing),
    and closes the TCP connection when the page answers, or after 5 s.
    """
    if handler.ws_connection is not None:
        handler.close(1008, reason.encode()[:120].decode(errors="ignore"))  # a close reason is <= 123 bytes


def _retrieve(done: asyncio.Future[Any]) -> None:
    """Mark a write's outcome as seen: a connection closing mid-write is handled by its reader."""
    if not done.cancelled():
        done.exception()


class DirectSocketServer(InboundChecks):
    """`socketio.AsyncServer` (Tornado mode) that writes to websocket connections directly.

    What pages send is checked first (`mug.server.web.inbound`); set `on_refused` to hear of refusals.
    """

    direct_writes = 0  # messages written on the direct path (for tests and stats)
    # `direct` (InboundChecks) False serves every packet through python-socketio's own write path
    # (Engine.IO's queue and writer task per connection, Tornado's `write_message`), and reads
    # through Engine.IO's receive queue: the library's way, kept switchable so
    # `python -m benchmarks --only client_capacity` can measure both on the same server.

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending: list[tuple[tornado.websocket.WebSocketHandler, bytes]] = []
        self._queued: set[asyncio.Task[None]] = set()

    def _websocket(self, eio_sid: str) -> tornado.websocket.WebSocketHandler | None:
        """The open websocket of a connection that began as one (None: use the library's path)."""
        if not self.direct:
            return None
        environ = self.environ.get(eio_sid)
        handler = environ.get("tornado.handler") if environ else None
        if isinstance(handler, tornado.websocket.WebSocketHandler) and handler.ws_connection is not None:
            return handler
        return None

    def _write(self, handler: tornado.websocket.WebSocketHandler, frame: bytes) -> None:
        """Write a whole websocket frame to `handler`'s connection after this loop turn."""
        self._pending.append((handler, frame))
        if len(self._pending) == 1:
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """Write this loop turn's frames: a connection's frames in one write, in the order they were made."""
        pending, self._pending = self._pending, []
        by_handler: dict[tornado.websocket.WebSocketHandler, list[bytes]] = {}
        for handler, frame in pending:
            frames = by_handler.get(handler)
            if frames is None:
                by_handler[handler] = [frame]
            else:
                frames.append(frame)  # (e.g. an error event and the failing ack after it: one syscall)
        for handler, frames in by_handler.items():
            connection = handler.ws_connection
            if connection is None or connection.is_closing():
                continue  # the connection is going; its reader runs the disconnect
            try:
                _write_frame(connection.stream, frames[0] if len(frames) == 1 else b"".join(frames))  # type: ignore[attr-defined]
            except tornado.iostream.StreamClosedError:
                continue
            self.direct_writes += len(frames)

    async def _send_packet(self, eio_sid: str, pkt: Any) -> None:
        handler = self._websocket(eio_sid)
        if handler is None:
            await super()._send_packet(eio_sid, pkt)
            return
        encoded = pkt.encode()
        for part in encoded if isinstance(encoded, list) else [encoded]:
            self._write(handler, websocket_frame(part if isinstance(part, bytes) else "4" + part))

    async def _send_eio_packet(self, eio_sid: str, eio_pkt: Any) -> None:
        handler = self._websocket(eio_sid)
        if handler is None:
            await super()._send_eio_packet(eio_sid, eio_pkt)
            return
        self._write(handler, websocket_frame(eio_pkt.encode()))

    async def close_connection(self, eio_sid: str, reason: str) -> None:
        """Close a connection after what was written to it: a websocket's close frame follows this
        loop turn's writes; a long-polling connection closes through Engine.IO."""
        handler = self._websocket(eio_sid)
        if handler is None:
            await super().close_connection(eio_sid, reason)
            return
        # After `_flush`: it was scheduled (call_soon) with the first of this turn's writes.
        asyncio.get_running_loop().call_soon(_close_websocket, handler, reason)

    async def broadcast(self, event: str, payload: dict[str, Any], room: str) -> None:
        """Send one JSON event to every member of `room`, encoded once.

        For high-rate messages (game frames); payloads with binary data go through `emit`.
        """
        try:
            body = encode_event(event, payload)
        except TypeError:  # bytes inside: Socket.IO sends those as binary attachments
            await self.emit(event, payload, room=room)
            return
        self.send_encoded(body, room)

    def send_encoded(self, body: str, room: str) -> None:
        """Send an event already encoded as a Socket.IO packet (``2["event",...]``) to `room`'s members.

        The websocket frame is built once and the same bytes go to every member's stream.
        """
        frame: bytes | None = None
        for _sid, eio_sid in list(self.manager.get_participants(NAMESPACE, room)):
            handler = self._websocket(eio_sid)
            if handler is not None:
                frame = frame or websocket_frame("4" + body)
                self._write(handler, frame)
                continue
            # A long-polling connection: Engine.IO's queue (tasks start in the order they are made).
            task = asyncio.get_running_loop().create_task(
                super()._send_eio_packet(eio_sid, eio_packet.Packet(eio_packet.MESSAGE, body))
            )
            self._queued.add(task)
            task.add_done_callback(self._queued.discard)
