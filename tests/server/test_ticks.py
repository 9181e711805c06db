"""Tick phases: games spread over a few slots of their frame interval, each slot on one schedule."""

from __future__ import annotations

import pytest

from mug.server.games.ticks import TickPhases


def test_games_take_the_least_used_slot_and_give_it_back() -> None:
    phases = TickPhases(slots=4)
    taken = [phases.take(30) for _ in range(8)]
    assert sorted(taken) == [0, 0, 1, 1, 2, 2, 3, 3]
    phases.release(30, 2)
    assert phases.take(30) == 2  # the freed place is the least used now
    assert phases.take(60) == 0  # each frame rate has its own slots


def test_games_of_one_slot_tick_at_the_same_instants_and_slots_are_evenly_apart() -> None:
    phases = TickPhases(slots=4)
    interval = 1 / 30
    a = phases.first_tick(30, 1, now=100.0)
    b = phases.first_tick(30, 1, now=100.02)
    assert a >= 100.0 and b >= 100.02
    assert round((b - a) / interval, 9) in (0.0, 1.0)  # same schedule, at most one interval on
    c = phases.first_tick(30, 2, now=a)
    assert c - a == pytest.approx(interval / 4)


def test_a_slot_count_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="slots must be at least 1"):
        TickPhases(slots=0)


def test_shifted_phases_fall_between_the_unshifted_ones() -> None:
    interval = 1 / 30
    plain, halfway = TickPhases(slots=4), TickPhases(slots=4, shift=0.5)
    a = plain.first_tick(30, 1, now=100.0)
    b = halfway.first_tick(30, 1, now=a)
    assert b - a == pytest.approx(interval / 8)  # half a slot on: the other process's burst goes between
    with pytest.raises(ValueError, match="shift is a fraction of a slot"):
        TickPhases(shift=1.0)
