"""Simulated participants never share a game with real ones.

A researcher may dry-run a live study (`Experiment.simulate` on the server real participants use);
the waitrooms keep simulated participants in a pool of their own. A real participant here is a
plain Socket.IO client that joins as a page does (not marked simulated).
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import socketio
from envs import race_scene
from helpers import eventually, join

from mug import CompletionCodeScene, Experiment, StartScene
from mug.matchmaking import Match
from mug.server.sessions.waitroom import Waitroom


class RealPage:
    """A real participant's page: joins, goes to the game scene, and keeps what the server sends."""

    def __init__(self, server, participant: str) -> None:
        self.events: list[tuple[str, object]] = []
        self.lock = threading.Lock()
        self.client = socketio.Client(reconnection=False)
        for name in ("waitroom", "matched", "scene"):
            self.client.on(name, self._keeper(name))
        self.client.connect(server.url, transports=["websocket"], socketio_path="socket.io")
        assert join(self.client, server, participant)["ok"]
        assert self.client.call("advance", {"scene_id": "welcome"})["scene"]["scene_id"] == "race"

    def _keeper(self, name: str):
        def keep(payload=None) -> None:
            with self.lock:
                self.events.append((name, payload))

        return keep

    def start(self) -> dict:
        return self.client.call("start_game", {"scene_id": "race"})

    def seen(self, name: str) -> list:
        with self.lock:
            return [payload for event, payload in self.events if event == name]

    def close(self) -> None:
        self.client.disconnect()


def test_a_simulated_participant_is_matched_only_with_simulated_ones_on_a_live_server(tmp_path) -> None:
    race = race_scene(length=45).waitroom(timeout=4.0)
    exp = Experiment(
        "live", [StartScene().scene("welcome"), race, CompletionCodeScene().scene("end")], data_dir=tmp_path
    )
    with exp.serve() as server:
        real = RealPage(server, "real-1")
        try:
            assert real.start()["waitroom"]["waiting"] == 1
            # A dry run while the real participant waits: two simulated ones are paired, the third
            # waits alone (the real participant in the same waitroom is not its partner).
            report = exp.simulate(3, server=server)
            assert len(report.completed) == 2, report
            [alone] = report.ended_early
            assert alone.reason == "waitroom_timeout"
            # The real participant was never matched: their wait ended with the waitroom's timeout,
            # and their page never counted a simulated participant as waiting with them.
            [ended] = eventually(lambda: real.seen("scene"))
            assert ended["ended"] == "waitroom_timeout"
            assert real.seen("matched") == []
            assert all(status["waiting"] == 1 for status in real.seen("waitroom"))
        finally:
            real.close()

        # Two real participants are matched with each other, as ever.
        ann, ben = RealPage(server, "ann"), RealPage(server, "ben")
        try:
            assert "waitroom" in ann.start()
            game = ben.start()["game"]
            assert eventually(lambda: ann.seen("matched"))[0]["game_id"] == game["game_id"]
        finally:
            ann.close()
            ben.close()

    everyone = exp.results(simulated=True)
    simulated = set(report.participant_ids)
    for _, row in everyone.games.iterrows():
        players = {row["players.red"], row["players.blue"]}
        assert players <= simulated or not players & simulated  # never a mixed game
    assert {frozenset((r["players.red"], r["players.blue"])) for _, r in exp.results().games.iterrows()} == {
        frozenset(("ann", "ben"))
    }


class Mixer:
    """A researcher's matchmaker that groups whoever waits first, whatever their pool."""

    def __init__(self) -> None:
        self.seen: list[list[str]] = []
        self.max_p2p_rtt_ms = None

    def find_match(self, arriving, waiting, group_size):  # type: ignore[no-untyped-def]
        self.seen.append([c.participant_id for c in [arriving, *waiting]])
        return Match(["real", "sim-1"], "first two")

    def describe(self) -> dict:
        return {"matchmaker": "Mixer"}


def test_a_matchmaker_sees_only_the_arriving_participants_pool_and_cannot_mix_pools() -> None:
    async def go() -> None:
        mixer = Mixer()
        errors: list[str] = []
        room = Waitroom("duo", needed=2, timeout_s=60, on_timeout=lambda pid: None, matchmaker=mixer)
        room.on_error = errors.append
        room.add("real")
        room.add("sim-1", pool="simulated")
        assert await room.propose({}) is None  # one of each: no group, the matchmaker not even asked
        assert mixer.seen == [] and room.waiting_with("real") == ["real"]
        room.add("sim-2", pool="simulated")
        proposal = await room.propose({})
        # It saw the simulated pool only; its group across pools was refused and FIFO grouped the pool.
        assert mixer.seen == [["sim-1", "sim-2"]]
        assert proposal is not None and proposal.members == ["sim-1", "sim-2"]
        assert errors and "grouped simulated and real participants" in errors[0]
        room.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, go()).result(timeout=30)
