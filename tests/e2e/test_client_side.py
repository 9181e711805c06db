"""Client-side scenes: the env runs in Pyodide in a Web Worker, policies in the browser, nothing lost."""

from __future__ import annotations

from helpers import hold_key_for_steps, wait_for
from policies.policies_models import build_constant_bot

from mug import CompletionCodeScene, Experiment, GymScene, StartScene
from mug.policies import ModelConfig

# A pure-Python two-agent env (it runs in Pyodide, where numpy is not available).
DUEL = """
from mug.env import Surface
from mug.env.spaces import Discrete

class Duel:
    possible_agents = ["me", "bot"]

    def __init__(self, length=60, broken_at=None):
        self.length, self.broken_at = length, broken_at
        self.surface = Surface(400, 200)

    def action_space(self, agent):
        return Discrete(3)

    def reset(self, seed=None, options=None):
        self.t, self.pos = 0, {"me": 0.3, "bot": 0.7}
        return {a: [p] for a, p in self.pos.items()}, {a: {} for a in self.possible_agents}

    def step(self, actions):
        self.t += 1
        if self.broken_at is not None and self.t >= self.broken_at:
            raise ZeroDivisionError("the duel divided by zero")
        for agent, action in actions.items():
            self.pos[agent] = round(min(1.0, max(0.0, self.pos[agent] + (action - 1) * 0.01)), 4)
        done = self.t >= self.length
        obs = {a: [p] for a, p in self.pos.items()}
        return obs, {a: float(actions[a] == 2) for a in actions}, {a: done for a in obs}, \\
            {a: False for a in obs}, {a: {"pos": p} for a, p in self.pos.items()}

    def render(self):
        self.surface.rect(0, 0, 1, 1, fill="#eef2ff", id="bg")
        self.surface.circle(self.pos["me"], 0.4, 0.03, fill="#d03030", id="me")
        self.surface.circle(self.pos["bot"], 0.6, 0.03, fill="#3050d0", id="bot")
        return self.surface.commit()
"""


def duel_scene(bot, *, length: int = 60, broken_at: int | None = None, episodes: int = 1) -> GymScene:
    return (
        GymScene()
        .scene("duel")
        .runtime(env_code=DUEL + f"\nenv = Duel(length={length}, broken_at={broken_at!r})\n")
        .rendering(fps=30, game_width=400, game_height=200, hud="Duel")
        .gameplay(action_mapping={"ArrowLeft": 0, "ArrowRight": 2}, default_action=1, num_episodes=episodes)
        .policies(policy_mapping={"me": "human", "bot": bot})
        .environment(seed=5)
    )


def experiment(game: GymScene) -> Experiment:
    return Experiment("browser", [StartScene().scene("hello"), game, CompletionCodeScene().scene("end")])


def start(page) -> None:
    wait_for(page, "m.sceneId === 'hello' && m.status === 'ready'")
    page.get_by_test_id("continue").click()
    wait_for(page, "m.sceneId === 'duel' && m.status === 'waiting_start'")
    page.get_by_test_id("start-game").click()


def test_a_human_plays_an_onnx_policy_fully_in_the_browser(serve, participant, tmp_path) -> None:
    bot = ModelConfig(build_constant_bot(tmp_path / "bot.onnx"), obs_input="obs", logit_output="logits")
    exp = experiment(duel_scene(bot, length=90))
    server = serve(exp)
    page = participant(server.url)
    origin = server.url.rstrip("/")
    outside: list[str] = []
    page.route(
        "**/*",
        lambda route: (
            outside.append(route.request.url) if not route.request.url.startswith(origin) else None,
            route.continue_(),
        )[1],
    )
    start(page)
    wait_for(page, "m.status === 'running' && m.step > 3", timeout=60_000)
    begin, end = hold_key_for_steps(page, "ArrowRight", 10)
    wait_for(page, "m.sceneId === 'end'", timeout=30_000)
    assert outside == []  # every request went to our own server

    results = exp.results()
    steps = results.steps
    assert list(steps["step"]) == list(range(1, 91))
    assert set(steps["action.bot"]) == {2}  # the ONNX policy acted, in the browser
    held = steps.set_index("step").loc[begin + 3 : end - 1, "action.me"]
    assert set(held) == {2}
    games = results.games
    assert games.iloc[0]["mode"] == "client_pyodide" and games.iloc[0]["outcome"] == "completed"
    assert results.episodes.iloc[0]["num_steps"] == 90


def test_a_custom_inference_function_replaces_the_model(serve, participant, tmp_path) -> None:
    bot = ModelConfig(
        build_constant_bot(tmp_path / "bot.onnx"), obs_input="obs", logit_output="logits",
        custom_inference_fn="return 0;",  # always 'left', whatever the model says
    )  # fmt: skip
    exp = experiment(duel_scene(bot, length=30))
    server = serve(exp)
    page = participant(server.url)
    start(page)
    wait_for(page, "m.sceneId === 'end'", timeout=60_000)
    assert set(exp.results().steps["action.bot"]) == {0}


def test_losing_the_connection_and_reloading_loses_no_step_and_duplicates_none(serve, participant) -> None:
    exp = experiment(duel_scene("random", length=100_000))
    server = serve(exp)
    page = participant(server.url + "?participant=flaky")
    start(page)
    wait_for(page, "m.status === 'running' && m.step > 10", timeout=60_000)
    page.context.set_offline(True)
    offline_from = page.evaluate("window.mug.step")
    wait_for(page, "m.step > arg + 60 && m.outbox.pending > 30", offline_from)  # records pile up unsent
    reached = page.evaluate("window.mug.step")
    page.context.set_offline(False)
    page.reload()
    # The reloaded page sends what the old one left and starts the game over (the old one interrupted).
    wait_for(page, "m.sceneId === 'duel' && m.status === 'running' && m.outbox.pending === 0 && m.outbox.acked > 0",
             timeout=60_000)  # fmt: skip

    games = exp.results().games.set_index("game_id")
    first = games[games["outcome"] == "interrupted"].index[0]
    steps = exp.results().steps
    mine = steps[steps["game_id"] == first]
    numbers = list(mine["step"])
    assert numbers == list(range(1, len(numbers) + 1))  # none duplicated, no gap
    assert len(numbers) >= reached  # everything made before the reload arrived


def test_a_broken_env_tells_the_participant_and_is_recorded(serve, participant) -> None:
    exp = experiment(duel_scene("random", length=200, broken_at=20))
    server = serve(exp)
    page = participant(server.url + "?participant=unlucky")
    start(page)
    wait_for(page, "m.sceneId === 'end'", timeout=60_000)
    assert "error" in page.get_by_test_id("notice").inner_text()
    results = exp.results()
    errors = results.events[results.events["kind"] == "env_error"]
    assert len(errors) == 1
    assert "ZeroDivisionError: the duel divided by zero" in errors.iloc[0]["data.traceback"]
    assert results.games.iloc[0]["outcome"] == "error"
    assert list(results.steps["step"]) == list(range(1, 20))
