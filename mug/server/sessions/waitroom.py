"""Waitrooms: first come, first served matching of participants into multiplayer games."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Waiter:
    participant_id: str
    deadline: float  # event-loop time
    timer: asyncio.TimerHandle | None = None


class Waitroom:
    """The queue of participants waiting for one multiplayer scene's next game.

    A participant keeps their original deadline if they leave (e.g. reload) and come back, so a
    reload neither restarts the countdown nor loses their right to a completion code.
    """

    def __init__(self, scene_id: str, needed: int, timeout_s: float, on_timeout: Callable[[str], None]) -> None:
        self.scene_id = scene_id
        self.needed = needed
        self.timeout_s = timeout_s
        self._on_timeout = on_timeout
        self._queue: list[Waiter] = []
        self._deadlines: dict[str, float] = {}

    @property
    def waiting(self) -> list[str]:
        return [w.participant_id for w in self._queue]

    def __contains__(self, participant_id: object) -> bool:
        return any(w.participant_id == participant_id for w in self._queue)

    def seconds_left(self, participant_id: str) -> float:
        loop = asyncio.get_running_loop()
        return max(0.0, self._deadlines.get(participant_id, loop.time()) - loop.time())

    def waited_s(self, participant_id: str) -> float:
        """How long a queued participant has been waiting in all (across leaving and coming back)."""
        loop = asyncio.get_running_loop()
        deadline = self._deadlines.get(participant_id)
        return 0.0 if deadline is None else max(0.0, loop.time() - (deadline - self.timeout_s))

    def add(self, participant_id: str) -> None:
        """Queue a participant (no-op if already queued); their timer starts on first entry."""
        if participant_id in self:
            return
        loop = asyncio.get_running_loop()
        deadline = self._deadlines.setdefault(participant_id, loop.time() + self.timeout_s)
        waiter = Waiter(participant_id, deadline)
        waiter.timer = loop.call_at(deadline, self._expire, participant_id)
        self._queue.append(waiter)

    def remove(self, participant_id: str) -> bool:
        """Take a participant out of the queue (they left); True if they were in it."""
        for waiter in self._queue:
            if waiter.participant_id == participant_id:
                if waiter.timer is not None:
                    waiter.timer.cancel()
                self._queue.remove(waiter)
                return True
        return False

    def take_group(self) -> list[str] | None:
        """The first `needed` participants, removed from the queue, once that many wait."""
        if len(self._queue) < self.needed:
            return None
        group = self._queue[: self.needed]
        del self._queue[: self.needed]
        for waiter in group:
            if waiter.timer is not None:
                waiter.timer.cancel()
            self._deadlines.pop(waiter.participant_id, None)
        return [w.participant_id for w in group]

    def close(self) -> None:
        for waiter in self._queue:
            if waiter.timer is not None:
                waiter.timer.cancel()
        self._queue.clear()

    def _expire(self, participant_id: str) -> None:
        if self.remove(participant_id):
            self._deadlines.pop(participant_id, None)
            self._on_timeout(participant_id)
