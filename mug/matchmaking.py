"""Matchmakers: who plays with whom in a multiplayer scene's waitroom.

A matchmaker is the one replaceable decision of the waitroom: given the participant the waitroom is
looking at (``arriving``) and the others waiting, propose a group or keep waiting. The waitroom
(``mug.server.sessions.waitroom``) does everything around it — the queue, the clock, the round trip
samples, the group history, the P2P probe, the match log — and contains it: a matchmaker that
raises, returns a group that is not one, or takes longer than `DECISION_TIMEOUT_S` is logged and
FIFO decides instead, so nobody waits forever because of a matchmaker.

Ready-made: `FIFOMatchmaker` (the default), `LatencyFIFOMatchmaker` (groups whose estimated round
trips are within a bound) and `GroupReunionMatchmaker` (the same groups as in an earlier scene).
A researcher's own is a subclass with one method::

    class ByCondition(mug.Matchmaker):
        def find_match(self, arriving, waiting, group_size):
            same = [c for c in waiting if c.data.get("condition") == arriving.data.get("condition")]
            if len(same) < group_size - 1:
                return None
            return mug.Match([arriving, *same[: group_size - 1]], reason="same condition")

The names follow the system MUG replaces (``find_match(arriving, waiting, group_size)``,
``max_p2p_rtt_ms``); docs/matchmaking.md has the details.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: How long one `find_match` call may take before the waitroom stops waiting for it and lets FIFO
#: decide (and uses FIFO for that scene from then on: a call that never returns keeps its thread).
DECISION_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class PastGroup:
    """A game a participant played with others earlier in the experiment."""

    scene_id: str
    game_id: str
    #: The other human participants of that game, in the order of the scene's agents.
    partners: tuple[str, ...]


@dataclass(frozen=True)
class MatchCandidate:
    """A participant waiting in a waitroom, as a matchmaker sees them."""

    participant_id: str
    #: Seconds waited in this waitroom (across reloads).
    waited_s: float
    #: The page's round trip to the server in ms: the median of `rtt_samples`; None before the first.
    rtt_ms: float | None
    #: The latest round trips the page measured (ms, oldest first; up to the last five).
    rtt_samples: tuple[float, ...] = ()
    #: Groups this participant played in earlier in the experiment, oldest first (kept in the store:
    #: reloads and server restarts keep it).
    group_history: tuple[PastGroup, ...] = ()
    #: Participants this one must not be grouped with: their P2P probe failed (see `Matchmaker.max_p2p_rtt_ms`).
    avoid: frozenset[str] = frozenset()
    #: What the participant brought and answered: the query of their link (``query``) and their form
    #: answers by scene (``forms``), for matchmakers that match by condition or by an answer.
    data: Mapping[str, Any] = field(default_factory=dict)

    def last_group(self, scene_id: str | None = None) -> PastGroup | None:
        """The newest of `group_history` (from `scene_id` only, when given)."""
        for group in reversed(self.group_history):
            if scene_id is None or group.scene_id == scene_id:
                return group
        return None


@dataclass(frozen=True)
class Match:
    """A proposed group and, for the match log, why."""

    members: Sequence[MatchCandidate | str]
    reason: str = ""


Decision = Match | Sequence[MatchCandidate | str] | None


def estimated_rtt_ms(a: MatchCandidate, b: MatchCandidate) -> float | None:
    """The round trip between two participants as the server can estimate it: the sum of their round
    trips to the server (the path their inputs take through it); None when one is not measured."""
    if a.rtt_ms is None or b.rtt_ms is None:
        return None
    return a.rtt_ms + b.rtt_ms


def compatible(a: MatchCandidate, b: MatchCandidate) -> bool:
    """Neither has to avoid the other (a P2P probe between them failed)."""
    return b.participant_id not in a.avoid and a.participant_id not in b.avoid


class Matchmaker(ABC):
    """Decides the groups of one multiplayer scene (pass one to ``GymScene.multiplayer(matchmaker=...)``).

    The waitroom calls `find_match` when a participant arrives and again about twice a second while
    anyone waits (round trips get measured, people wait longer), once per waiting participant in
    the order they came, as ``arriving`` with everybody else waiting. A call must be quick and must
    not keep state it relies on: it is called again with fresh candidates.

    ``max_p2p_rtt_ms`` (P2P scenes): before a proposed group plays, its pages open their
    DataChannels and measure their round trips; over the bound the group is dissolved, its members go
    back to the front of the queue, and those pairs are not proposed again (their candidates'
    `MatchCandidate.avoid`).
    """

    def __init__(self, max_p2p_rtt_ms: float | None = None) -> None:
        self.max_p2p_rtt_ms = _optional_ms(type(self).__name__, "max_p2p_rtt_ms", max_p2p_rtt_ms)

    @abstractmethod
    def find_match(self, arriving: MatchCandidate, waiting: Sequence[MatchCandidate], group_size: int) -> Decision:
        """A group of `group_size` participants including `arriving` (a `Match`, or a list of candidates
        or ids), or None to keep waiting. `waiting` is everyone else waiting, in order of arrival."""

    def describe(self) -> dict[str, Any]:
        """The matchmaker's name and settings, as the match log records them."""
        settings = {k: v for k, v in vars(self).items() if not k.startswith("_")}
        return {"matchmaker": type(self).__name__, **settings}


def _optional_ms(owner: str, name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{owner}: {name} must be a positive number of milliseconds or None, got {value!r}")
    return float(value)


def first_compatible(arriving: MatchCandidate, waiting: Sequence[MatchCandidate], group_size: int,
                     fits: Any = None) -> list[MatchCandidate] | None:  # fmt: skip
    """`arriving` plus the earliest waiting participants that are `compatible` with every member so far
    (and `fits(member, candidate)` when given); None when there are not enough."""
    group = [arriving]
    for candidate in waiting:
        if len(group) == group_size:
            break
        if all(compatible(m, candidate) and (fits is None or fits(m, candidate)) for m in group):
            group.append(candidate)
    return group if len(group) == group_size else None


class FIFOMatchmaker(Matchmaker):
    """First come, first served: the participant and those who have waited longest (the default)."""

    def find_match(self, arriving: MatchCandidate, waiting: Sequence[MatchCandidate], group_size: int) -> Decision:
        group = first_compatible(arriving, waiting, group_size)
        return None if group is None else Match(group, "first come, first served")


class LatencyFIFOMatchmaker(Matchmaker):
    """FIFO among participants whose estimated round trip to each other is within ``max_server_rtt_ms``.

    The estimate of a pair is the sum of their pages' round trips to the server (`estimated_rtt_ms`).
    A participant is grouped only once their page has measured ``min_rtt_samples`` round trips
    (the page measures about twice a second while it waits; the system MUG replaces grouped
    unmeasured participants at once, which let a bad connection through on arrival).
    """

    def __init__(self, max_server_rtt_ms: float, max_p2p_rtt_ms: float | None = None, min_rtt_samples: int = 2) -> None:
        super().__init__(max_p2p_rtt_ms)
        bound = _optional_ms(type(self).__name__, "max_server_rtt_ms", max_server_rtt_ms)
        if bound is None:
            raise ValueError("LatencyFIFOMatchmaker: max_server_rtt_ms is required (a bound in milliseconds)")
        self.max_server_rtt_ms = bound
        if isinstance(min_rtt_samples, bool) or not isinstance(min_rtt_samples, int) or not 1 <= min_rtt_samples <= 5:
            raise ValueError(
                f"LatencyFIFOMatchmaker: min_rtt_samples must be an int from 1 to 5, got {min_rtt_samples!r}"
            )
        self.min_rtt_samples = min_rtt_samples

    def find_match(self, arriving: MatchCandidate, waiting: Sequence[MatchCandidate], group_size: int) -> Decision:
        if not self._measured(arriving):
            return None

        def near(a: MatchCandidate, b: MatchCandidate) -> bool:
            rtt = estimated_rtt_ms(a, b)
            return self._measured(b) and rtt is not None and rtt <= self.max_server_rtt_ms

        group = first_compatible(arriving, waiting, group_size, near)
        if group is None:
            return None
        worst = max(estimated_rtt_ms(a, b) or 0.0 for i, a in enumerate(group) for b in group[i + 1 :])
        return Match(group, f"estimated round trips at most {worst:.0f} ms (bound {self.max_server_rtt_ms:.0f} ms)")

    def _measured(self, c: MatchCandidate) -> bool:
        return len(c.rtt_samples) >= self.min_rtt_samples


class GroupReunionMatchmaker(Matchmaker):
    """The same groups as in an earlier scene: a participant waits for their former partners.

    A participant who played in a group before (in ``source_scene_id``, or their latest group when
    None) is grouped only with all of that group's members, as soon as they all wait. After
    ``reunion_wait_s`` without them, with ``fallback_to_fifo=True`` they are grouped first come,
    first served with anyone else who is free to be (never with someone still waiting for their own
    partners); with ``fallback_to_fifo=False`` they wait for their partners until the waitroom's
    timeout. Participants without a former group are grouped first come, first served among
    themselves and those who fell back.
    """

    def __init__(
        self,
        source_scene_id: str | None = None,
        reunion_wait_s: float = 60.0,
        fallback_to_fifo: bool = True,
        max_p2p_rtt_ms: float | None = None,
    ) -> None:
        super().__init__(max_p2p_rtt_ms)
        if source_scene_id is not None and (not isinstance(source_scene_id, str) or not source_scene_id):
            raise ValueError(
                f"GroupReunionMatchmaker: source_scene_id must be a scene id or None, got {source_scene_id!r}"
            )
        if (
            isinstance(reunion_wait_s, bool)
            or not isinstance(reunion_wait_s, (int, float))
            or not (math.isfinite(reunion_wait_s) and reunion_wait_s >= 0)
        ):
            raise ValueError(
                f"GroupReunionMatchmaker: reunion_wait_s must be a number of seconds >= 0, got {reunion_wait_s!r}"
            )
        if not isinstance(fallback_to_fifo, bool):
            raise ValueError(
                f"GroupReunionMatchmaker: fallback_to_fifo must be True or False, got {fallback_to_fifo!r}"
            )
        self.source_scene_id = source_scene_id
        self.reunion_wait_s = float(reunion_wait_s)
        self.fallback_to_fifo = fallback_to_fifo

    def find_match(self, arriving: MatchCandidate, waiting: Sequence[MatchCandidate], group_size: int) -> Decision:
        past = arriving.last_group(self.source_scene_id)
        if past is not None and len(past.partners) == group_size - 1:
            here = {c.participant_id: c for c in waiting}
            partners = [here[p] for p in past.partners if p in here]
            # (Together again only if it is also each partner's group to go back to: a partner who
            # played with someone else since has another group to wait for.)
            if len(partners) == group_size - 1 and all(self._same_group(p, past) for p in partners):
                return Match([arriving, *partners], f"played together in {past.scene_id!r} (game {past.game_id[:8]})")
        if not self._free(arriving):
            return None
        group = first_compatible(arriving, [c for c in waiting if self._free(c)], group_size)
        if group is None:
            return None
        waited = any(self._reunion(c) is not None for c in group)
        return Match(group, f"no former group here after {self.reunion_wait_s:.0f} s: first come, first served"
                     if waited else "no former group: first come, first served")  # fmt: skip

    def _same_group(self, c: MatchCandidate, past: PastGroup) -> bool:
        theirs = self._reunion(c)
        return theirs is not None and theirs.game_id == past.game_id

    def _reunion(self, c: MatchCandidate) -> PastGroup | None:
        return c.last_group(self.source_scene_id)

    def _free(self, c: MatchCandidate) -> bool:
        """Free to be grouped with anyone: no former group, or waited for it long enough (with the fallback)."""
        if self._reunion(c) is None:
            return True
        return self.fallback_to_fifo and c.waited_s >= self.reunion_wait_s
