"""Simulated participants in P2P scenes (`Experiment.simulate`), through a real server on 127.0.0.1.

The simulated peers of a game are matched in the scene's waitroom, exchange their inputs through
the server's relay (``p2p_relay``) in lockstep, run the env code through the worker's own Python
side and send the records a browser's page sends; the server verifies each peer's records and
compares them (``episodes.parity``).
"""

from __future__ import annotations

import pytest

from mug import CompletionCodeScene, Experiment, GymScene, StartScene
from mug.data import load_results
from mug.replay import replay_game
from mug.simulate.p2p_game import decode_inputs, encode_inputs

PADDLES = "from mug.env.examples import PaddlesEnv\nenv = PaddlesEnv(points_to_win=2)\n"

STEP_FIELDS = ["actions", "rewards", "terminated", "truncated", "infos", "observations", "focus"]


def duel(env_code: str = PADDLES, agents: dict[str, object] | None = None, **gameplay) -> GymScene:
    return (
        GymScene()
        .scene("duel")
        .runtime(env_code=env_code)
        .multiplayer(mode="p2p", input_delay=2)
        .policies(policy_mapping=agents or {"left": "human", "right": "human"})
        .gameplay(action_mapping={"ArrowUp": 1, "ArrowDown": 2}, default_action=0, **gameplay)
        .rendering(fps=30, game_width=800, game_height=480)
    )


def peers_agree(data, game_id: str, peers: list[str]) -> None:
    """Each of these peers recorded every step of the game, and the same step (what the game did)."""
    rows = data.peer_steps[data.peer_steps["game_id"] == game_id]
    assert set(peers) <= set(rows["participant_id"])
    by_peer = [rows[rows["participant_id"] == p].sort_values(["episode", "step"]).reset_index(drop=True) for p in peers]
    canonical = data.steps[data.steps["game_id"] == game_id]
    assert all(len(mine) == len(canonical) for mine in by_peer)
    columns = [c for c in by_peer[0].columns if c.split(".")[0] in STEP_FIELDS]
    for other in by_peer[1:]:
        assert by_peer[0][columns].equals(other[columns])


def test_two_simulated_peers_play_a_p2p_game_to_the_end_with_identical_records(tmp_path) -> None:
    scenes = [StartScene().scene("hello"), duel(num_episodes=2, max_steps=150), CompletionCodeScene().scene("end")]
    exp = Experiment("duel", scenes, data_dir=tmp_path)
    report = exp.simulate(2)
    assert report.ok, report
    assert [p.scenes for p in report.participants] == [["hello", "duel", "end"]] * 2
    assert exp.results().games.empty and exp.results().participants.empty  # left out by default

    data = load_results(exp.data_path, simulated=True, peer_rows=True)
    [game] = data.games.to_dict("records")
    # The server recorded the P2P game and ended it completed: it verified both peers' records.
    assert game["mode"] == "client_p2p" and game["outcome"] == "completed"
    assert {game["players.left"], game["players.right"]} == set(report.participant_ids)
    episodes = data.episodes.sort_values("episode")
    assert list(episodes["episode"]) == [1, 2] and list(episodes["parity"]) == ["match", "match"]
    assert (episodes["num_steps"] > 0).all() and len(data.steps) == episodes["num_steps"].sum()
    peers_agree(data, game["game_id"], report.participant_ids)
    steps = data.steps
    # Both players pressed keys (random over the scene's keys), and both pages were in focus.
    assert set(steps["action.left"]) == {0, 1, 2} and set(steps["action.right"]) == {0, 1, 2}
    assert steps["focus.left"].all() and steps["focus.right"].all()
    # Each peer's figures: its partner over the server relay, nothing predicted or rolled back.
    p2p = data.p2p.set_index("participant_id")
    assert sorted(p2p.index) == sorted(report.participant_ids)
    assert all(set(t.values()) == {"server"} for t in p2p["transport"])
    assert (p2p["rollbacks"] == 0).all() and (p2p["frames"] >= episodes["num_steps"].sum()).all()
    # The records are those of the env as the worker runs it: a replay reproduces every step.
    replay = replay_game(exp.data_path, game["game_id"])
    assert replay.ok, replay.report()


TRIO = """
from mug.env import Surface
from mug.env.spaces import Discrete

AGENTS = ["a", "b", "bot"]

class Trio:
    possible_agents = AGENTS

    def __init__(self):
        self.agents = list(AGENTS)
        self.surface = Surface(300, 300)
        self.pos = {a: 50 for a in AGENTS}
        self.t = 0

    def action_space(self, agent):
        return Discrete(3)

    def reset(self, seed=None, options=None):
        self.pos = {a: 50 for a in AGENTS}
        self.t = 0
        return self._obs(), {a: {} for a in AGENTS}

    def step(self, actions):
        for agent, action in actions.items():
            self.pos[agent] = max(0, min(100, self.pos[agent] + {0: 0, 1: -3, 2: 3}[action]))
        self.t += 1
        done = self.t >= 60
        flags = {a: done for a in AGENTS}
        return self._obs(), {a: 0.0 for a in AGENTS}, flags, {a: False for a in AGENTS}, {a: {} for a in AGENTS}

    def _obs(self):
        view = [self.pos[a] / 100 for a in AGENTS] + [(self.t % 20) / 20]
        return {a: list(view) for a in AGENTS}

    def get_state(self):
        return {"pos": dict(self.pos), "t": self.t}

    def set_state(self, state):
        self.pos = dict(state["pos"])
        self.t = state["t"]

    def render(self):
        for i, agent in enumerate(AGENTS):
            self.surface.circle(self.pos[agent] / 100, (i + 1) / 4, 0.03, fill="#3050d0", id=agent)
        return self.surface.commit()

env = Trio()
"""


def browser_bot_actions(model, seed: int, episode: int, actions: list[dict[str, int]]) -> list[int]:
    """What a browser's P2P bot plays in an episode with these recorded actions: the model run on the
    bot's observation and recurrent state, sampled with the draw every peer makes for (seed, episode,
    step, agent) (bridge.py's ``sample_draw``), as mug/client/src/runtime/p2p_bots.ts does."""
    from mug.policies import OnnxPolicy
    from mug.policies.sampling import sample_index, softmax
    from mug.simulate.browser_game import load_bridge

    bridge = load_bridge()
    namespace: dict[str, object] = {}
    exec(TRIO, namespace)
    env = namespace["env"]
    policy = OnnxPolicy(model, agent_id="bot")
    policy.reset(0)
    observations, _ = env.reset(seed=seed + episode - 1)
    played = []
    for step, recorded in enumerate(actions):
        logits = policy.logits(observations["bot"])
        played.append(sample_index(softmax(logits.tolist()), bridge.sample_draw(seed, episode, step, "bot")))
        observations, *_ = env.step(recorded)
    return played


@pytest.mark.parametrize("bot", ["onnx", "random"])
def test_simulated_peers_play_a_p2p_game_with_a_bot_and_record_the_same_bot_actions(tmp_path, bot) -> None:
    from policies.policies_models import build_recurrent_bot

    from mug.policies import ModelConfig

    model = ModelConfig(
        build_recurrent_bot(tmp_path / "bot.onnx"),
        obs_input="obs", logit_output="logits", state_inputs=["h_in"], state_outputs=["h_out"],
    )  # fmt: skip
    scene = duel(TRIO, {"a": "human", "b": "human", "bot": model if bot == "onnx" else "random"}, num_episodes=2)
    exp = Experiment("trio", [scene, CompletionCodeScene().scene("end")], data_dir=tmp_path)
    report = exp.simulate(2)
    assert report.ok, report
    data = load_results(exp.data_path, simulated=True, peer_rows=True)
    [game] = data.games.to_dict("records")
    assert game["outcome"] == "completed" and game["players.bot"] == ("policy:onnx:bot.onnx" if bot == "onnx" else
                                                                     "policy:random")  # fmt: skip
    assert list(data.episodes["parity"]) == ["match", "match"]
    peers_agree(data, game["game_id"], report.participant_ids)
    steps = data.steps.sort_values(["episode", "step"])
    assert len(set(steps["action.bot"])) > 1  # the bot sampled: its actions follow its draws
    if bot == "onnx":  # what a browser's bot would have played, step by step
        for episode, rows in steps.groupby("episode"):
            recorded = [{a: int(r[f"action.{a}"]) for a in ("a", "b", "bot")} for _, r in rows.iterrows()]
            expected = browser_bot_actions(model, int(game["seed"]), int(episode), recorded)
            assert [r["bot"] for r in recorded] == expected
    assert replay_game(exp.data_path, game["game_id"]).ok


def test_the_relay_framing_round_trips_and_refuses_what_is_not_a_simulated_peers_packet() -> None:
    data = encode_inputs(0xDEADBEEF, 40, [(2, 1), (0, 0)])
    assert decode_inputs(0xDEADBEEF, data) == (40, [(2, 1), (0, 0)])
    with pytest.raises(ValueError, match="names session 1, not this game's"):
        decode_inputs(0xDEADBEEF, encode_inputs(1, 0, [(0, 1)]))
    with pytest.raises(ValueError, match="not a simulated peer's"):
        decode_inputs(0xDEADBEEF, "AAAAAAAAAAAAAAAAAAAA")
    with pytest.raises(ValueError, match="not base64"):
        decode_inputs(0xDEADBEEF, "not base64!")


def test_a_simulated_participant_left_alone_plays_the_waitrooms_ai_fill_in_game(tmp_path) -> None:
    scene = duel(max_steps=40).waitroom(timeout=0.5, timeout_policy="random")
    exp = Experiment("alone", [scene, CompletionCodeScene().scene("end")], data_dir=tmp_path)
    report = exp.simulate(1)
    assert report.ok, report
    data = exp.results(simulated=True)
    [game] = data.games.to_dict("records")
    # Nobody came: the page played alone, the random policy in its partner's place, and the server
    # verified the client-side game from its records.
    assert game["mode"] == "client_pyodide" and game["outcome"] == "completed"
    assert game["players.left"] == report.participant_ids[0] and game["players.right"] == "policy:random"
    assert len(data.steps) == data.episodes["num_steps"].sum() > 0
    assert len(set(data.steps["action.right"])) > 1


def test_a_peer_whose_policy_fails_leaves_the_game_and_its_partner_ends_early(tmp_path) -> None:
    calls = []

    def fails_once(observation):
        calls.append(observation)
        if len(calls) == 30:  # (one peer's 30th frame or the other's: one of them fails, once)
            raise RuntimeError("the policy fell over")
        return 1

    exp = Experiment("broken", [duel(max_steps=300), CompletionCodeScene().scene("end")], data_dir=tmp_path)
    report = exp.simulate(2, policy=fails_once)
    assert not report.ok
    [failed] = report.problems
    assert failed.status == "completed" and "raised RuntimeError: the policy fell over" in failed.errors[0]
    [partner] = [p for p in report.participants if p is not failed]
    # The server told the partner its game was over (on_player_drop="end_game"): a completion code.
    assert partner.status == "ended_early" and partner.reason == "partner_left" and partner.completion_code
    data = exp.results(simulated=True)
    assert list(data.games["outcome"]) == ["error"]
    assert "policy_error" in set(data.events["kind"])


def test_a_p2p_probe_finds_no_datachannel_and_the_report_says_why_nobody_was_grouped(tmp_path) -> None:
    from mug import FIFOMatchmaker

    scene = duel().waitroom(timeout=3.0)
    scene.multiplayer(mode="p2p", matchmaker=FIFOMatchmaker(max_p2p_rtt_ms=150))
    exp = Experiment("probed", [scene, CompletionCodeScene().scene("end")], data_dir=tmp_path)
    report = exp.simulate(2)
    # Simulated pages have no DataChannel to measure: the proposed pair is dissolved at once and
    # never proposed again, so both wait out the waitroom; the report names the matchmaker's bound.
    assert [p.reason for p in report.ended_early] == ["waitroom_timeout"] * 2
    assert all("max_p2p_rtt_ms" in p.errors[0] for p in report.participants)
    events = exp.results(simulated=True).events
    [probe] = events[events["kind"] == "match_probe"].to_dict("records")
    assert probe["data.decision"] == "dissolved" and "no DataChannel" in probe["data.reason"]
    assert probe["data.took_s"] < 1.0  # answered at once, not after the probe's timeout


def test_with_continue_the_other_peers_play_on_when_one_fails_and_record_the_same_game(tmp_path) -> None:
    calls = []

    def fails_once(observation):
        calls.append(observation)
        if len(calls) == 40:  # (one of the three peers fails, once)
            raise RuntimeError("the policy fell over")
        return 2

    scene = duel(TRIO, {"a": "human", "b": "human", "bot": "human"}, num_episodes=2)
    scene.multiplayer(mode="p2p", on_player_drop="continue")
    exp = Experiment("three", [scene, CompletionCodeScene().scene("end")], data_dir=tmp_path)
    report = exp.simulate(3, policy=fails_once)
    [failed] = report.problems
    others = [p for p in report.participants if p is not failed]
    # The two others play both episodes to the end (the failed peer's agent takes the default action).
    assert [p.status for p in others] == ["completed", "completed"] and not any(p.errors for p in others)
    data = load_results(exp.data_path, simulated=True, peer_rows=True)
    [game] = data.games.to_dict("records")
    assert game["outcome"] == "error"  # (one peer's page failed)
    assert list(data.episodes["parity"]) == ["match", "match"]
    peers_agree(data, game["game_id"], [p.participant_id for p in others])
    agent = next(a for a in ("a", "b", "bot") if game[f"players.{a}"] == failed.participant_id)
    assert data.steps[data.steps["episode"] == 2][f"action.{agent}"].eq(0).all()


def test_realtime_pace_plays_a_p2p_game_at_its_fps(tmp_path) -> None:
    scene = duel(max_steps=30).rendering(fps=20)
    exp = Experiment("paced", [scene, CompletionCodeScene().scene("end")], data_dir=tmp_path)
    assert exp.simulate(2, pace="realtime").ok
    steps = exp.results(simulated=True).steps.sort_values("step")
    assert 0.04 < steps["t"].diff().dropna().median() < 0.06  # a frame every 1/20 s
