"""A page's Socket.IO connection spoken by hand on a raw websocket, for the tests of what hostile packets get.

Each Engine.IO packet is one websocket message (Engine.IO and Socket.IO framing written out), so a
test can send exactly what a browser never would (tests/server/test_inbound.py, test_inbound_fuzz.py).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tornado.websocket import WebSocketClientConnection, WebSocketClosedError, websocket_connect

__all__ = ["Raw", "errors_in"]


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
