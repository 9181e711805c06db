"""Replay of server-run games: a recorded episode rebuilt from the saved seed, config and actions
matches the record step for step; a nondeterministic env is caught at the right step and field; the
widget's state and ``mug replay`` say the same."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from envs import race_scene, walk_scene
from helpers import run_async
from replay_envs import Drift, drift_scene

import mug
from mug.replay import ReplayError, replay_game
from mug.widgets import autopilot

TESTS = Path(__file__).resolve().parents[1]


def steering(spec, step: int) -> int:
    """Right for 5 steps, left for 3, then nothing for 2, over and over: varied recorded actions."""
    return [2, 2, 2, 2, 2, 1, 1, 1, 0, 0][step % 10]


def record(tmp_path: Path, scene, experiment_id: str = "replays") -> tuple[mug.Experiment, str]:
    """Play `scene` once through a real server with a scripted participant; returns (experiment, game id)."""
    exp = mug.Experiment(experiment_id, [mug.StartScene().scene("hello"), scene, mug.EndScene().scene("end")],
                         data_dir=tmp_path)  # fmt: skip
    server = exp.serve()
    try:
        run_async(autopilot(server, "walker-1", policy=steering))
    finally:
        server.stop()
    games = exp.results().games
    assert list(games["outcome"]) == ["completed"]
    return exp, str(games.iloc[0]["game_id"])


def mug_replay(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    command = [str(Path(sys.executable).with_name("mug")), "replay", *args]  # the installed `mug` command
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def test_a_server_run_game_replays_with_no_divergence_and_the_widget_plays_it(tmp_path: Path) -> None:
    exp, game_id = record(tmp_path, drift_scene(length=25, episodes=2))
    steps = exp.results().steps
    assert len(steps) == 50 and set(steps["action"]) == {0, 1, 2} and steps["obs"].notna().all()

    result = replay_game(exp.data_path, game_id)
    assert result.ok and result.divergences == [] and result.first_divergence is None
    assert [len(ep.steps) for ep in result.episodes.values()] == [25, 25]
    assert result.compared == ("rewards", "terminated", "truncated", "observations", "infos")
    # The replay's values are the recorded ones (rewards carry the seeded gusts of each episode).
    episode_2 = steps[steps["episode"] == 2].reset_index()
    assert [s.rewards["walker"] for s in result.episodes[2].steps] == list(episode_2["reward"])
    assert result.episodes[2].seed == 12  # the scene's seed 11, + 1 for the second episode

    widget = exp.replay(game_id[:6], episode=2)  # a unique beginning of the id will do
    assert widget.ok and widget.divergence == {} and widget.first_divergence is None
    assert "every step matches the record" in widget.verdict
    assert len(widget.frames) == 26 and widget.position == 0  # the reset frame, then one per step
    assert widget.huds[0] == "episode 2 step 0" and widget.huds[25] == "episode 2 step 25"
    assert [s["step"] for s in widget.steps] == list(range(26)) and widget.steps[3]["actions"] == {"walker": 2}
    dot = next(o for o in widget.frames[0]["objects"] if o.get("id") == "dot")
    assert dot["x"] == 0.5  # the first frame is whole; later ones carry what changed
    widget.step()
    widget.step(3)
    assert widget.position == 4
    widget.seek(25)
    widget.step()
    assert widget.position == 25
    widget.play()  # from the end: starts over
    assert widget.playing and widget.position == 0
    widget.pause()
    with pytest.raises(ValueError, match="from 0 to 25"):
        widget.seek(26)

    done = mug_replay(str(exp.data_path), game_id)
    assert done.returncode == 0, done.stderr
    assert "episode 1 (seed 11, 25 steps recorded" in done.stdout and "result: matches the record" in done.stdout


def test_a_nondeterministic_env_is_reported_at_the_step_and_field_where_it_diverges(tmp_path: Path) -> None:
    exp, game_id = record(tmp_path, drift_scene(length=20, episodes=1, glitch_at=7))
    result = replay_game(exp.data_path, game_id)
    assert not result.ok
    first = result.first_divergence
    assert first is not None and (first.episode, first.step, first.field) == (1, 7, "rewards.walker")
    recorded = exp.results().steps.set_index("step").loc[7, "reward"]
    assert first.recorded == recorded and first.replayed != recorded
    assert all(d.step == 7 for d in result.divergences)  # the glitch does not carry into the state

    widget = exp.replay(game_id)
    assert not widget.ok and widget.divergence["step"] == 7 and widget.divergence["field"] == "rewards.walker"
    assert "DIVERGES" in widget.verdict and "first at step 7, rewards.walker" in widget.verdict
    assert widget.steps[7]["divergences"] and not widget.steps[6]["divergences"]

    done = mug_replay(str(exp.data_path), game_id, "--episode", "1")
    assert done.returncode == 1, done.stderr
    assert "first at step 7, rewards.walker" in done.stdout and "DIVERGES from the record" in done.stdout


def test_a_nondeterministic_observation_names_the_agent_and_the_index(tmp_path: Path) -> None:
    exp, game_id = record(tmp_path, drift_scene(length=12, episodes=1, glitch_at=4, glitch="observation"))
    first = replay_game(exp.data_path, game_id).first_divergence
    assert first is not None and (first.step, first.field) == (4, "observations.walker[1]")


def test_a_game_with_a_bot_and_a_game_that_ended_on_an_env_error_replay_what_was_recorded(tmp_path: Path) -> None:
    # A PettingZoo env with a random bot beside the human: the bot's recorded actions are replayed.
    exp, game_id = record(tmp_path / "race", race_scene("race", agents=("red",), length=30, bots={"blue": "random"}))
    result = replay_game(exp.data_path, game_id)
    assert result.ok, result.report()
    assert len({s.actions["blue"] for s in result.episodes[1].steps}) > 1
    assert exp.replay(game_id).huds[30].startswith("red=")  # the scene's HUD function, on the replayed env

    # The env raised at step 9 when played: the 8 steps recorded replay, and the report says how it ended.
    broken = mug.Experiment("broken", [walk_scene("walk", fail_at=9)], data_dir=tmp_path / "broken")
    server = broken.serve()
    try:
        run_async(autopilot(server, "walker-2", policy=steering))
    finally:
        server.stop()
    games = broken.results().games
    assert list(games["outcome"]) == ["error"]
    result = replay_game(broken.data_path, str(games.iloc[0]["game_id"]))
    assert result.ok and len(result.episodes[1].steps) == 8
    ended = "stopped on an error after step 8 of episode 1: RuntimeError: the walk fell over"
    assert any(ended in note for note in result.notes), result.notes


def test_a_tolerance_accepts_differences_in_the_last_bits_only(tmp_path: Path) -> None:
    exp, game_id = record(tmp_path, drift_scene(length=12, episodes=1, glitch_at=5, glitch="last_bits"))
    exact = replay_game(exp.data_path, game_id)
    assert exact.first_divergence is not None and (exact.first_divergence.step, exact.first_divergence.field) == (
        5, "rewards.walker",
    )  # fmt: skip
    assert replay_game(exp.data_path, game_id, tolerance=1e-12).ok
    assert exp.replay(game_id, tolerance=1e-12).ok
    done = mug_replay(str(exp.data_path), game_id, "--tolerance", "1e-12")
    assert done.returncode == 0 and "numbers within 1e-12" in done.stdout
    with pytest.raises(ValueError, match="tolerance must be a number"):
        replay_game(exp.data_path, game_id, tolerance=-1)


def test_a_step_missing_from_the_record_stops_the_replay_there_and_says_so(tmp_path: Path) -> None:
    exp, game_id = record(tmp_path, drift_scene(length=10, episodes=1))
    conn = sqlite3.connect(exp.data_path / "mug.sqlite3")
    conn.execute("DELETE FROM steps WHERE step = 5")  # as if it had been lost
    conn.commit()
    conn.close()
    episode = replay_game(exp.data_path, game_id).episodes[1]
    assert not episode.ok and episode.divergences == [] and len(episode.steps) == 4
    assert episode.stopped is not None and "step 5 of episode 1 is missing from the record" in episode.stopped
    assert "cannot go past it" in episode.verdict()


def test_what_cannot_be_replayed_says_why(tmp_path: Path) -> None:
    scene = (
        mug.GymScene().scene("inline")
        .environment(env_creator=lambda length: Drift(length=length), env_config={"length": 5}, seed=3)
        .gameplay(action_mapping={"ArrowRight": 2}, default_action=0)
        .policies(policy_mapping={"walker": "human"})
    )  # fmt: skip
    exp, game_id = record(tmp_path, scene, "inline")
    # A lambda has no importable name: from the data alone it cannot be rebuilt, and the error says what to do.
    with pytest.raises(ReplayError, match=r"not saved under an importable name .* exp\.replay\(game_id\)"):
        replay_game(exp.data_path, game_id)
    assert replay_game(exp.data_path, game_id, experiment=exp).ok  # from the experiment it can
    done = mug_replay(str(exp.data_path), game_id)
    assert done.returncode == 2 and "importable name" in done.stderr
    with pytest.raises(ReplayError, match="no game 'nope'"):
        replay_game(exp.data_path, "nope")
    with pytest.raises(ReplayError, match="no episode 3 recorded"):
        replay_game(exp.data_path, game_id, episodes=[3], experiment=exp)
    listed = mug_replay(str(exp.data_path))
    assert listed.returncode == 0 and game_id in listed.stdout and "inline" in listed.stdout


def test_a_game_of_a_version_3_database_replays_from_the_config_saved_before_it_and_after_the_upgrade(
    tmp_path: Path,
) -> None:
    exp, game_id = record(tmp_path, drift_scene(length=10, episodes=1))
    db = exp.data_path / "mug.sqlite3"
    conn = sqlite3.connect(db)
    # Make it a version-3 database, whose games did not name their config...
    conn.executescript(
        "ALTER TABLE games DROP COLUMN host; ALTER TABLE games DROP COLUMN metadata_id; PRAGMA user_version = 3;"
    )
    config = json.loads(conn.execute("SELECT config FROM metadata").fetchone()[0])
    config["scenes"][0]["env_config"] = {"length": 99}  # ...with a later server start under another config
    conn.execute("INSERT INTO metadata (written_at, config, versions) VALUES (?, ?, '{}')",
                 (1e12, json.dumps(config)))  # fmt: skip
    conn.commit()
    conn.close()
    result = replay_game(exp.data_path, game_id)  # read as it is, read-only
    assert result.ok and "saved last before the game started (metadata row 1)" in result.record.config_source
    with mug.data.Store(exp.data_path) as store:  # a server opening it upgrades it, keeping the data
        assert store.counts()["steps"] == 10
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 5
    assert conn.execute("SELECT metadata_id FROM games").fetchall() == [(None,)]
    conn.close()
    assert replay_game(exp.data_path, game_id).ok


EXPERIMENT_FILE = """
import mug
from replay_envs import Drift


class Gusty(Drift):  # defined in the study's own file: not importable by name from the data
    pass


game = (
    mug.GymScene().scene("gusty")
    .environment(env_creator=Gusty, env_config={"length": 8}, seed=4)
    .gameplay(action_mapping={"ArrowRight": 2}, default_action=0)
    .policies(policy_mapping={"walker": "human"})
)
exp = mug.Experiment("gusty", [game], data_dir=DATA)
"""


def test_mug_replay_rebuilds_an_env_defined_in_the_experiment_file_with_experiment(tmp_path: Path) -> None:
    from mug.cli import load_experiment

    study = tmp_path / "study.py"
    study.write_text(EXPERIMENT_FILE.replace("DATA", repr(str(tmp_path / "data"))))
    sys.path.insert(0, str(TESTS))
    try:
        exp = load_experiment(str(study))  # as `mug serve study.py` loads it
    finally:
        sys.path.remove(str(TESTS))
    server = exp.serve()
    try:
        run_async(autopilot(server, "walker-1", policy=steering))
    finally:
        server.stop()
    game_id = str(exp.results().games.iloc[0]["game_id"])
    refused = mug_replay(str(exp.data_path), game_id)
    assert refused.returncode == 2 and "--experiment path/to/experiment.py" in refused.stderr, refused.stderr
    done = mug_replay("--experiment", str(study), str(exp.data_path), game_id)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Gusty of the experiment's scene 'gusty'" in done.stdout and "8 steps replayed" in done.stdout


def test_a_fixed_hud_text_replays_with_its_fields_filled_in(tmp_path: Path) -> None:
    scene = walk_scene("walk", length=20).rendering(hud="step {step} of {max_steps} · score {score}")
    exp, game_id = record(tmp_path, scene)
    steps = exp.results().steps
    rewards = steps[next(c for c in steps.columns if c.startswith("reward"))]
    score = int(rewards.iloc[:10].sum())
    assert exp.replay(game_id).huds[10] == f"step 10 of 1000 · score {score}"


def test_the_replay_widget_draws_the_scene_sprites_from_their_files(tmp_path: Path) -> None:
    from sprites import RED, solid_cells

    png = solid_cells(tmp_path / "chef.png", [RED], cell=4)
    exp, game_id = record(tmp_path / "data", walk_scene("walk", length=10).assets(images={"chef": png}))
    texture = exp.replay(game_id).assets["textures"][0]
    assert texture["key"] == "chef" and texture["url"].startswith("data:image/png;base64,")
    png.unlink()  # gone since the game: the replay says the sprite is not drawn
    widget = exp.replay(game_id)
    assert widget.assets["textures"] == [] and any("sprite image 'chef' is not drawn" in n for n in widget.notes)
