"""The server's database thread: every store call the server makes runs on one thread of its own, in order.

SQLite calls block. Made on the event loop, they delayed every game on it: in a hostile-client
review, 10,000 refused events (each written as a row) raised a concurrent game's p99 tick lateness
from 2-4 ms to 14-17 ms, and 500 joins raised it to 25-30 ms. Here the loop only hands a call to
the thread (a few microseconds) and awaits the result where it needs one (a reply that
acknowledges a write is sent after the commit). One thread keeps the calls in the order they were
made, so a read sees every write made before it and an episode's record follows its steps. Events
(`event`) are the exception: those of one loop turn are written together after it, so they may
land after calls made later in that turn (nothing reads them back in between; `drain` writes them).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from mug.data import RecordError, Store

log = logging.getLogger("mug.server.writer")

T = TypeVar("T")


class StoreWriter:
    """Runs `Store` calls on one thread: `call` awaits the result, `submit` does not wait."""

    def __init__(self, store: Store, *, host: str | None = None) -> None:
        self.store = store
        #: The server these writes come from when several share the store (`mug.server.cluster`):
        #: the games it starts are recorded as run by it, so its games can be closed if it dies.
        self.host = host
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mug-store")
        self._events: list[tuple[Any, ...]] = []

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on the database thread after every call made before it."""
        future = self._executor.submit(functools.partial(fn, *args, **kwargs))
        return await asyncio.wrap_future(future)

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Run ``fn`` on the database thread without waiting; a failure is logged with what it was."""
        future = self._executor.submit(functools.partial(fn, *args, **kwargs))
        future.add_done_callback(functools.partial(_log_failure, getattr(fn, "__name__", repr(fn))))

    def event(self, participant_id: str | None, scene_id: str | None, kind: str, data: Mapping[str, Any]) -> None:
        """Log an event (timestamped now) without waiting for its commit.

        The events of one turn of the event loop go to the database thread together, after it:
        handing a call to the thread wakes it, which costs the loop ~0.1 ms on this machine.
        """
        self._events.append((participant_id, scene_id, kind, dict(data), time.time()))
        if len(self._events) == 1:
            asyncio.get_running_loop().call_soon(self._flush_events)

    def _flush_events(self) -> None:
        events, self._events = self._events, []
        if events:
            self.submit(self._write_events, events)

    def _write_events(self, events: list[tuple[Any, ...]]) -> None:
        """On the database thread: the events together, or one by one if one of them is refused."""
        try:
            self.store.add_events(events)
        except RecordError:
            for event in events:
                try:
                    self.store.add_event(*event)
                except RecordError as exc:
                    log.error("an event could not be recorded: %s", exc)

    async def drain(self) -> None:
        """Wait until every call made so far has run (and every event logged so far is written)."""
        self._flush_events()
        await self.call(lambda: None)

    def close(self) -> None:
        """Run what is queued, then stop the thread (the store itself stays open)."""
        self._flush_events()
        self._executor.shutdown(wait=True)


def _log_failure(what: str, future: Future[Any]) -> None:
    if future.cancelled():
        return
    exc = future.exception()
    if exc is not None:
        log.error("database call %s failed: %s: %s", what, type(exc).__name__, exc, exc_info=exc)
