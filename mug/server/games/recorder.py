"""Step recorder: batches the step rows of every game into one transaction every fraction of a second."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from mug.server.writer import StoreWriter

log = logging.getLogger("mug.server.games.recorder")


class StepRecorder:
    """Collects step rows from all games and commits them together, off the event loop.

    One commit per tick per game was the server's largest cost; one commit per interval for every
    game together keeps recording cheap. The commits run on the server's database thread
    (`mug.server.writer`), in order with its other writes. Rows wait at most `interval_s` in memory; `flush()` is
    awaited before a game hands its players on and at shutdown, so results read after a game
    always hold all of its steps.
    """

    def __init__(self, writer: StoreWriter, interval_s: float = 0.2) -> None:
        self.writer = writer
        self.store = writer.store
        self.interval_s = interval_s
        self._rows: list[tuple[Any, ...]] = []
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="mug-recorder")

    def add(self, row: dict[str, Any]) -> None:
        """Queue a game's step row: every field present, payloads already through `to_jsonable`."""
        # Encoding here, a row at a time, spreads the Python work evenly; the writer thread then
        # only runs SQLite, which releases the interpreter lock, so it barely delays game ticks.
        self._rows.append(self.store.encode_step(row, jsonable=True))

    async def flush(self) -> None:
        """Commit every row added so far (in order: one writer, one batch at a time)."""
        async with self._lock:
            rows, self._rows = self._rows, []
            if not rows:
                return
            try:
                await self.writer.call(self.store.add_encoded_steps, rows)
            except BaseException:
                # Not committed (database locked by another program, disk full...): keep the rows,
                # in order, for the next flush; writes are idempotent so a retry never doubles.
                self._rows[:0] = rows
                raise

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.flush()
            except Exception:  # a failed batch is logged; the rows of later batches still go in
                log.exception("recording a batch of steps failed")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
