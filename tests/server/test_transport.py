"""The direct websocket path: Socket.IO packets written straight to the connection, in order."""

from __future__ import annotations

import asyncio
import threading

import socketio
from helpers import eventually, run_async

from mug import Experiment, StartScene, StaticScene


def _experiment(tmp_path) -> Experiment:
    return Experiment("transport", [StartScene().scene("a"), StaticScene().scene("b")], data_dir=tmp_path)


def _join(client: socketio.Client, participant: str) -> dict:
    reply = client.call("join", {"query": {"participant": participant}})
    assert reply["ok"], reply
    return reply


def test_a_websocket_connection_gets_its_messages_on_the_direct_path_in_order(tmp_path) -> None:
    received: list[int] = []
    done = threading.Event()
    client = socketio.Client(reconnection=False)

    @client.on("n")
    def on_n(payload: dict) -> None:
        received.append(payload["i"])
        if payload["i"] == 299:
            done.set()

    with _experiment(tmp_path).serve() as server:
        before = server.sio.direct_writes
        client.connect(server.url, transports=["websocket"], socketio_path="socket.io")
        try:
            _join(client, "p1")  # the reply (an ack) is itself written directly
            assert server.sio.direct_writes > before

            async def interleave() -> None:
                # Broadcasts (encoded once) and python-socketio's own emits, alternating.
                for i in range(300):
                    if i % 2:
                        await server.sio.broadcast("n", {"i": i}, room="participant:p1")
                    else:
                        await server.sio.emit("n", {"i": i}, room="participant:p1")

            asyncio.run_coroutine_threadsafe(interleave(), server._loop).result(10)
            assert done.wait(10)
        finally:
            client.disconnect()
    assert received == list(range(300))


def test_a_connection_that_began_with_long_polling_keeps_the_normal_path(tmp_path) -> None:
    client = socketio.Client(reconnection=False)
    received: list[int] = []
    client.on("n", lambda payload: received.append(payload["i"]))
    try:
        with _experiment(tmp_path).serve() as server:
            client.connect(server.url, transports=["polling"], socketio_path="socket.io")
            before = server.sio.direct_writes
            assert _join(client, "p2")["scene"]["scene_id"] == "a"
            asyncio.run_coroutine_threadsafe(
                server.sio.broadcast("n", {"i": 7}, room="participant:p2"), server._loop
            ).result(10)
            eventually(lambda: received == [7], timeout=10)
            assert server.sio.direct_writes == before  # nothing was written around Engine.IO's queue
    finally:
        # (after the server closed the session: a polling client's own disconnect waits out its poll)
        client.disconnect()


def test_binary_payloads_go_through_socketio_attachments(tmp_path) -> None:
    client = socketio.Client(reconnection=False)
    received: list[bytes] = []
    client.on("blob", lambda payload: received.append(payload["data"]))
    with _experiment(tmp_path).serve() as server:
        client.connect(server.url, transports=["websocket"], socketio_path="socket.io")
        try:
            _join(client, "p3")
            asyncio.run_coroutine_threadsafe(
                server.sio.broadcast("blob", {"data": b"\x00\x01png"}, room="participant:p3"), server._loop
            ).result(10)
            eventually(lambda: received == [b"\x00\x01png"], timeout=10)
        finally:
            client.disconnect()


def test_broadcast_frames_of_every_length_class_arrive_intact(tmp_path) -> None:
    """Frames are built once and written to each stream: short, 16-bit and 64-bit lengths (RFC 6455)."""
    sizes = [10, 300, 70_000]
    received: list[str] = []
    client = socketio.Client(reconnection=False)
    client.on("blob", lambda payload: received.append(payload["text"]))
    with _experiment(tmp_path).serve() as server:
        client.connect(server.url, transports=["websocket"], socketio_path="socket.io")
        try:
            _join(client, "p4")
            for size in sizes:
                asyncio.run_coroutine_threadsafe(
                    server.sio.broadcast("blob", {"text": "é" * size}, room="participant:p4"), server._loop
                ).result(10)
            eventually(lambda: len(received) == len(sizes), timeout=10)
        finally:
            client.disconnect()
    assert received == ["é" * size for size in sizes]


def test_a_frame_the_socket_takes_only_in_part_is_finished_in_order_by_the_stream() -> None:
    """_write_frame sends straight to the socket; what does not fit waits in the stream, ahead of later frames."""
    import socket

    import tornado.iostream

    from mug.server.web.transport import _write_frame

    async def scenario() -> bytes:
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        theirs.setblocking(False)
        stream = tornado.iostream.IOStream(ours)
        big, small = b"a" * 4_000_000, b"b" * 1000  # big is more than a socket buffer holds
        _write_frame(stream, big)
        assert stream.writing()  # the rest of `big` waits in the stream...
        _write_frame(stream, small)  # ...and `small` queues behind it, not straight to the socket
        loop = asyncio.get_running_loop()
        received = bytearray()
        while len(received) < len(big) + len(small):
            received += await loop.sock_recv(theirs, 1 << 20)
        stream.close()
        theirs.close()
        return bytes(received)

    assert run_async(scenario()) == b"a" * 4_000_000 + b"b" * 1000


def test_with_the_direct_path_off_a_websocket_connection_gets_its_messages_through_socketio_in_order(tmp_path) -> None:
    # The switch the client_capacity benchmark uses to measure python-socketio's own write path.
    received: list[int] = []
    done = threading.Event()
    client = socketio.Client(reconnection=False)

    @client.on("n")
    def on_n(payload: dict) -> None:
        received.append(payload["i"])
        if payload["i"] == 299:
            done.set()

    with _experiment(tmp_path).serve() as server:
        server.sio.direct = False
        before = server.sio.direct_writes
        client.connect(server.url, transports=["websocket"], socketio_path="socket.io")
        try:
            _join(client, "p3")

            async def interleave() -> None:
                for i in range(300):
                    if i % 2:
                        await server.sio.broadcast("n", {"i": i}, room="participant:p3")
                    else:
                        await server.sio.emit("n", {"i": i}, room="participant:p3")

            asyncio.run_coroutine_threadsafe(interleave(), server._loop).result(10)
            assert done.wait(10)
        finally:
            client.disconnect()
        assert server.sio.direct_writes == before  # nothing took the direct path
    assert received == list(range(300))
