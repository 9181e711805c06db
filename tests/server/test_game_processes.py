"""Games in game processes (`serve(game_processes=N)`): the same sessions, over real sockets."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

import pytest
import socketio
from envs import race_scene
from helpers import eventually, join

from mug import EndScene, Experiment, StartScene


class Player:
    """A participant's connection, keeping what the server sent it."""

    def __init__(self, server, pid: str) -> None:
        self.pid = pid
        self.frames: list[dict] = []
        self.statuses: list[dict] = []
        self.scenes: list[dict] = []
        self.lock = threading.Lock()
        self.client = socketio.Client(reconnection=False)
        self.client.on("frame", lambda f: self._keep(self.frames, f))
        self.client.on("game_status", lambda s: self._keep(self.statuses, s))
        self.client.on("scene", lambda s: self._keep(self.scenes, s))
        self.client.connect(server.url, transports=["websocket"], socketio_path="socket.io")
        reply = join(self.client, server, pid)
        assert reply["ok"], reply
        self.joined = reply

    def _keep(self, into: list[dict], item: dict) -> None:
        with self.lock:
            into.append(item)

    def play(self, scene_id: str) -> dict:
        scene = self.joined["scene"]
        while scene["scene_id"] != scene_id:
            scene = self.client.call("advance", {"scene_id": scene["scene_id"]})["scene"]
        return self.client.call("start_game", {"scene_id": scene_id})

    def said(self, status: str) -> bool:
        with self.lock:
            return any(s["status"] == status for s in self.statuses)

    def close(self) -> None:
        self.client.disconnect()


@contextlib.contextmanager
def _racing(server) -> Iterator[tuple[Player, Player]]:
    """Two participants in the race scene's game; both connections are closed afterwards."""
    red, blue = Player(server, "red-p"), Player(server, "blue-p")
    try:
        red.play("race")
        blue.play("race")
        yield red, blue
    finally:
        red.close()
        blue.close()


def _experiment(tmp_path, scene) -> Experiment:
    return Experiment("processes", [StartScene().scene("start"), scene, EndScene().scene("end")], data_dir=tmp_path)


def test_two_players_finish_a_game_that_runs_in_a_game_process(tmp_path) -> None:
    exp = _experiment(tmp_path, race_scene(length=40))
    with exp.serve(game_processes=1) as server, _racing(server) as (red, blue):
        eventually(lambda: red.said("running") and blue.said("running"))
        red.client.emit("action", {"scene_id": "race", "action": 2})  # forwarded to the game's process
        eventually(lambda: red.scenes and blue.scenes, timeout=30)  # the game ended; both moved on
        assert server._processes.workers[0].pid != os.getpid()
    assert server._processes.workers[0].reap()  # stopping the server ended its game process
    results = exp.results()
    assert list(results.games["outcome"]) == ["completed"]
    assert len(results.steps) == 40
    assert 2 in set(results.steps["action.red"])  # red's key press reached the env
    assert {s["scene_id"] for s in red.scenes + blue.scenes} == {"end"}
    # Both saw the same frames, which carry the game's steps in order.
    assert [f["step"] for f in red.frames][-1] == 40
    assert [f["step"] for f in red.frames] == [f["step"] for f in blue.frames]


def test_a_player_away_too_long_is_dropped_and_the_partner_gets_a_code(tmp_path) -> None:
    scene = race_scene(length=100_000).multiplayer(reconnect_grace_s=0.5, on_player_drop="end_game")
    exp = _experiment(tmp_path, scene)
    with exp.serve(game_processes=1) as server, _racing(server) as (red, blue):
        eventually(lambda: red.said("running"))
        blue.close()
        eventually(lambda: red.scenes, timeout=30)
        ended = red.scenes[-1]
        assert ended["scene_type"] == "completion_code" and len(ended["completion_code"]) == 10
    assert list(exp.results().games["outcome"]) == ["player_dropped"]


def test_a_player_who_comes_back_rejoins_the_running_game_with_a_full_frame(tmp_path) -> None:
    exp = _experiment(tmp_path, race_scene(length=100_000))
    with exp.serve(game_processes=1) as server, _racing(server) as (_red, blue):
        eventually(lambda: len(blue.frames) > 10)
        game_id = blue.frames[-1]["game_id"]
        blue.close()
        back = Player(server, "blue-p")
        try:
            # The join reply describes the running game (status mirrored from its process).
            assert back.joined["scene"]["game"]["game_id"] == game_id
            assert back.joined["scene"]["game"]["status"] == "running"
            eventually(lambda: any(f.get("full") for f in back.frames))
        finally:
            back.close()


def test_an_action_for_no_agent_of_the_sender_is_refused_before_it_reaches_the_game(tmp_path) -> None:
    exp = _experiment(tmp_path, race_scene(length=100_000))
    with exp.serve(game_processes=1) as server, _racing(server) as (red, _blue):
        eventually(lambda: red.said("running"))
        reply = red.client.call("action", {"scene_id": "race", "action": 7})
        assert reply["ok"] is False and "is not one of this scene's actions" in reply["error"]


def test_a_game_process_that_dies_ends_its_games_with_an_error_and_players_move_on(tmp_path) -> None:
    exp = _experiment(tmp_path, race_scene(length=100_000))
    with exp.serve(game_processes=1) as server, _racing(server) as (red, blue):
        eventually(lambda: len(red.frames) > 5)
        os.kill(server._processes.workers[0].pid, signal.SIGKILL)
        eventually(lambda: red.said("error") and red.scenes and blue.scenes, timeout=30)
        assert red.scenes[-1]["scene_id"] == "end"
    results = exp.results()
    assert list(results.games["outcome"]) == ["error"]
    errors = results.events[results.events["kind"] == "env_error"]
    assert "process ended unexpectedly" in errors.iloc[0]["data.error"]


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_a_wrong_game_process_count_is_refused(tmp_path, bad) -> None:
    exp = _experiment(tmp_path, race_scene())
    with pytest.raises(ValueError, match="game_processes must be a whole number"):
        exp.serve(game_processes=bad)


def test_a_game_process_keeps_none_of_the_parents_other_descriptors(tmp_path) -> None:
    """A notebook's or test's pipes must close when their owner closes them, not when the server stops."""
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    try:
        with _experiment(tmp_path, race_scene()).serve(game_processes=1):
            os.close(write_end)

            def end_of_file() -> bool:
                try:
                    return os.read(read_end, 1) == b""  # every copy of the write end is closed
                except BlockingIOError:
                    return False  # someone (a game process) still holds the write end

            eventually(end_of_file, timeout=10)
    finally:
        os.close(read_end)


def _lean_right(observation) -> int:
    return 2  # a Python callable bot: always right


def test_a_human_and_a_callable_bot_play_in_a_game_process_and_the_monitor_sees_them(tmp_path) -> None:
    exp = _experiment(tmp_path, race_scene(agents=("red",), length=30, bots={"blue": _lean_right}))
    with exp.serve(game_processes=1) as server:
        red = Player(server, "red-p")
        try:
            red.play("race")
            eventually(lambda: red.said("running"))
            red.client.emit("action", {"scene_id": "race", "action": 1})
            game = eventually(lambda: server.snapshot()["games"] or None)[0]
            assert game["players"]["red-p"]["agent_id"] == "red" and game["players"]["red-p"]["connected"]
            eventually(lambda: red.scenes, timeout=30)
        finally:
            red.close()
    steps = exp.results().steps
    assert len(steps) == 30 and set(steps["action.blue"]) == {2}
