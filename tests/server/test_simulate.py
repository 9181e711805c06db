"""Simulated participants (`Experiment.simulate`, `mug simulate`) through a real server on 127.0.0.1.

Every participant goes through the study over the page protocol; their data is marked simulated,
left out of results by default and given on request, and no real participant can be hidden.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import socketio
from envs import race_scene, walk_scene
from helpers import join

from mug import CompletionCodeScene, Experiment, GymScene, ScalesAndTextBox, StartScene, StaticScene
from mug.demo import make_demo_experiment
from mug.simulate import SimulationError

ROOT = Path(__file__).resolve().parents[2]
#: The `mug` command of this environment.
MUG = str(Path(sys.executable).parent / "mug")

CONSENT = '<label><input type="checkbox" name="consent" required> I agree</label>'


def two_player_experiment(data_dir: Path, **waitroom: float) -> Experiment:
    race = race_scene(length=45)
    if waitroom:
        race = race.waitroom(**waitroom)
    return Experiment(
        "pairs",
        [
            StartScene().scene("welcome").display(scene_body=CONSENT),
            race,
            ScalesAndTextBox(scale_questions={"fun": "It was fun."}, scale_size=5, text_box_header="Anything else?")
            .scene("ratings"),
            CompletionCodeScene().scene("end"),
        ],
        data_dir=data_dir,
    )  # fmt: skip


def test_six_simulated_participants_complete_the_demo_and_are_left_out_of_results(tmp_path) -> None:
    exp = make_demo_experiment(tmp_path)
    report = exp.simulate(6)
    assert report.ok, report
    assert len(report.completed) == 6 and "6 completed, 0 ended early, 0 errors" in repr(report)

    # Left out by default: the study still has no data.
    real = exp.results()
    assert real.participants.empty and real.steps.empty and real.forms.empty and real.games.empty

    everyone = exp.results(simulated=True)
    participants = everyone.participants.set_index("participant_id")
    assert sorted(participants.index) == sorted(report.participant_ids)
    assert set(participants["status"]) == {"completed"}
    assert participants["completion_code"].notna().all()
    assert all(flag["run"] == report.run_id for flag in participants["data.simulated"])
    # Every form answered validly: the required consent given, the required select chosen from its options.
    forms = everyone.forms.set_index(["participant_id", "scene_id"])
    assert forms.xs("consent", level="scene_id")["consent"].eq(True).all()
    assert set(forms.xs("feedback", level="scene_id")["difficulty"]) <= {"easy", "just right", "hard"}
    # Each played both episodes of Catch on the server, every step recorded.
    games = everyone.games
    assert len(games) == 6 and set(games["outcome"]) == {"completed"} and set(games["mode"]) == {"server_authoritative"}
    assert set(games["players.player"]) == set(report.participant_ids)
    episodes = everyone.episodes
    assert len(episodes) == 12 and (episodes["num_steps"] > 0).all()
    assert len(everyone.steps) == episodes["num_steps"].sum()
    assert set(everyone.steps["action"]) <= {0, 1, 2}

    only = exp.results(simulated="only")
    assert len(only.participants) == 6 and len(only.steps) == len(everyone.steps)


def test_a_two_player_study_matches_simulated_participants_in_pairs(tmp_path) -> None:
    exp = two_player_experiment(tmp_path)

    def always_right(observation):
        assert isinstance(observation, list), observation  # the agent's observation in the server's game
        return 2

    report = exp.simulate(6, policy={"race": always_right})
    assert report.ok, report
    assert exp.results().participants.empty and exp.results().games.empty

    data = exp.results(simulated=True)
    games = data.games
    assert len(games) == 3 and set(games["outcome"]) == {"completed"}
    pairs = [{row["players.red"], row["players.blue"]} for _, row in games.iterrows()]
    assert set().union(*pairs) == set(report.participant_ids)  # each in exactly one pair
    # The policy played: after the first frame the held action is "right" for both humans.
    steps = data.steps
    assert (steps[steps["step"] > 10][["action.red", "action.blue"]] == 2).all().all()
    ratings = data.forms[data.forms["scene_id"] == "ratings"]
    assert len(ratings) == 6 and ratings["fun"].between(1, 5).all()
    matched = data.events[data.events["kind"] == "matched"]
    assert len(matched) == 3
    assert exp.results().events[lambda e: e["kind"] == "matched"].empty  # their match log is left out too


def test_a_participant_without_a_partner_ends_early_and_the_report_says_why(tmp_path) -> None:
    exp = two_player_experiment(tmp_path, timeout=1.0)
    report = exp.simulate(3)
    assert len(report.completed) == 2
    [alone] = report.ended_early
    assert alone.reason == "waitroom_timeout" and alone.scene_id == "race.ended" and alone.completion_code
    assert "1 ended early" in repr(report) and "waitroom_timeout" in repr(report)
    assert not report.ok


CLIENT_SIDE_CATCH = "from mug.env.examples.catch import CatchEnv\nenv = CatchEnv(max_drops=2)\n"


def test_a_client_side_game_is_played_by_running_its_env_code_and_sending_its_records(tmp_path) -> None:
    game = (
        GymScene()
        .scene("catch")
        .runtime(env_code=CLIENT_SIDE_CATCH)
        .rendering(fps=30)
        .gameplay(action_mapping={"ArrowLeft": 1, "ArrowRight": 2}, default_action=0, num_episodes=2)
        .policies(policy_mapping={"player": "human"})
    )
    scenes = [StaticScene().scene("intro"), game, CompletionCodeScene().scene("end")]
    exp = Experiment("browser", scenes, data_dir=tmp_path)
    report = exp.simulate(2, policy=lambda observation: 1 if observation[0] > observation[1] else 2)
    assert report.ok, report
    data = exp.results(simulated=True)
    games = data.games
    # The server verified each game from the records the simulated pages sent (completed, not unverified).
    assert len(games) == 2 and set(games["mode"]) == {"client_pyodide"} and set(games["outcome"]) == {"completed"}
    assert len(data.episodes) == 4 and len(data.steps) == data.episodes["num_steps"].sum()
    assert set(data.steps["participant_id"]) == set(report.participant_ids)
    assert exp.results().steps.empty


FORM = """
<label><input type="radio" name="hand" value="left" required> left</label>
<label><input type="radio" name="hand" value="right"> right</label>
<label><input type="checkbox" name="pets" value="cat"> cat</label>
<label><input type="checkbox" name="pets" value="dog"> dog</label>
<input type="number" name="age" min="18" max="99" required>
<input type="email" name="email" required>
<input type="text" name="initials" minlength="2" maxlength="3" required>
<select name="colors" multiple required><option value="r">red</option><option value="g">green</option></select>
<textarea name="notes"></textarea>
"""


def test_every_kind_of_form_and_survey_is_answered_validly(tmp_path) -> None:
    from mug import MultipleChoice, OptionBoxesWithScalesAndTextBox, RandomizeOrder, RepeatScene, TextBox

    exp = Experiment(
        "forms",
        [
            StaticScene().scene("about").display(scene_body=FORM),
            RandomizeOrder(
                [
                    MultipleChoice(questions={"fav": "Favourite?"}, choices=["a", "b", "c"], multi_select=True)
                    .scene("choice"),
                    OptionBoxesWithScalesAndTextBox(options=["x", "y"], scale_questions=["Q"], scale_size=3)
                    .scene("options"),
                ]
            ),
            RepeatScene(TextBox().scene("feedback"), 2),
            CompletionCodeScene().scene("end"),
        ],
        data_dir=tmp_path,
    )  # fmt: skip
    report = exp.simulate(3, seed=5)
    assert report.ok, report  # the server checked every answer and refused none
    forms = exp.results(simulated=True).forms.set_index(["participant_id", "scene_id"])
    about = forms.xs("about", level="scene_id")
    assert set(about["hand"]) <= {"left", "right"}
    assert all(set(p) <= {"cat", "dog"} for p in about["pets"])
    assert all(18 <= int(a) <= 99 for a in about["age"]) and all("@" in e for e in about["email"])
    assert all(2 <= len(i) <= 3 for i in about["initials"]) and all(c and set(c) <= {"r", "g"} for c in about["colors"])
    assert all(f and set(f) <= {"a", "b", "c"} for f in forms.xs("choice", level="scene_id")["fav"])
    options = forms.xs("options", level="scene_id")
    assert set(options["option"]) <= {"x", "y"} and options["scale_1"].between(1, 3).all()
    assert len(forms.xs("feedback.2", level="scene_id")) == 3 and forms["text"].dropna().str.len().gt(0).all()


def test_a_model_plays_for_simulated_participants(tmp_path) -> None:
    from policies.policies_models import build_constant_bot

    from mug.policies import ModelConfig

    model = ModelConfig(build_constant_bot(tmp_path / "right.onnx", action=2), obs_input="obs", logit_output="logits")
    exp = two_player_experiment(tmp_path)
    report = exp.simulate(2, policy=model)
    assert report.ok, report
    steps = exp.results(simulated=True).steps
    assert (steps[steps["step"] > 10][["action.red", "action.blue"]] == 2).all().all()
    assert exp.results(simulated=True).participants["data.simulated"].iloc[0]["policy"] == "onnx:right.onnx"


DUO_ENV = """
from mug.env import Surface
from mug.env.spaces import Discrete


class Duo:
    possible_agents = ["me", "bot"]

    def __init__(self):
        self.agents = list(self.possible_agents)
        self.surface = Surface(100, 100)

    def action_space(self, agent):
        return Discrete(4, start=1)

    def reset(self, seed=None, options=None):
        self.t = 0
        return {a: [0.0] for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions):
        self.t += 1
        done = self.t >= 25
        return ({a: [float(self.t)] for a in self.agents}, {a: 0.0 for a in self.agents},
                {a: done for a in self.agents}, {a: False for a in self.agents}, {a: {} for a in self.agents})

    def render(self):
        self.surface.text(0.1, 0.1, f"t={self.t}", id="clock")
        return self.surface.commit()


env = Duo()
"""


def test_a_client_side_games_random_bot_draws_what_the_browsers_would(tmp_path) -> None:
    from mug.policies import agent_rng

    game = (
        GymScene()
        .scene("duo")
        .runtime(env_code=DUO_ENV)
        .gameplay(action_mapping={"a": 1}, default_action=1, num_episodes=2)
        .policies(policy_mapping={"me": "human", "bot": "random"})
    )
    exp = Experiment("bots", [game], data_dir=tmp_path)
    assert exp.simulate(1).ok
    data = exp.results(simulated=True)
    episodes = data.episodes.set_index("episode")
    for episode, rows in data.steps.groupby("episode"):
        # The browser's random bot: start + floor(u * n), u from the agent's PCG32 stream of the episode's seed.
        rng = agent_rng(int(episodes.loc[episode, "seed"]), "bot")
        assert list(rows.sort_values("step")["action.bot"]) == [1 + int(rng.uniform() * 4) for _ in range(25)]


def test_realtime_pace_plays_a_client_side_game_at_its_fps(tmp_path) -> None:
    game = (
        GymScene()
        .scene("catch")
        .runtime(env_code="from mug.env.examples.catch import CatchEnv\nenv = CatchEnv(max_drops=1)\n")
        .rendering(fps=20)
        .gameplay(action_mapping={"ArrowLeft": 1, "ArrowRight": 2}, default_action=0)
        .policies(policy_mapping={"player": "human"})
    )
    exp = Experiment("paced", [game, CompletionCodeScene().scene("end")], data_dir=tmp_path)
    assert exp.simulate(1, pace="fast").ok
    assert exp.simulate(1, pace="realtime").ok
    steps = exp.results(simulated=True).steps
    games = list(exp.results(simulated=True).games.sort_values("started_at")["game_id"])
    fast, paced = (steps[steps["game_id"] == g]["t"].diff().dropna() for g in games)
    assert fast.median() < 0.01  # back to back
    assert 0.04 < paced.median() < 0.06  # a tick every 1/20 s


def test_an_interrupt_stops_the_simulation_and_its_private_server(tmp_path) -> None:
    import _thread

    from mug.server.runner import running_servers

    exp = Experiment("stopped", [walk_scene(length=100_000), CompletionCodeScene().scene("end")], data_dir=tmp_path)

    def interrupt_once_playing(observation):
        if not getattr(interrupt_once_playing, "done", False):
            interrupt_once_playing.done = True  # type: ignore[attr-defined]
            _thread.interrupt_main()  # as Ctrl-C (or a notebook's stop button) while the game runs
        return 2

    with pytest.raises(KeyboardInterrupt):
        exp.simulate(1, policy=interrupt_once_playing)
    assert not [s for s in running_servers() if s.experiment is exp]
    games = exp.results(simulated=True).games
    assert len(games) == 1 and games["outcome"].iloc[0] == "aborted"  # the game ended with its server


def test_a_policy_that_presses_no_key_of_the_scene_is_reported(tmp_path) -> None:
    exp = two_player_experiment(tmp_path)
    report = exp.simulate(2, policy=lambda observation: 7)
    assert len(report.errors) == 2
    assert "returned 7" in report.errors[0].reason and "not one of the scene's actions" in report.errors[0].reason


def test_an_env_that_fails_on_the_server_is_named_in_the_report(tmp_path) -> None:
    exp = Experiment("broken", [walk_scene(fail_at=5), CompletionCodeScene().scene("end")], data_dir=tmp_path)
    report = exp.simulate(1)
    assert not report.ok and len(report.problems) == 1
    assert "1 met problems" in repr(report)
    assert any("RuntimeError: the walk fell over" in error for error in report.problems[0].errors)


def test_a_real_participant_cannot_be_hidden_as_simulated(tmp_path) -> None:
    exp = Experiment(
        "open",
        [StartScene().scene("welcome"), StaticScene().scene("next"), CompletionCodeScene().scene("end")],
        data_dir=tmp_path,
        allow_device_switch=True,
    )
    report = exp.simulate(1)
    simulated_id = report.participant_ids[0]
    with exp.serve() as server:
        client = socketio.Client(reconnection=False)
        client.connect(server.url, transports=["websocket"], socketio_path="socket.io")
        try:
            # A link that claims to be simulated is only a query parameter.
            assert join(client, server, "real-1", query={"participant": "real-1", "simulated": "1"})["ok"]
            client.call("advance", {"scene_id": "welcome"})
        finally:
            client.disconnect()
        client = socketio.Client(reconnection=False)
        client.connect(server.url, transports=["websocket"], socketio_path="socket.io")
        try:
            # Someone who opens a simulated participant's id on their own device takes the session over
            # (allow_device_switch): from then on they count as real.
            assert join(client, server, simulated_id)["ok"]
        finally:
            client.disconnect()
    ids = set(exp.results().participants["participant_id"])
    assert ids == {"real-1", simulated_id}
    assert exp.results(simulated="only").participants.empty


def test_bad_arguments_are_refused_before_anyone_joins(tmp_path) -> None:
    exp = two_player_experiment(tmp_path)
    with pytest.raises(SimulationError, match="n must be a whole number"):
        exp.simulate(0)
    with pytest.raises(SimulationError, match="pace must be 'fast' or 'realtime'"):
        exp.simulate(2, pace="slow")  # type: ignore[arg-type]
    with pytest.raises(SimulationError, match="policy names scene\\(s\\) 'nope'"):
        exp.simulate(2, policy={"nope": "random"})
    with pytest.raises(SimulationError, match="unknown policy 'greedy'"):
        exp.simulate(2, policy="greedy")
    assert not exp.data_path.exists() or exp.results(simulated=True).participants.empty


STUDY = """
from mug import CompletionCodeScene, Experiment, GymScene, StartScene
from mug.env import Surface
from mug.env.spaces import Discrete


class Race:
    possible_agents = ["red", "blue"]

    def __init__(self):
        self.agents = list(self.possible_agents)
        self.surface = Surface(200, 100)

    def action_space(self, agent):
        return Discrete(3)

    def reset(self, seed=None, options=None):
        self.t = 0
        return {a: [0.0] for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions):
        self.t += 1
        done = self.t >= 30
        return ({a: [self.t / 30] for a in self.agents}, {a: float(actions[a] == 2) for a in self.agents},
                {a: done for a in self.agents}, {a: False for a in self.agents}, {a: {} for a in self.agents})

    def render(self):
        self.surface.circle(self.t / 30, 0.5, 0.05, fill="#cc3333", id="dot")
        return self.surface.commit()


def pairs():
    race = (
        GymScene().scene("race").environment(env_creator=Race).rendering(fps=30)
        .gameplay(action_mapping={"ArrowRight": 2}, default_action=0)
        .policies(policy_mapping={"red": "human", "blue": "human"}).multiplayer()
    )
    return Experiment("pairs", [StartScene().scene("hello"), race, CompletionCodeScene().scene("end")], data_dir="data")


PADDLES = "from mug.env.examples import PaddlesEnv\\nenv = PaddlesEnv(points_to_win=1)\\n"


def duels():
    duel = (
        GymScene().scene("duel").runtime(env_code=PADDLES)
        .gameplay(action_mapping={"ArrowUp": 1, "ArrowDown": 2}, default_action=0, max_steps=120)
        .policies(policy_mapping={"left": "human", "right": "human"}).multiplayer(mode="p2p")
    )
    return Experiment("duels", [StartScene().scene("hello"), duel, CompletionCodeScene().scene("end")], data_dir="data")
"""


@pytest.mark.parametrize("name", ["demo", "pairs", "duels"])
def test_mug_simulate_runs_six_participants_from_a_script(tmp_path, name) -> None:
    study = tmp_path / "study.py"
    study.write_text(textwrap.dedent(STUDY), encoding="utf-8")
    # The demo is mug/demo.py itself (its factory); the two-player studies (server-run, P2P) a file of the researcher's.
    target = f"{ROOT / 'mug' / 'demo.py'}:make_demo_experiment" if name == "demo" else f"{study}:{name}"
    done = subprocess.run(
        [MUG, "simulate", target, "-n", "6", "--data-dir", str(tmp_path / "d")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "6 participants, 6 completed, 0 ended early, 0 errors" in done.stdout

    from mug.data import load_results

    folder = tmp_path / "d" / ("mug-demo" if name == "demo" else name)
    assert load_results(folder).participants.empty
    everyone = load_results(folder, simulated=True)
    assert len(everyone.participants) == 6 and set(everyone.participants["status"]) == {"completed"}
    assert len(everyone.games) == (6 if name == "demo" else 3) and set(everyone.games["outcome"]) == {"completed"}

    # mug export leaves them out unless asked.
    for flag, rows in (([], 0), (["--simulated", "only"], 6)):
        out = tmp_path / f"export{len(flag)}"
        exported = subprocess.run(
            [MUG, "export", str(folder), "--out", str(out), *flag], capture_output=True, text=True
        )
        assert exported.returncode == 0, exported.stderr
        lines = (out / "participants.csv").read_text().strip().splitlines()
        assert len(lines) == 1 + rows


def test_mug_simulate_exits_2_naming_what_cannot_run(tmp_path) -> None:
    done = subprocess.run(
        [MUG, "simulate", str(tmp_path / "missing.py"), "-n", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "no such file" in done.stderr
