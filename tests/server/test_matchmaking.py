"""The waitroom queue: first come first served, deadlines kept across a leave, timeouts fire."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from mug.server.sessions.waitroom import Waitroom


def run_in_own_loop(test: Callable[[], Awaitable[None]]) -> None:
    """Run an async test on a thread of its own (the browser tests keep a loop running in this one)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, test()).result(timeout=30)


def test_groups_form_in_arrival_order_and_leavers_free_their_place() -> None:
    run_in_own_loop(groups_form_in_arrival_order)


async def groups_form_in_arrival_order() -> None:
    timed_out: list[str] = []
    room = Waitroom("duo", needed=2, timeout_s=60, on_timeout=timed_out.append)
    room.add("a")
    room.add("a")  # a second Start press does not queue twice
    assert room.waiting == ["a"] and room.take_group() is None
    room.add("b")
    assert room.remove("a") is True
    assert room.take_group() is None
    room.add("c")
    assert room.take_group() == ["b", "c"]
    assert room.waiting == []
    room.close()
    assert timed_out == []


def test_the_deadline_survives_leaving_and_the_timeout_fires() -> None:
    run_in_own_loop(deadline_survives_leaving)


async def deadline_survives_leaving() -> None:
    fired = asyncio.Event()
    timed_out: list[str] = []

    def on_timeout(pid: str) -> None:
        timed_out.append(pid)
        fired.set()

    room = Waitroom("duo", needed=2, timeout_s=0.2, on_timeout=on_timeout)
    room.add("a")
    first = room.seconds_left("a")
    room.remove("a")
    room.add("a")  # back after a reload: same deadline, not a fresh one
    assert room.seconds_left("a") <= first
    await asyncio.wait_for(fired.wait(), timeout=5)
    assert timed_out == ["a"] and room.waiting == []
