"""The servers' shared state and bus keep one contract on both backends: in process and a real Redis.

Leases are taken by one holder at a time and renewed only by their holder; values expire; a batch of
messages arrives in order on the addressed server only; a silent server's open games are closed
by exactly one of the live servers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from cluster import redis_server
from helpers import run_async

from mug.server.cluster import members as members_module
from mug.server.cluster.bus import LocalBus, RedisBus
from mug.server.cluster.members import Members
from mug.server.cluster.state import SharedState, StateError, open_state


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as instance:
        yield instance.url


@pytest.fixture(params=["local", "redis"])
def backend(request: pytest.FixtureRequest, redis_url: str) -> str | None:
    """None: the in-process backends; a URL: Redis."""
    return None if request.param == "local" else redis_url


async def _state(url: str | None, namespace: str) -> SharedState:
    return await open_state(url, namespace)


def test_values_conditions_expiry_and_namespaces(backend: str | None) -> None:
    async def scenario() -> None:
        state = await _state(backend, "exp-a")
        other = await _state(backend, "exp-b") if backend else state
        try:
            assert await state.get("game/g1") is None
            assert await state.put("game/g1", {"host": "s1", "players": ["p1", "p2"]})
            assert await state.get("game/g1") == {"host": "s1", "players": ["p1", "p2"]}
            assert not await state.put("game/g1", {"host": "s2"}, only_if_absent=True)  # taken
            assert not await state.put("game/g1", {"host": "s2"}, only_if={"host": "s9"})  # not what it holds
            # only_if compares values: the same dict with its keys in another order matches.
            assert await state.put("game/g1", {"host": "s2"}, only_if={"players": ["p1", "p2"], "host": "s1"})
            assert await state.get("game/g1") == {"host": "s2"}
            assert not await state.delete("game/g1", only_if={"host": "s1"})
            assert await state.delete("game/g1", only_if={"host": "s2"}) and await state.get("game/g1") is None
            assert not await state.delete("game/g1")

            await state.put("alive/s1", 1)
            await state.put("alive/s2", 2, ttl_s=0.2)
            await state.put("alivex", 3)
            assert await state.scan("alive/") == {"alive/s1": 1, "alive/s2": 2}
            if backend:  # another experiment on the same Redis sees none of it
                assert await other.scan("alive/") == {} and await other.get("alive/s1") is None
            deadline = asyncio.get_running_loop().time() + 5
            while await state.get("alive/s2") is not None:  # expiry (Redis checks it on read, too)
                assert asyncio.get_running_loop().time() < deadline, "a value with ttl_s=0.2 did not expire"
                await asyncio.sleep(0.05)
            assert await state.scan("alive/") == {"alive/s1": 1}

            with pytest.raises(ValueError, match="ttl_s must be a number of seconds > 0"):
                await state.put("x", 1, ttl_s=0)
            with pytest.raises(TypeError):
                await state.put("x", object())  # not JSON: refused before anything is written
            assert await state.get("x") is None
        finally:
            await state.close()
            if other is not state:
                await other.close()

    run_async(scenario())


def test_a_lease_has_one_holder_and_only_the_holder_renews_or_releases_it(backend: str | None) -> None:
    async def scenario() -> None:
        state = await _state(backend, "leases")
        try:
            results = await asyncio.gather(*(state.claim("matching/duel", f"s{i}", 5) for i in range(8)))
            assert results.count(True) == 1  # eight servers at once: one wins
            holder = f"s{results.index(True)}"
            assert await state.claim("matching/duel", holder, 5)  # its holder renews it
            loser = "s9"
            assert not await state.claim("matching/duel", loser, 5)
            assert not await state.release("matching/duel", loser)
            assert await state.release("matching/duel", holder)
            assert await state.claim("matching/duel", loser, 0.2)
            deadline = asyncio.get_running_loop().time() + 5
            while not await state.claim("matching/duel", holder, 5):  # the loser's short lease runs out
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.05)
        finally:
            await state.close()

    run_async(scenario())


def test_messages_arrive_in_order_at_the_addressed_server_only(backend: str | None) -> None:
    async def scenario() -> None:
        make = (lambda: LocalBus("bus-test")) if backend is None else (lambda: RedisBus(backend, "bus-test"))
        one, two, sender = make(), make(), make()
        got: dict[str, list[dict]] = {"one": [], "two": []}
        done = asyncio.Event()

        def on(name: str):
            def handler(message: dict) -> None:
                got[name].append(message)
                if len(got["one"]) == 300:
                    done.set()

            return handler

        await one.listen("one", on("one"))
        await two.listen("two", on("two"))
        try:
            for turn in range(3):  # three loop turns, a batch of 100 each
                for i in range(100):
                    sender.send("one", {"n": turn * 100 + i, "frame": "2[\"frame\",{}]"})
                sender.send("nobody", {"n": -1})  # a server that is gone: lost, nothing else happens
                await asyncio.sleep(0)
            await asyncio.wait_for(done.wait(), 10)
            assert [m["n"] for m in got["one"]] == list(range(300))
            assert got["two"] == []
        finally:
            for bus in (one, two, sender):
                await bus.close()

    run_async(scenario())


def test_a_silent_servers_games_are_closed_once_by_one_live_server(
    backend: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(members_module, "SILENT_S", 0.5)
    monkeypatch.setattr(members_module, "HEARTBEAT_S", 0.1)
    monkeypatch.setattr(members_module, "CHECK_S", 600)  # the test calls check() itself

    async def scenario() -> None:
        state = await _state(backend, "members")
        open_games = {"g1": "dead", "g2": "dead", "g3": "a", "g4": ""}  # game -> host ("": recorded without one)
        closed: list[tuple[str, str]] = []

        async def open_hosts() -> set[str]:
            return set(open_games.values())

        def recover_as(server: str):
            async def recover(host: str) -> None:
                for game, h in list(open_games.items()):
                    if h == host:
                        await asyncio.sleep(0.01)  # (a store call: the other server may look meanwhile)
                        closed.append((server, game))
                        del open_games[game]

            return recover

        a = Members(state, "a", open_hosts=open_hosts, recover=recover_as("a"))
        b = Members(state, "b", open_hosts=open_hosts, recover=recover_as("b"))
        dead = Members(state, "dead", open_hosts=open_hosts, recover=recover_as("dead"))
        for member in (a, b, dead):
            await member.start()
        try:
            assert await a.alive() == {"a", "b", "dead"}
            # Every server is alive: only the game recorded without a server is closed, by one of them.
            assert sorted(await asyncio.gather(a.check(), b.check())) == [[], [""]]
            assert [g for _, g in closed] == ["g4"]
            for task in dead._tasks:  # SIGKILL: it stops announcing, nothing else
                task.cancel()
            deadline = asyncio.get_running_loop().time() + 5
            while "dead" in await a.alive():
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.05)
            await asyncio.gather(a.check(), b.check())
            assert sorted(g for _, g in closed) == ["g1", "g2", "g4"]  # each closed once; a's own g3 stays open
            assert open_games == {"g3": "a"}
            assert len({s for s, g in closed if g in ("g1", "g2")}) == 1  # by one server
        finally:
            for member in (a, b):
                await member.stop()
            await state.close()

    run_async(scenario())


def test_a_wrong_or_unreachable_redis_is_named() -> None:
    async def scenario() -> None:
        with pytest.raises(ValueError, match="redis must be a URL starting with redis://"):
            await open_state("http://127.0.0.1:6379", "x")
        with pytest.raises(ValueError, match="redis must be a URL like"):
            await open_state("", "x")
        with pytest.raises(StateError, match=r"Redis at redis://u:\*\*\*@127.0.0.1:1/0 failed to answer PING"):
            await open_state("redis://u:secret@127.0.0.1:1/0", "x")

    run_async(scenario())
