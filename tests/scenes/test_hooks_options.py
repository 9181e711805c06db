"""`gameplay(callback=...)` and `content(game_page_html_fn=...)`: checked at definition, with errors
that name the scene, the option and the problem; hooks are refused where the env runs in the browser."""

from __future__ import annotations

import json

import pytest
from envs import walk_scene

import mug
from mug import EndScene, Experiment, GymScene, SceneConfigError, StartScene

P2P_ENV = """
class Duel:
    def get_state(self):
        return {}

    def set_state(self, state):
        pass

env = Duel()
"""


class Counter(mug.GameCallback):
    def on_step(self, ctx: mug.GameContext) -> None:
        ctx.record(step=ctx.step)


class OldStyle:
    def on_game_tick_end(self, ctx) -> None:
        pass


class Waiting(mug.GameCallback):
    def on_waitroom_join(self, ctx) -> None:
        pass


class NotAMethod:
    on_step = 3


def _scene() -> GymScene:
    return walk_scene("walk")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (Counter, "must be an instance, got the class Counter; pass Counter() instead"),
        (
            lambda ctx: None,
            "must be an object with hook methods (on_episode_start, on_step, on_episode_end, on_game_end), e.g. an "
            "instance of a mug.GameCallback subclass; got the function",
        ),
        ("on_step", "got str 'on_step'"),
        (OldStyle(), "defines on_game_tick_end, an upstream hook name: it is on_step here"),
        (NotAMethod(), "has on_step = 3, which is not a method"),
        (Waiting(), "defines on_waitroom_join, an upstream hook name: there is no waitroom hook"),
        ([Counter(), 5], "got int 5"),
    ],
)
def test_a_wrong_callback_is_refused_with_what_is_wrong(bad, message) -> None:
    with pytest.raises(SceneConfigError) as err:
        _scene().gameplay(callback=bad)
    assert "GymScene('walk').gameplay(): option 'callback'" in str(err.value)
    assert message in str(err.value)


def test_callbacks_are_taken_one_or_several_and_named_in_the_saved_config(tmp_path) -> None:
    one, two = Counter(), Counter()
    assert _scene().gameplay(callback=one).callbacks == (one,)
    scene = _scene().gameplay(callback=[one, two]).content(game_page_html_fn=lambda pid, agent: f"<p>{agent}</p>")
    assert scene.callbacks == (one, two)
    assert _scene().gameplay(callback=one).gameplay(callback=None).callbacks == ()
    config = scene.config()
    assert config["callback"] == ["Counter", "Counter"]
    assert config["game_page_html_fn"].endswith("<lambda>")
    json.dumps(config)
    assert "callback" not in scene.client_spec() and "game_page_html_fn" not in scene.client_spec()


@pytest.mark.parametrize("p2p", [False, True])
def test_hooks_are_refused_for_games_that_run_in_the_browser(tmp_path, p2p) -> None:
    scene = (
        GymScene()
        .scene("browser")
        .runtime(env_code=P2P_ENV)
        .gameplay(action_mapping={"a": 1}, default_action=0, callback=Counter())
        .policies(policy_mapping={"p0": "human", "p1": "human"} if p2p else {"p0": "human"})
    )
    if p2p:
        scene.multiplayer(mode="p2p")
    with pytest.raises(SceneConfigError) as err:
        Experiment("x", [StartScene().scene("s"), scene, EndScene().scene("e")], data_dir=tmp_path)
    text = str(err.value)
    assert "GymScene('browser').gameplay(): option 'callback' cannot be used here" in text
    assert "hooks run on the server" in text
    assert ("every participant's browser (mode='p2p')" if p2p else "the participant's browser (runtime())") in text


def two_args(participant_id: str, agent_id: str) -> str:
    return f"<p>You are {agent_id}</p>"


def one_arg(participant_id: str) -> str:
    return ""


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("<p>hi</p>", "must be a function (participant_id, agent_id) -> str, got str"),
        (str, "must be a function (participant_id, agent_id) -> str, got type"),
        (one_arg, "must accept two arguments (participant_id, agent_id); one_arg has the signature (participant_id"),
    ],
)
def test_a_wrong_game_page_function_is_refused(bad, message) -> None:
    with pytest.raises(SceneConfigError) as err:
        _scene().content(game_page_html_fn=bad)
    assert "GymScene('walk').content(): option 'game_page_html_fn'" in str(err.value)
    assert message in str(err.value)


def test_a_game_page_function_is_taken_for_every_kind_of_game() -> None:
    assert _scene().content(game_page_html_fn=two_args).game_page_html_fn is two_args
    browser = (
        GymScene()
        .scene("browser")
        .runtime(env_code=P2P_ENV)
        .gameplay(action_mapping={"a": 1}, default_action=0)
        .policies(policy_mapping={"p0": "human", "p1": "human"})
        .multiplayer(mode="p2p")
        .content(game_page_html_fn=two_args)
    )
    browser.validate()
    assert browser.game_page_html_fn is two_args
