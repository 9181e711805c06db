"""Waitrooms: the queue of one multiplayer scene, and its matchmaker's decisions, contained.

The waitroom keeps who waits (in order of arrival, with a deadline that a reload does not reset),
builds each one's `mug.matchmaking.MatchCandidate` (round trips, group history, what they answered)
and asks the scene's matchmaker for a group. The matchmaker is the researcher's code: what it
returns is checked (the right number of distinct waiting participants, including the one asked
about, none who must avoid each other), an exception or a wrong answer is recorded and FIFO decides
that time, and a call that takes longer than `DECISION_TIMEOUT_S` makes FIFO decide for the scene
from then on. Starting games, the P2P probe and the match log are the sessions' part
(mug.server.sessions.matching).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mug.matchmaking import (
    DECISION_TIMEOUT_S,
    FIFOMatchmaker,
    Match,
    MatchCandidate,
    Matchmaker,
    PastGroup,
    compatible,
)

log = logging.getLogger("mug.server.sessions.waitroom")


@dataclass
class Waiter:
    participant_id: str
    deadline: float  # event-loop time
    timer: asyncio.TimerHandle | None = None
    history: tuple[PastGroup, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)
    #: Only participants of one pool are grouped together ("": real participants; "simulated").
    pool: str = ""


@dataclass(frozen=True)
class Proposal:
    """A group the matchmaker (or FIFO, standing in for it) proposed, with what the match log keeps."""

    members: list[str]
    reason: str
    #: The candidates as the matchmaker saw them (their round trips go into the log).
    candidates: dict[str, MatchCandidate]
    #: Who decided: the matchmaker's `describe()`, or FIFO's when it stood in.
    matchmaker: dict[str, Any]
    #: Why FIFO stood in for the scene's matchmaker (None: the matchmaker decided).
    fallback: str | None = None


class MatchmakerError(Exception):
    """The matchmaker raised, stalled or returned something that is not a group of waiting participants."""


class Waitroom:
    """The queue of participants waiting for one multiplayer scene's next game.

    A participant keeps their original deadline if they leave (e.g. reload) and come back, so a
    reload neither restarts the countdown nor loses their right to a completion code.
    """

    def __init__(
        self,
        scene_id: str,
        needed: int,
        timeout_s: float,
        on_timeout: Callable[[str], None],
        matchmaker: Matchmaker | None = None,
    ) -> None:
        self.scene_id = scene_id
        self.needed = needed
        self.timeout_s = timeout_s
        self._on_timeout = on_timeout
        self.matchmaker: Matchmaker = matchmaker or FIFOMatchmaker()
        # Built-in matchmakers are quick and are called in the event loop; a researcher's runs in a
        # thread of its own, so one that stalls cannot stall the server.
        self._inline = type(self.matchmaker).__module__ == "mug.matchmaking"
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        #: Why FIFO decides for this scene instead of its matchmaker (it stalled); None while it decides.
        self.replaced: str | None = None
        self._queue: list[Waiter] = []
        self._deadlines: dict[str, float] = {}
        self._avoid: dict[str, set[str]] = {}
        #: Matchmaker errors seen (each distinct message is logged once, and given to `on_error`).
        self.errors: dict[str, int] = {}
        self.on_error: Callable[[str], None] | None = None
        self.lock = asyncio.Lock()  # one matching pass at a time

    @property
    def waiting(self) -> list[str]:
        return [w.participant_id for w in self._queue]

    def waiting_with(self, participant_id: str) -> list[str]:
        """Who waits in the participant's pool (what their page counts): simulated or real ones."""
        pools = {w.participant_id: w.pool for w in self._queue}
        pool = pools.get(participant_id, "")
        return [pid for pid, p in pools.items() if p == pool]

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

    def add(
        self,
        participant_id: str,
        history: Sequence[PastGroup] = (),
        data: Mapping[str, Any] | None = None,
        pool: str = "",
    ) -> None:
        """Queue a participant (no-op if already queued); their timer starts on first entry.

        ``pool``: they are grouped only with participants of the same pool (``"simulated"`` for
        simulated participants, ``""`` for everyone else).
        """
        if participant_id in self:
            return
        loop = asyncio.get_running_loop()
        deadline = self._deadlines.setdefault(participant_id, loop.time() + self.timeout_s)
        waiter = Waiter(participant_id, deadline, history=tuple(history), data=dict(data or {}), pool=pool)
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

    def take(self, members: Sequence[str]) -> list[Waiter]:
        """Take a proposed group out of the queue (their timers stop; a dissolved group comes back
        with `put_back` and keeps its deadlines)."""
        taken = [w for w in self._queue if w.participant_id in members]
        for waiter in taken:
            if waiter.timer is not None:
                waiter.timer.cancel()
            self._queue.remove(waiter)
        return taken

    def put_back(self, waiters: Sequence[Waiter]) -> None:
        """A dissolved group goes back to the front of the queue, in its order, with its deadlines."""
        loop = asyncio.get_running_loop()
        for waiter in waiters:
            waiter.timer = loop.call_at(waiter.deadline, self._expire, waiter.participant_id)
        self._queue[:0] = list(waiters)

    def started(self, members: Sequence[str]) -> None:
        """A group taken out of the queue plays: their deadlines are done with."""
        for pid in members:
            self._deadlines.pop(pid, None)

    def avoid(self, members: Sequence[str]) -> None:
        """These participants are not to be grouped together again (their P2P probe failed)."""
        for a in members:
            self._avoid.setdefault(a, set()).update(b for b in members if b != a)

    def candidates(self, rtt_samples: Mapping[str, Sequence[float]]) -> list[MatchCandidate]:
        """Everyone waiting, as the matchmaker sees them, in order of arrival."""
        out = []
        for w in self._queue:
            samples = tuple(rtt_samples.get(w.participant_id, ()))
            out.append(
                MatchCandidate(
                    participant_id=w.participant_id,
                    waited_s=round(self.waited_s(w.participant_id), 3),
                    rtt_ms=round(statistics.median(samples), 1) if samples else None,
                    rtt_samples=samples,
                    group_history=w.history,
                    avoid=frozenset(self._avoid.get(w.participant_id, ())),
                    data=w.data,
                )
            )
        return out

    async def propose(self, rtt_samples: Mapping[str, Sequence[float]]) -> Proposal | None:
        """Ask the matchmaker about each waiting participant in order of arrival; the first group proposed.

        Returns None when nobody is grouped now. What the matchmaker gets wrong is noted in
        `errors` (each distinct message once in the server log) and FIFO decides in its place.
        """
        if len(self._queue) < self.needed:
            return None
        candidates = self.candidates(rtt_samples)
        pools = {w.participant_id: w.pool for w in self._queue}
        fifo = FIFOMatchmaker()
        for arriving in candidates:
            # (The matchmaker sees the arriving participant's pool only: simulated or real.)
            pool = [c for c in candidates if pools[c.participant_id] == pools[arriving.participant_id]]
            if len(pool) < self.needed:
                continue
            by_id = {c.participant_id: c for c in pool}
            others = [c for c in pool if c is not arriving]
            fallback = self.replaced
            try:
                if fallback is not None:
                    raise MatchmakerError(fallback)
                decision = await self._decide(arriving, others)
                members, reason = self._check(decision, arriving, by_id)
                matchmaker = self.matchmaker.describe()
            except MatchmakerError as e:
                fallback = str(e)
                self._note(fallback)
                members, reason = self._check(fifo.find_match(arriving, others, self.needed), arriving, by_id)
                matchmaker = fifo.describe()
            if members is not None:
                return Proposal(members, reason, {m: by_id[m] for m in members}, matchmaker, fallback)
        return None

    async def _decide(self, arriving: MatchCandidate, others: list[MatchCandidate]) -> Any:
        name = type(self.matchmaker).__name__
        if self._inline:
            try:
                return self.matchmaker.find_match(arriving, others, self.needed)
            except Exception as e:
                raise MatchmakerError(f"{name}.find_match raised {type(e).__name__}: {e}") from e
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"mug-matchmaker-{self.scene_id}")
        call = asyncio.get_running_loop().run_in_executor(
            self._pool, self.matchmaker.find_match, arriving, others, self.needed
        )
        try:
            return await asyncio.wait_for(call, DECISION_TIMEOUT_S)
        except TimeoutError:
            # (The thread cannot be stopped; the next calls would queue behind it: FIFO from now on.)
            self.replaced = f"{name}.find_match took longer than {DECISION_TIMEOUT_S:g} s; FIFO decides from now on"
            self._pool.shutdown(wait=False)
            self._pool = None
            raise MatchmakerError(self.replaced) from None
        except Exception as e:
            raise MatchmakerError(f"{name}.find_match raised {type(e).__name__}: {e}") from e

    def _check(
        self, decision: Any, arriving: MatchCandidate, by_id: Mapping[str, MatchCandidate]
    ) -> tuple[list[str] | None, str]:
        """The decision as participant ids and a reason; MatchmakerError when it is not a valid group."""
        name = type(self.matchmaker).__name__
        if decision is None:
            return None, ""
        if isinstance(decision, Match):
            members, reason = decision.members, decision.reason
        elif isinstance(decision, (list, tuple)):
            members, reason = decision, ""
        else:
            raise MatchmakerError(
                f"{name}.find_match returned {type(decision).__name__}; expected a Match, a list of candidates "
                "or participant ids, or None"
            )
        if not isinstance(reason, str):
            raise MatchmakerError(f"{name}.find_match: Match.reason must be a string, got {type(reason).__name__}")
        ids = []
        for m in members:
            pid = m.participant_id if isinstance(m, MatchCandidate) else m
            if not isinstance(pid, str):
                raise MatchmakerError(f"{name}.find_match: a member is {type(m).__name__}, not a candidate or an id")
            ids.append(pid)
        if len(ids) != self.needed or len(set(ids)) != len(ids):
            raise MatchmakerError(
                f"{name}.find_match proposed {len(ids)} members ({len(set(ids))} distinct); "
                f"the scene needs {self.needed}"
            )
        strangers = [p for p in ids if p not in by_id]
        if strangers and all(p in self for p in strangers):
            raise MatchmakerError(
                f"{name}.find_match grouped simulated and real participants ({strangers[:3]} are not in "
                f"{arriving.participant_id!r}'s pool); simulated participants play only with each other"
            )
        if strangers:
            raise MatchmakerError(f"{name}.find_match proposed participants who are not waiting: {strangers[:3]}")
        if arriving.participant_id not in ids:
            raise MatchmakerError(f"{name}.find_match proposed a group without the participant it was asked about")
        for i, a in enumerate(ids):
            for b in ids[i + 1 :]:
                if not compatible(by_id[a], by_id[b]):
                    raise MatchmakerError(f"{name}.find_match grouped {a!r} and {b!r}, whose P2P probe failed before")
        return ids, reason

    def _note(self, message: str) -> None:
        if message not in self.errors:
            log.warning("waitroom %r: %s", self.scene_id, message)
            if self.on_error is not None:
                self.on_error(message)
        self.errors[message] = self.errors.get(message, 0) + 1

    def close(self) -> None:
        for waiter in self._queue:
            if waiter.timer is not None:
                waiter.timer.cancel()
        self._queue.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    def _expire(self, participant_id: str) -> None:
        if self.remove(participant_id):
            self._deadlines.pop(participant_id, None)
            self._on_timeout(participant_id)
