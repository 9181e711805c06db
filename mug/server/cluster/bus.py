"""Messages from one server of an experiment to another: each server has a channel, read in order.

A game runs on one server while a player may be connected to another; whatever crosses (an
action, a frame already encoded for the page, a game's end) goes as a message to the other
server's channel. Messages sent in one turn of the event loop to one server leave together as one
batch (as the game-process pipe and the transport batch theirs): at a game's frame rate a
publish per message would cost more than the messages. Order is kept per sender and receiver.

`LocalBus` delivers within this process (servers of one process: tests, the embedded case);
`RedisBus` through Redis pub/sub (``mug:<experiment>:server:<id>``). A message to a server that
is gone is lost, as a frame to a closed socket is: what must survive goes through the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from mug.data.backends import redact_url
from mug.server.cluster.state import StateError, check_redis_url

__all__ = ["Bus", "LocalBus", "RedisBus", "open_bus"]

log = logging.getLogger("mug.server.cluster.bus")

Handler = Callable[[dict[str, Any]], None]


class Bus(ABC):
    """Send messages (JSON-able dicts) to a server by id; receive this server's own, in order."""

    def __init__(self) -> None:
        self._held: dict[str, list[dict[str, Any]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def send(self, server_id: str, message: dict[str, Any]) -> None:
        """Queue ``message`` for ``server_id``; it leaves with the others of this loop turn (call on the loop)."""
        held = self._held.get(server_id)
        if held is None:
            held = self._held[server_id] = []
            if len(self._held) == 1:
                if self._loop is None:
                    self._loop = asyncio.get_running_loop()
                self._loop.call_soon(self._flush)
        held.append(message)

    def _flush(self) -> None:
        batches, self._held = self._held, {}
        for server_id, batch in batches.items():
            self._publish(server_id, json.dumps(batch, separators=(",", ":")))

    @abstractmethod
    def _publish(self, server_id: str, text: str) -> None:
        """Send one batch (a JSON list of messages) to ``server_id``'s channel."""

    @abstractmethod
    async def listen(self, server_id: str, handler: Handler) -> None:
        """Deliver every message sent to ``server_id`` to ``handler``, in order, on the running loop."""

    async def close(self) -> None:
        """Stop listening and release connections."""
        self._flush()


class LocalBus(Bus):
    """Channels inside this process. Servers of one process share a namespace (the experiment id)."""

    # Every listening server of this process, by (namespace, server id).
    _registry: ClassVar[dict[tuple[str, str], tuple[asyncio.AbstractEventLoop, Handler]]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, namespace: str) -> None:
        super().__init__()
        self.namespace = namespace
        self._listening: str | None = None

    def _publish(self, server_id: str, text: str) -> None:
        with self._lock:
            target = self._registry.get((self.namespace, server_id))
        if target is None:
            return  # gone: lost, like a frame to a closed socket
        loop, handler = target

        def deliver() -> None:
            for message in json.loads(text):
                handler(message)

        with contextlib.suppress(RuntimeError):  # its loop closed: gone
            loop.call_soon_threadsafe(deliver)

    async def listen(self, server_id: str, handler: Handler) -> None:
        with self._lock:
            self._registry[(self.namespace, server_id)] = (asyncio.get_running_loop(), handler)
        self._listening = server_id

    async def close(self) -> None:
        await super().close()
        if self._listening is not None:
            with self._lock:
                self._registry.pop((self.namespace, self._listening), None)
            self._listening = None


class RedisBus(Bus):
    """Channels in Redis pub/sub: servers on any machine that reach the same Redis."""

    def __init__(self, url: str, namespace: str) -> None:
        import redis.asyncio as redis_asyncio  # the optional 'cluster' extra

        super().__init__()
        self.url = check_redis_url(url)
        self._prefix = f"mug:{namespace}:server:"
        self._redis = redis_asyncio.Redis.from_url(url, socket_connect_timeout=5.0)
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._publishes: asyncio.Queue[tuple[str, str]] | None = None
        self._publisher: asyncio.Task[None] | None = None

    def _publish(self, server_id: str, text: str) -> None:
        if self._publishes is None:
            self._publishes = asyncio.Queue()
            self._publisher = asyncio.get_running_loop().create_task(self._publish_in_order())
        self._publishes.put_nowait((self._prefix + server_id, text))

    async def _publish_in_order(self) -> None:
        assert self._publishes is not None
        while True:
            channel, text = await self._publishes.get()
            try:
                await self._redis.publish(channel, text)
            except Exception:
                log.warning("publishing to %s at %s failed", channel, redact_url(self.url), exc_info=True)
            finally:
                self._publishes.task_done()

    async def listen(self, server_id: str, handler: Handler) -> None:
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await self._pubsub.subscribe(self._prefix + server_id)
        except Exception as exc:
            raise StateError(f"Redis at {redact_url(self.url)} refused a subscription: {exc}") from exc

        async def read() -> None:
            while True:
                try:
                    message = await self._pubsub.get_message(timeout=None)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.warning("reading this server's channel at %s failed", redact_url(self.url), exc_info=True)
                    await asyncio.sleep(0.5)
                    continue
                if message is None or message.get("type") != "message":
                    continue
                for item in json.loads(message["data"]):
                    try:
                        handler(item)
                    except Exception:
                        log.exception("a message from another server could not be handled: %.200r", item)

        self._reader = asyncio.get_running_loop().create_task(read())

    async def close(self) -> None:
        await super().close()
        if self._publishes is not None:
            # What was queued leaves before the connection closes (a dead Redis does not hold us up).
            try:
                await asyncio.wait_for(self._publishes.join(), timeout=2.0)
            except asyncio.TimeoutError:
                log.warning("messages to other servers were still queued when this server stopped")
        for task in (self._reader, self._publisher):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self._pubsub is not None:
            await self._pubsub.aclose()
        await self._redis.aclose()


def open_bus(url: str | None, namespace: str) -> Bus:
    """The bus for an experiment's servers: in process (``url=None``) or over Redis."""
    return LocalBus(namespace) if url is None else RedisBus(url, namespace)
