"""What the server refuses from clients, counted and written to the data as a summary, not a row each.

Every refused event used to be written as an event row on the server loop: one anonymous client
sent ~24 MB/s of bad `client_records` and grew the database with a row per refusal, and 10,000
bad events raised a concurrent game's p99 tick lateness to 14-17 ms. Now the first refusal of a
participant (or of a connection that has not joined) is written at once, so it is visible; the
rest within `interval_s` are counted and written as one ``refused`` event with a few examples.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from mug.server.writer import StoreWriter

log = logging.getLogger("mug.server.sessions.refusals")

EXAMPLES = 5  # messages kept per summary


@dataclass
class _Tally:
    participant_id: str | None
    sid: str | None
    count: int = 0
    examples: list[dict[str, str]] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None


class Refusals:
    """Counts refusals per participant (or connection) and writes at most one summary per interval."""

    def __init__(self, writer: StoreWriter, interval_s: float = 10.0) -> None:
        self.writer = writer
        self.interval_s = interval_s
        self.total = 0
        self._open: dict[str, _Tally] = {}

    def note(self, participant_id: str | None, sid: str | None, what: str, message: str) -> None:
        """Count one refusal: ``what`` was refused (an event or packet name) because of ``message``."""
        self.total += 1
        key = participant_id if participant_id is not None else f"sid:{sid}"
        example = {"what": what[:64], "message": message[:300]}
        tally = self._open.get(key)
        if tally is None:
            # The first of a series is written (and logged) at once.
            log.warning("refused %r from %s: %s", what[:64], key, message[:300])
            self._write(participant_id, sid, 1, [example])
            tally = self._open[key] = _Tally(participant_id, sid)
            tally.timer = asyncio.get_running_loop().call_later(self.interval_s, self._flush, key)
            return
        tally.count += 1
        if len(tally.examples) < EXAMPLES:
            tally.examples.append(example)

    def _flush(self, key: str) -> None:
        tally = self._open.pop(key, None)
        if tally is not None and tally.count:
            self._write(tally.participant_id, tally.sid, tally.count, tally.examples)

    def _write(self, participant_id: str | None, sid: str | None, count: int, examples: list[dict[str, str]]) -> None:
        data: dict[str, Any] = {"count": count, "examples": examples}
        if sid is not None:
            data["sid"] = sid
        self.writer.event(participant_id, None, "refused", data)

    def close(self) -> None:
        """Write every open summary now (at shutdown)."""
        for key in list(self._open):
            tally = self._open[key]
            if tally.timer is not None:
                tally.timer.cancel()
            self._flush(key)
