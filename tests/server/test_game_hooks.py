"""Game hooks (`gameplay(callback=...)`) in real server-run games: in the server process and in a
game process, what they record reaches the results, and a hook that raises does not stop the game."""

from __future__ import annotations

import socketio
from envs import Walk, race_scene, walk_scene
from helpers import eventually, join

import mug
from mug import EndScene, Experiment, StartScene


class Tally(mug.GameCallback):
    """Records what each hook sees."""

    def on_episode_start(self, ctx: mug.GameContext) -> None:
        ctx.state["starts"] = ctx.state.get("starts", 0) + 1
        ctx.record(players=ctx.players, t=ctx.env.t)

    def on_step(self, ctx: mug.GameContext) -> None:
        ctx.record(action=ctx.actions["walker"], reward=ctx.rewards["walker"], t=ctx.env.t)

    def on_episode_end(self, ctx: mug.GameContext) -> None:
        ctx.record(outcome=ctx.outcome, returns=ctx.returns)

    def on_game_end(self, ctx: mug.GameContext) -> None:
        ctx.record(outcome=ctx.outcome, starts=ctx.state["starts"])


class Faulty(mug.GameCallback):
    """Fails from the third step of each episode on."""

    def on_step(self, ctx: mug.GameContext) -> None:
        if ctx.step >= 3:
            raise KeyError("no such thing")


def _play_alone(server, pid: str, scene_id: str) -> None:
    client = socketio.Client(reconnection=False)
    client.connect(server.url, transports=["websocket"], socketio_path="socket.io")
    try:
        scene = join(client, server, pid)["scene"]
        client.call("advance", {"scene_id": scene["scene_id"]})
        assert client.call("start_game", {"scene_id": scene_id})["ok"]
        eventually(lambda: len(server.results().games.query("outcome == 'completed'")) == 1, timeout=30)
    finally:
        client.disconnect()


def test_hooks_record_every_episode_and_step_and_a_failing_hook_leaves_the_game_running(tmp_path) -> None:
    scene = walk_scene(length=5).gameplay(num_episodes=2, callback=[Tally(), Faulty()])
    exp = Experiment("hooks", [StartScene().scene("start"), scene, EndScene().scene("end")], data_dir=tmp_path)
    with exp.serve() as server:
        _play_alone(server, "p1", "walk")
    results = exp.results()
    # The game went on through the failures: every step of both episodes is recorded.
    assert results.episodes["outcome"].tolist() == ["completed", "completed"]
    assert len(results.steps) == 10
    events = results.events
    recorded = events[events["kind"] == "callback"]
    assert (recorded["participant_id"] == "p1").all() and (recorded["scene_id"] == "walk").all()
    hooks = list(zip(recorded["data.hook"], recorded["data.episode"], recorded["data.step"], strict=True))
    expected = []
    for episode in (1, 2):
        expected += [("on_episode_start", episode, 0)]
        expected += [("on_step", episode, step) for step in range(1, 6)]
        expected += [("on_episode_end", episode, 5)]
    expected += [("on_game_end", 2, 5)]
    assert hooks == expected
    by_hook = recorded.groupby("data.hook")
    assert by_hook.get_group("on_episode_start")["data.players"].tolist() == [{"walker": "p1"}] * 2
    assert by_hook.get_group("on_step")["data.t"].tolist() == [1, 2, 3, 4, 5] * 2  # ctx.env is the env
    assert by_hook.get_group("on_episode_end")["data.outcome"].tolist() == ["completed"] * 2
    assert by_hook.get_group("on_episode_end")["data.returns"].tolist() == [{"walker": 0.0}] * 2
    game_end = by_hook.get_group("on_game_end").iloc[0]
    assert game_end["data.outcome"] == "completed" and game_end["data.starts"] == 2  # ctx.state lasts the game
    # The first failure is recorded with its traceback; the count of all of them when the game ends.
    errors = events[events["kind"] == "callback_error"]
    first, summary = errors.iloc[0], errors.iloc[1]
    assert len(errors) == 2
    assert (first["data.hook"], first["data.callback"], first["data.episode"], first["data.step"]) == (
        "on_step",
        "Faulty",
        1,
        3,
    )
    assert first["data.error"] == "KeyError: 'no such thing'" and "raise KeyError" in first["data.traceback"]
    assert summary["data.failures"] == 6 and summary["data.error"] == "KeyError: 'no such thing'"


class Scores(mug.GameCallback):
    def on_step(self, ctx: mug.GameContext) -> None:
        if ctx.step % 10 == 0:
            ctx.record(positions=dict(ctx.env.pos), players=ctx.players)

    def on_game_end(self, ctx: mug.GameContext) -> None:
        ctx.record(outcome=ctx.outcome)


def test_hooks_run_in_a_game_process_and_what_they_record_reaches_the_results(tmp_path) -> None:
    scene = race_scene(length=30).gameplay(callback=Scores())
    scenes = [StartScene().scene("start"), scene, EndScene().scene("end")]
    exp = Experiment("hooks-processes", scenes, data_dir=tmp_path)
    clients = []
    with exp.serve(game_processes=1) as server:
        try:
            for pid in ("red-p", "blue-p"):
                client = socketio.Client(reconnection=False)
                client.connect(server.url, transports=["websocket"], socketio_path="socket.io")
                clients.append(client)
                scene_spec = join(client, server, pid)["scene"]
                client.call("advance", {"scene_id": scene_spec["scene_id"]})
                client.call("start_game", {"scene_id": "race"})
            eventually(lambda: len(server.results().games.query("outcome == 'completed'")) == 1, timeout=30)
        finally:
            for client in clients:
                client.disconnect()
    events = exp.results().events
    recorded = events[events["kind"] == "callback"]
    assert recorded["data.step"].tolist() == [10, 20, 30, 30]
    assert recorded["data.hook"].tolist() == ["on_step"] * 3 + ["on_game_end"]
    assert recorded["participant_id"].isna().all()  # a game of several players: filed under none
    assert recorded.iloc[0]["data.players"] == {"red": "red-p", "blue": "blue-p"}
    assert recorded.iloc[-1]["data.outcome"] == "completed"
    assert recorded.iloc[0]["data.positions"] == {"red": 0.1, "blue": 0.1}  # ctx.env is the env


def test_record_refuses_reserved_keys_and_values_without_a_json_form() -> None:
    ctx = mug.GameContext("g", "s", {"walker": "p"}, ["walker"])
    ctx.hook, ctx.episode, ctx.step = "on_step", 1, 2
    for bad, message in [
        ({"step": 3}, "step, which every callback event has already"),
        ({}, "needs at least one keyword argument"),
    ]:
        try:
            ctx.record(**bad)
        except ValueError as exc:
            assert message in str(exc)
        else:
            raise AssertionError(f"record(**{bad}) was taken")
    try:
        ctx.record(env=Walk())
    except TypeError as exc:
        assert "JSON values only" in str(exc) and "Walk" in str(exc)
    else:
        raise AssertionError("record() took an env object")
    ctx.record(score=3)
    assert ctx.take_records() == [{"game_id": "g", "hook": "on_step", "episode": 1, "step": 2, "score": 3}]


class Outcomes(mug.GameCallback):
    def on_episode_end(self, ctx: mug.GameContext) -> None:
        ctx.record(outcome=ctx.outcome, t=ctx.env.t)

    def on_game_end(self, ctx: mug.GameContext) -> None:
        ctx.record(outcome=ctx.outcome)


def test_when_the_env_fails_the_end_hooks_still_run_and_say_so(tmp_path) -> None:
    scene = walk_scene(length=50, fail_at=4).gameplay(callback=Outcomes())
    exp = Experiment("hooks-error", [StartScene().scene("start"), scene, EndScene().scene("end")], data_dir=tmp_path)
    with exp.serve() as server:
        client = socketio.Client(reconnection=False)
        client.connect(server.url, transports=["websocket"], socketio_path="socket.io")
        try:
            scene_spec = join(client, server, "p2")["scene"]
            client.call("advance", {"scene_id": scene_spec["scene_id"]})
            assert client.call("start_game", {"scene_id": "walk"})["ok"]
            eventually(lambda: len(server.results().games.query("outcome == 'error'")) == 1, timeout=30)
        finally:
            client.disconnect()
    events = exp.results().events
    recorded = events[events["kind"] == "callback"]
    assert recorded["data.hook"].tolist() == ["on_episode_end", "on_game_end"]
    assert recorded["data.outcome"].tolist() == ["error", "error"]
    assert recorded.iloc[0]["data.step"] == 3 and recorded.iloc[0]["data.t"] == 4  # (the step that failed)
