"""Replay of a client-side game: played in Chromium (the env in Pyodide, a random bot in the page),
recorded through the real server, then rebuilt here in CPython from the saved env code, seeds and
actions with every step matching the record."""

from __future__ import annotations

import json

from helpers import hold_key_for_steps, wait_for

from mug import CompletionCodeScene, Experiment, GymScene, StartScene
from mug.replay import replay_game

# Pure Python (no numpy in the browser here): a seeded wind pushes both runners, floats everywhere.
# (random.uniform is plain arithmetic on the Mersenne Twister's output: the same bits in Pyodide and
# CPython. random.gauss goes through log/cos, which Pyodide's C library rounds differently in the
# last bit now and then: a replay reports that as a divergence, see docs/replay.md.)
WINDY = """
import random
from mug.env import Surface
from mug.env.spaces import Discrete

class Windy:
    possible_agents = ["me", "bot"]

    def __init__(self, length):
        self.length = length
        self.surface = Surface(400, 200)

    def action_space(self, agent):
        return Discrete(3)

    def reset(self, seed=None, options=None):
        self.rng = random.Random(seed)
        self.t, self.pos = 0, {"me": 0.3, "bot": 0.7}
        return self.observe(), {a: {} for a in self.possible_agents}

    def observe(self):
        return {a: [p, self.t / self.length] for a, p in self.pos.items()}

    def step(self, actions):
        self.t += 1
        wind = self.rng.uniform(-0.004, 0.004)
        for agent, action in actions.items():
            self.pos[agent] = min(1.0, max(0.0, self.pos[agent] + (action - 1) * 0.01 + wind))
        done = self.t >= self.length
        rewards = {a: self.pos[a] * (1.0 + wind) for a in actions}
        return self.observe(), rewards, {a: done for a in actions}, {a: False for a in actions}, \\
            {a: {"wind": wind} for a in actions}

    def render(self):
        self.surface.rect(0, 0, 1, 1, fill="#eef2ff", id="bg")
        self.surface.circle(self.pos["me"], 0.4, 0.04, fill="#d03030", id="me")
        self.surface.circle(self.pos["bot"], 0.6, 0.04, fill="#3050d0", id="bot")
        return self.surface.commit()

env = Windy(length=LENGTH)
"""


def test_a_client_side_game_played_in_chromium_replays_with_no_divergence(serve, participant) -> None:
    game = (
        GymScene()
        .scene("windy")
        .runtime(env_code=WINDY.replace("LENGTH", "90"))
        .rendering(fps=30, game_width=400, game_height=200, hud="Windy")
        .gameplay(action_mapping={"ArrowLeft": 0, "ArrowRight": 2}, default_action=1, num_episodes=2,
                  record_observations=True)
        .policies(policy_mapping={"me": "human", "bot": "random"})
        .environment(seed=21)
    )
    exp = Experiment("replay-browser", [StartScene().scene("hello"), game, CompletionCodeScene().scene("end")])
    server = serve(exp)
    page = participant(server.url + "?participant=windy-1")
    wait_for(page, "m.sceneId === 'hello' && m.status === 'ready'")
    page.get_by_test_id("continue").click()
    wait_for(page, "m.sceneId === 'windy' && m.status === 'waiting_start'")
    page.get_by_test_id("start-game").click()
    wait_for(page, "m.status === 'running' && m.step > 3", timeout=60_000)
    hold_key_for_steps(page, "ArrowRight", 12)
    wait_for(page, "m.sceneId === 'end'", timeout=60_000)
    wait_for(page, "m.outbox.pending === 0")

    results = exp.results()
    games = results.games
    assert list(games["mode"]) == ["client_pyodide"] and list(games["outcome"]) == ["completed"]
    steps = results.steps
    assert len(steps) == 180 and set(steps["action.me"]) >= {1, 2} and len(set(steps["action.bot"])) > 1

    result = replay_game(exp.data_path, str(games.iloc[0]["game_id"]), frames=True)
    assert result.ok, result.report()
    assert result.divergences == [] and result.compared == (
        "rewards", "terminated", "truncated", "observations", "infos",
    )  # fmt: skip
    assert [(e.seed, len(e.steps)) for e in result.episodes.values()] == [(21, 90), (22, 90)]
    assert "the scene's env code" in result.env_source
    # The replay's rewards are the recorded ones (floats that went through the browser and back).
    recorded = steps[steps["episode"] == 2]["reward.me"].tolist()
    assert [s.rewards["me"] for s in result.episodes[2].steps] == recorded
    # What the replay draws is the recorded state: the last frame's runner is where the record has it.
    me = next(o for o in result.episodes[2].steps[-1].frame["objects"] if o["id"] == "me")
    assert me["x"] == json.loads(steps[steps["episode"] == 2]["obs"].iloc[-1])["me"][0]

    # The notebook widget of the same episode: verified, every frame, the scene's fixed HUD.
    widget = exp.replay(str(games.iloc[0]["game_id"]), 2)
    assert widget.ok and widget.divergence == {} and len(widget.frames) == 91
    assert set(widget.huds) == {"Windy"} and "client_pyodide" in widget.title
