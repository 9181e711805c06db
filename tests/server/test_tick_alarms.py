"""Games due at the same instant wait on one shared timer (`sleep_until`): each still wakes at its
instant, never before it, and a game that stops waiting (cancelled at shutdown) stops only itself."""

from __future__ import annotations

import asyncio

from helpers import run_async

from mug.server.games.ticks import sleep_until


async def _wake_times(instants: list[float]) -> list[float]:
    loop = asyncio.get_running_loop()

    async def one(when: float) -> float:
        await sleep_until(when)
        return loop.time()

    return await asyncio.gather(*(one(w) for w in instants))


def test_every_game_wakes_at_its_instant_never_before_it() -> None:
    async def scenario() -> tuple[list[float], list[float]]:
        start = asyncio.get_running_loop().time()
        # 12 games in 3 slots, each slot's instants computed with different rounding (as games
        # that started at different ticks compute them)
        instants = [start + 0.03 + slot * 0.01 + k * 1e-13 for slot in range(3) for k in range(4)]
        return instants, await _wake_times(instants)

    instants, woke = run_async(scenario())
    for when, at in zip(instants, woke, strict=True):
        assert at >= when
        assert at - when < 0.5  # woken by its own instant (generous: a loaded machine's scheduling)
    first_slot, last_slot = max(woke[:4]), min(woke[8:])
    assert first_slot <= last_slot  # the slots wake in their order


def test_an_instant_already_past_returns_at_once() -> None:
    async def scenario() -> bool:
        loop = asyncio.get_running_loop()
        task = loop.create_task(sleep_until(loop.time() - 1.0))
        await asyncio.sleep(0)
        return task.done()

    assert run_async(scenario())


def test_a_game_cancelled_while_it_waits_leaves_the_others_waiting_for_the_same_instant() -> None:
    async def scenario() -> tuple[bool, list[float], float]:
        loop = asyncio.get_running_loop()
        when = loop.time() + 0.05
        cancelled = loop.create_task(sleep_until(when))
        others = loop.create_task(_wake_times([when, when]))
        await asyncio.sleep(0)
        cancelled.cancel()
        woke = await others
        return cancelled.cancelled(), woke, when

    was_cancelled, woke, when = run_async(scenario())
    assert was_cancelled
    assert all(at >= when for at in woke)
