"""What the server writes without waiting survives a database that is down for a while.

A PostgreSQL server of the test's own is stopped (not restarted: down longer than the store's own
reconnecting covers) while the server goes on logging events and marking participants active.
Those writes are held in order and stored once the database is back, with no further write to
carry them (the writer tries again by itself); an awaited call meanwhile fails with the named
error, so its caller can answer the page, which resends.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from helpers import run_async
from postgres import running_postgres

from mug.data import Store, load_results
from mug.data.backends import DatabaseUnavailable
from mug.server.writer import StoreWriter


def test_writes_nobody_awaits_are_held_while_the_database_is_down_and_stored_when_it_is_back() -> None:
    with running_postgres() as server:
        database = server.create_database()
        with Store(database, timeout=0.5) as store:
            store.get_or_create_participant("p1", {}, 1.0)
            run_async(_outage(server, store))  # (a thread of its own: Playwright may own this one's loop)
        results = load_results(database)

    kinds = list(results.events.sort_values("t")["kind"])
    assert kinds == ["before", "during_1", "during_2", "during_3", "after"]  # each once, in order
    # (results() leaves out participants never marked active: the held mark_active was stored.)
    assert list(results.participants["participant_id"]) == ["p1"]


async def _outage(server, store: Store) -> None:
    writer = StoreWriter(store)
    try:
        writer.event("p1", None, "before", {})
        await writer.drain()
        server.halt()
        for i in (1, 2, 3):
            writer.event("p1", None, f"during_{i}", {"i": i})
            await asyncio.sleep(0)  # (one loop turn each: separate writes)
        writer.submit(store.mark_active, "p1", time.time())
        with pytest.raises(DatabaseUnavailable):
            await writer.call(store.get_participant, "p1")  # (awaited: the caller is told)
        assert writer.held == 4, writer.held
        server.resume()
        deadline = time.monotonic() + 60
        while writer.held and time.monotonic() < deadline:  # (the writer tries again by itself)
            await asyncio.sleep(0.05)
        assert writer.held == 0
        writer.event("p1", None, "after", {})
        await writer.drain()
    finally:
        writer.close()
