"""Tick phases: when in its frame interval each server-authoritative game ticks.

Games matched at the same moment would otherwise tick at the same instant forever, so the last
of them always waits for all the others (tick lateness grows with the size of the crowd). Each
game instead takes the least-used of 16 phase slots of its frame rate's interval. Games that
share a slot tick back to back, which keeps each burst of socket writes short; slots spread the
bursts across the interval.

Game processes (`serve(game_processes=N)`) each have their own slots, shifted by a fraction of a
slot (process i of N by i/N), so the processes' bursts take turns rather than all waking at the
same instants and competing for the cores: on the 2-core benchmark machine this brought the p99
tick lateness of 200 games from 3.9–6.6 ms to 3.4–4.0 ms in four runs each.

A game's own clock (:class:`FrameClock`) keeps its ticks a frame period apart on that schedule and,
after a slow step or a busy loop, realigns rather than running the ticks it missed back to back
(which showed the participant a fast-forward: a 10 fps game recorded its first steps 8 ms apart).

The games of one slot wait for the same instants, so they wait on one timer (:func:`sleep_until`):
one timer handle and heap entry per instant instead of one per game per tick
(``asyncio.sleep``'s). On the 2-core machine, 25 games ticking at 30 fps with no work in the tick
cost their event loop 0.067-0.068 core with a sleep each and 0.049-0.061 core with a shared timer
(load average 9.6: other programs held most of the machine).
"""

from __future__ import annotations

import asyncio
import math
import weakref
from collections import Counter, deque
from collections.abc import Callable

SLOTS_PER_INTERVAL = 16


class TickPhases:
    """Hands out (and takes back) a phase slot per game, the least-used slot of its frame rate."""

    def __init__(self, slots: int = SLOTS_PER_INTERVAL, shift: float = 0.0) -> None:
        if slots < 1:
            raise ValueError(f"slots must be at least 1, not {slots}")
        if not 0.0 <= shift < 1.0:
            raise ValueError(f"shift is a fraction of a slot, from 0 up to (not including) 1, not {shift}")
        self.slots = slots
        self.shift = shift
        self._used: dict[float, Counter[int]] = {}

    def take(self, fps: float) -> int:
        """A slot for a new game at `fps` (give it back with `release`)."""
        used = self._used.setdefault(fps, Counter())
        slot = min(range(self.slots), key=lambda s: (used[s], s))
        used[slot] += 1
        return slot

    def release(self, fps: float, slot: int) -> None:
        used = self._used.get(fps)
        if used is not None and used[slot] > 0:
            used[slot] -= 1

    def first_tick(self, fps: float, slot: int, now: float) -> float:
        """The first time after `now` that falls on `slot` of the shared schedule for `fps`.

        Times are on one clock (the event loop's), so every game in a slot ticks at the same instants.
        """
        interval = 1.0 / fps
        offset = (slot + self.shift) * interval / self.slots
        return offset + math.ceil((now - offset) / interval) * interval


class FrameClock:
    """When a game's next tick is due: one frame period after the last, on the game's schedule.

    A frame should reach the participant about a frame period after the one before. When that
    cannot hold — the loop is more than half a period behind the schedule, or a step took so much
    longer than usual that the next frame would follow the last one within half a period — the
    clock **realigns**: the next tick is the first instant of the schedule at least a period from
    now, and the ticks missed are skipped (never run back to back: that is a fast-forward).

    ``first_tick(now)`` gives the first instant of the game's schedule at least a period after
    ``now`` (see :meth:`TickPhases.first_tick`). Times are the event loop's clock.
    """

    #: Steps whose durations make "usual" (the shortest of them is taken, see `due_at`).
    RECENT_STEPS = 8

    def __init__(self, fps: float, first_tick: Callable[[float], float]) -> None:
        self.period = 1.0 / fps
        self._first_tick = first_tick
        self._durations: deque[float] = deque(maxlen=self.RECENT_STEPS)
        self._last_frame: float | None = None
        self.due = 0.0

    def start(self, now: float) -> None:
        """Start (or restart, after a pause or a reset) the ticks: the first is a period or so on."""
        self.due = self._first_tick(now)
        self._last_frame = None

    def resume(self, now: float) -> None:
        """Tick now (on the schedule's latest instant), as after a pause: the next is a period on."""
        self.due = self._first_tick(now) - self.period
        self._last_frame = None

    def due_at(self, now: float) -> tuple[float, float]:
        """When the next tick is due, realigning first if needed; and how far (s) the schedule slipped.

        The slip (0 when the tick keeps its time) is how late the tick would have started.
        """
        behind = now - self.due
        if behind > self.period / 2 or self._too_soon(now):
            self.due = self._first_tick(now)
            return self.due, max(behind, 0.0)
        return self.due, 0.0

    def _too_soon(self, now: float) -> bool:
        # The next frame goes out about a usual step's time after the tick starts; the shortest recent
        # step is "usual" (a slow one is the exception this guards against).
        if self._last_frame is None or not self._durations:
            return False
        next_frame = max(self.due, now) + min(self._durations)
        return next_frame - self._last_frame < self.period / 2

    def stepped(self, started: float, ended: float) -> None:
        """A tick that started at ``started`` sent its frame at ``ended``; the next is a period on."""
        self._durations.append(max(0.0, ended - started))
        self._last_frame = ended
        self.due += self.period


class _Alarms:
    """One event loop's shared tick timers: a timer per instant, waking every future waiting for it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waiting: dict[float, list[asyncio.Future[None]]] = {}

    def wait(self, when: float) -> asyncio.Future[None]:
        # Games of one slot compute their instants with different rounding (they started at
        # different ticks), so instants are shared on a microsecond grid, rounded up: never early.
        at = math.ceil(when * 1e6) / 1e6
        if at < when:  # (float rounding at a grid point)
            at = when
        # Each waiter has its own future, so a game cancelled while it waits cancels only its own.
        future = self._loop.create_future()
        waiting = self._waiting.get(at)
        if waiting is None:
            waiting = self._waiting[at] = []
            self._loop.call_at(at, self._ring, at)
        waiting.append(future)
        return future

    def _ring(self, when: float) -> None:
        for future in self._waiting.pop(when, ()):
            if not future.done():
                future.set_result(None)


_alarms: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Alarms] = weakref.WeakKeyDictionary()


async def sleep_until(when: float) -> None:
    """Sleep until the running loop's clock reads `when`, on a timer shared with every game due then.

    Like ``asyncio.sleep(when - loop.time())``: returns at once when `when` has passed, never
    before `when`, and at most a microsecond after it (the grid the instants are shared on; the
    loop's own wake-ups are a millisecond apart at best).
    """
    loop = asyncio.get_running_loop()
    if when <= loop.time():
        return
    alarms = _alarms.get(loop)
    if alarms is None:
        alarms = _alarms[loop] = _Alarms(loop)
    await alarms.wait(when)
