"""The server's database thread: every store call the server makes runs on one thread of its own, in order.

SQLite calls block. Made on the event loop, they delayed every game on it: in a hostile-client
review, 10,000 refused events (each written as a row) raised a concurrent game's p99 tick lateness
from 2-4 ms to 14-17 ms, and 500 joins raised it to 25-30 ms. Here the loop only hands a call to
the thread (a few microseconds) and awaits the result where it needs one (a reply that
acknowledges a write is sent after the commit). One thread keeps the calls in the order they were
made, so a read sees every write made before it and an episode's record follows its steps. Events
(`event`) are the exception: those of one loop turn are written together after it, so they may
land after calls made later in that turn (nothing reads them back in between; `drain` writes them).

A database that is down longer than the store's own reconnecting covers (PostgreSQL restarted,
failed over: `mug.data.backends.DatabaseUnavailable`) does not lose what nobody awaits: a write
made with `submit` or `event` is held, in order, and tried again before the thread's next call
(and once more at `close`); an awaited `call` fails, and its caller answers with an error, as the
page's outbox and the step recorder resend what was not acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from mug.data import RecordError, Store
from mug.data.backends import DatabaseUnavailable

log = logging.getLogger("mug.server.writer")

T = TypeVar("T")

#: Seconds between tries of the writes held while the database is unavailable.
RETRY_S = 1.0


class StoreWriter:
    """Runs `Store` calls on one thread: `call` awaits the result, `submit` does not wait."""

    def __init__(self, store: Store, *, host: str | None = None) -> None:
        self.store = store
        #: The server these writes come from when several share the store (`mug.server.cluster`):
        #: the games it starts are recorded as run by it, so its games can be closed if it dies.
        self.host = host
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mug-store")
        self._events: list[tuple[Any, ...]] = []
        # Writes nobody awaits that met an unavailable database, in order (only the thread uses it).
        self._held: deque[tuple[str, Callable[[], Any]]] = deque()
        self._nudging = False  # a retry is scheduled (one at a time; only the thread uses it)

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on the database thread after every call made before it."""
        future = self._executor.submit(self._after_held, functools.partial(fn, *args, **kwargs))
        return await asyncio.wrap_future(future)

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Run ``fn`` on the database thread without waiting; a failure is logged with what it was,
        and a write that met an unavailable database is held and tried again (module docstring)."""
        what = getattr(fn, "__name__", repr(fn))
        future = self._executor.submit(self._or_hold, what, functools.partial(fn, *args, **kwargs))
        future.add_done_callback(functools.partial(_log_failure, what))

    @property
    def held(self) -> int:
        """How many writes wait for the database to be back."""
        return len(self._held)

    def _retry_held(self) -> bool:
        """On the database thread: the held writes, in order, while the database takes them; whether all went."""
        while self._held:
            what, job = self._held[0]
            try:
                job()
            except DatabaseUnavailable:
                return False
            except Exception as exc:  # (refused for itself, not for the database: not held again)
                log.error("held database call %s failed: %s: %s", what, type(exc).__name__, exc, exc_info=exc)
            self._held.popleft()
            if not self._held:
                log.warning("the database is back: every held write is stored")
        return True

    def _after_held(self, job: Callable[[], T]) -> T:
        self._retry_held()  # (an awaited call after held writes: they go first, or it fails as they did)
        return job()

    def _or_hold(self, what: str, job: Callable[[], Any]) -> None:
        if self._retry_held():
            try:
                job()
                return
            except DatabaseUnavailable as exc:
                log.warning("the database is unavailable; writes are held until it is back: %s", exc)
        self._held.append((what, job))
        if not self._nudging:
            self._nudge_later()

    def _nudge_later(self) -> None:
        """Try the held writes again in `RETRY_S` seconds, also when nothing else is written meanwhile."""
        self._nudging = True

        def retry() -> None:
            self._nudging = False
            if not self._retry_held():
                self._nudge_later()

        def nudge() -> None:
            with contextlib.suppress(RuntimeError):  # (the thread has stopped: `close` tried them)
                self._executor.submit(retry)

        timer = threading.Timer(RETRY_S, nudge)
        timer.daemon = True
        timer.start()

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
        """Run what is queued (held writes get a last try), then stop the thread (the store stays open)."""
        self._flush_events()
        self._executor.submit(self._last_try)
        self._executor.shutdown(wait=True)

    def _last_try(self) -> None:
        if not self._retry_held():
            log.error("the database is still unavailable: %d held writes are lost", len(self._held))


def _log_failure(what: str, future: Future[Any]) -> None:
    if future.cancelled():
        return
    exc = future.exception()
    if exc is not None:
        log.error("database call %s failed: %s: %s", what, type(exc).__name__, exc, exc_info=exc)
