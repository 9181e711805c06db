"""Every study in examples/ is served and completed by simulated participants, through the real
server on 127.0.0.1 (mug.simulate), and its data is what the example says it records.

The experiments are loaded from their files as `mug serve examples/<name>.py` loads them. Server-run
games tick at their fps whoever plays, so those scenes are shortened here (fewer steps, one
episode, a faster clock); everything else is as shipped. Mountain Car (a client-side game, which
simulated participants step back to back) runs as shipped through `mug simulate`. Each example
is also started with `mug serve` and its participant page fetched.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from mug import Experiment, GymScene
from mug.cli import load_experiment

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
MUG = str(Path(sys.executable).parent / "mug")
NAMES = ["overcooked", "overcooked_human_ai", "study_flow", "mountain_car", "p2p_paddles"]


def example(name: str, data_dir: Path) -> Experiment:
    exp = load_experiment(str(EXAMPLES / f"{name}.py"))
    exp.data_dir = data_dir
    return exp


def shorten(exp: Experiment, steps: int, fps: int | None = None) -> list[GymScene]:
    """Every game scene of `exp` made one episode of `steps` steps (at `fps`)."""
    games = [s for s in exp.scenes if isinstance(s, GymScene)]
    for game in games:
        game.gameplay(num_episodes=1, max_steps=steps, reset_freeze_s=0)
        if fps:
            game.rendering(fps=fps)
    return games


def test_examples_readme_lists_every_example() -> None:
    readme = (EXAMPLES / "README.md").read_text()
    for name in NAMES:
        assert f"examples/{name}.py" in readme


def test_two_people_cook_in_the_overcooked_kitchen(tmp_path) -> None:
    exp = example("overcooked", tmp_path)
    shorten(exp, steps=60, fps=30)
    report = exp.simulate(2, seed=3)
    assert report.ok and len(report.completed) == 2, report
    data = exp.results(simulated=True)
    (game,) = data.games.to_dict("records")
    assert game["outcome"] == "completed"
    assert {game["players.blue"], game["players.green"]} == set(report.participant_ids)
    assert len(data.steps) == 60 and set(data.steps["action.blue"]) <= set(range(7))
    ratings = data.forms[data.forms["scene_id"] == "teamwork"]
    assert len(ratings) == 2 and ratings["teamwork"].between(1, 7).all()


def test_the_ai_partner_cooks_and_serves_with_a_random_participant(tmp_path) -> None:
    exp = example("overcooked_human_ai", tmp_path)
    shorten(exp, steps=400, fps=60)
    report = exp.simulate(1, seed=5)
    assert report.ok and len(report.completed) == 1, report
    steps = exp.results(simulated=True).steps
    assert len(steps) == 400
    # The network (green) carries onions and soup whoever its partner is: points are scored
    # (3 an onion in the pot, 5 a soup on a plate, 20 a soup served).
    assert steps["reward.green"].sum() >= 20
    assert steps["info.green.soups"].max() >= 1


def test_the_study_flow_balances_conditions_and_types_the_answers(tmp_path) -> None:
    exp = example("study_flow", tmp_path)
    shorten(exp, steps=40)
    report = exp.simulate(4, seed=7, query={"STUDY_ID": "s1"})
    assert report.ok and len(report.completed) == 4, report
    data = exp.results(simulated=True)
    conditions = data.games["scene_id"].value_counts().to_dict()
    assert conditions == {"catch_narrow": 2, "catch_wide": 2}  # balanced: the least assigned first
    ratings = data.forms[data.forms["scene_id"] == "ratings"]
    assert len(ratings) == 4 and str(ratings["fun"].dtype) == "Int64"
    background = data.forms[data.forms["scene_id"] == "background"]
    assert all(answer[0] in ("Never", "Once or twice", "Often") for answer in background["played_before"])
    codes = data.participants["completion_code"]
    assert codes.notna().all() and codes.str.len().eq(10).all()


def test_mountain_car_runs_in_the_participants_python_as_shipped(tmp_path) -> None:
    out = subprocess.run(
        [MUG, "simulate", str(EXAMPLES / "mountain_car.py"), "-n", "2", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 participants, 2 completed" in out.stdout
    from mug.data import load_results

    steps = load_results(tmp_path / "mountain-car", simulated=True).steps
    assert set(steps["episode"]) == {1, 2, 3} and steps.groupby(["participant_id", "episode"]).size().max() <= 600


def test_two_peers_play_the_p2p_example_and_their_records_agree(tmp_path) -> None:
    exp = example("p2p_paddles", tmp_path)
    shorten(exp, steps=90)
    report = exp.simulate(2, seed=11)
    assert report.ok and len(report.completed) == 2, report
    data = exp.results(simulated=True)
    assert list(data.games["outcome"]) == ["completed"]
    assert list(data.episodes["parity"]) == ["match"]


@pytest.fixture
def served(tmp_path) -> Iterator[callable]:
    procs: list[subprocess.Popen] = []

    def start(name: str) -> str:
        proc = subprocess.Popen(
            [MUG, "serve", str(EXAMPLES / f"{name}.py"), "--port", "0", "--data-dir", str(tmp_path / name)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        procs.append(proc)
        assert proc.stdout is not None
        for line in proc.stdout:  # the banner names the participant URL once the server listens
            found = re.search(r"participant URL: (\S+)", line)
            if found:
                return found.group(1)
        raise AssertionError(f"mug serve examples/{name}.py ended without serving (exit {proc.wait()})")

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.parametrize("name", NAMES)
def test_mug_serve_serves_the_example(served, name) -> None:
    url = served(name)
    assert url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200 and "<html" in response.read().decode().lower()
