"""A TCP proxy on 127.0.0.1 that delays every byte by a fixed time each way: injected round trip
for the P2P benchmarks' server traffic (page load, Socket.IO websocket).

Browsers cannot add latency to a websocket themselves (Chrome's network emulation leaves open
websockets alone), so the benchmarks put this proxy between the page and the MUG server: the page
loads the study from the proxy's port and its Socket.IO connection goes through it. Each chunk
read from one side is written to the other ``delay_ms`` later, in order (a fixed delay, no
jitter, no loss: TCP would hide loss as delay anyway). It runs in a process of its own so its
timers do not share the server's or the browser driver's interpreter:

    python -m benchmarks.p2p_netdelay TARGET_PORT DELAY_MS    # prints "listening PORT", then serves

`DelayProxy` starts and stops that process from a benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parent.parent


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Copy reader → writer, each chunk `delay` seconds after it was read, in order."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    sender = asyncio.create_task(deliver())
    try:
        while True:
            data = await reader.read(65536)
            queue.put_nowait((loop.time() + delay, data))
            if not data:
                break
        await sender
    except (ConnectionError, OSError):
        sender.cancel()


async def _serve(target_port: int, delay_ms: float) -> None:
    delay = delay_ms / 1000

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            client_writer.close()
            return
        for w in (client_writer, server_writer):
            sock = w.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            await asyncio.gather(_pipe(client_reader, server_writer, delay), _pipe(server_reader, client_writer, delay))
        finally:
            for w in (client_writer, server_writer):
                w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"listening {port}", flush=True)
    async with server:
        await server.serve_forever()


class DelayProxy:
    """The proxy in a child process: ``with DelayProxy(server_port, 50) as proxy: proxy.url``."""

    def __init__(self, target_port: int, delay_ms: float) -> None:
        if delay_ms < 0:
            raise ValueError(f"delay_ms must be >= 0, not {delay_ms}")
        self.target_port = target_port
        self.delay_ms = delay_ms
        self.port = 0
        self._process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        """The study's address through the proxy."""
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> DelayProxy:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.p2p_netdelay", str(self.target_port), str(self.delay_ms)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline().split()
        if len(line) != 2 or line[0] != "listening":
            self.stop()
            raise RuntimeError(f"the delay proxy did not start (it said {line!r})")
        self.port = int(line[1])
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def __enter__(self) -> DelayProxy:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python -m benchmarks.p2p_netdelay TARGET_PORT DELAY_MS")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(int(sys.argv[1]), float(sys.argv[2])))
