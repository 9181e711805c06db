"""Where a server-authoritative game's env steps run: on the event loop when quick, else its worker thread.

A game's steps start on the worker thread, timed: a game whose steps are quick (median under 2 ms
of CPU over its first 30 steps) then steps on the event loop, where a small env's step costs less
than the thread hand-off around it. A slow env stays on its thread, and steps on the loop that
turn slow send the game back to the thread for good, so a slow env delays only its own game's
ticks, except for at most two steps of an env that turns slow later.

Wall time alone would misjudge a quick step that waited for the interpreter lock or for a core
(the process preempted), and CPU time alone misses an env that waits (a sleep, a native call that
releases the lock), so both are read, with room for waits: a probe is quick when its median CPU
time is under the budget and its median wall time under ten budgets; on the loop, a step is slow
when its CPU time is over the budget or its wall time over five, and two slow steps in a row (one
may be a garbage collection) send the game to its thread for good.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

log = logging.getLogger("mug.server.games.placement")

INLINE_STEP_BUDGET_S = 0.002
PROBE_STEPS = 30

T = TypeVar("T")


class StepPlacement:
    """Runs one game's env steps where they belong, and learns where that is from their timings."""

    def __init__(self, name: str) -> None:
        self.name = name  # names the game in the log line when it moves
        self.where: Literal["probing", "loop", "thread"] = "probing"  # "thread" is for good
        self._probe: list[tuple[float, float]] = []  # (wall, CPU) seconds of the timed steps
        self._slow_last = False

    async def run(self, step: Callable[[], T], in_worker: Callable[[Callable[[], Any]], Awaitable[Any]]) -> T:
        """Run `step` on the loop or through `in_worker` (the game's worker thread), timed."""
        if self.where == "loop":
            wall, cpu = time.perf_counter(), time.thread_time()
            out = step()
            wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
            slow = cpu > INLINE_STEP_BUDGET_S or wall > 5 * INLINE_STEP_BUDGET_S
            if slow and self._slow_last:
                self.where = "thread"
                log.warning("%s: an env step took %.1f ms; it now steps on a worker thread", self.name, wall * 1000)
            self._slow_last = slow
            return out

        def timed() -> tuple[T, float, float]:
            wall, cpu = time.perf_counter(), time.thread_time()
            out = step()
            return out, time.perf_counter() - wall, time.thread_time() - cpu

        out, wall, cpu = await in_worker(timed)
        if self.where == "probing":
            self._probe.append((wall, cpu))
            if len(self._probe) >= PROBE_STEPS:
                quick = (
                    statistics.median(c for _, c in self._probe) < INLINE_STEP_BUDGET_S
                    and statistics.median(w for w, _ in self._probe) < 10 * INLINE_STEP_BUDGET_S
                )
                self.where = "loop" if quick else "thread"
        return out  # type: ignore[no-any-return]
