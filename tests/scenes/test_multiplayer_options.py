"""Multiplayer and waitroom options are validated like every other scene option."""

from __future__ import annotations

import pytest

from mug import Experiment, GymScene, SceneConfigError, StartScene


def duo() -> GymScene:
    return (
        GymScene()
        .scene("duo")
        .environment(env_creator=lambda: None)
        .gameplay(action_mapping={"a": 1}, default_action=0)
        .policies(policy_mapping={"left": "human", "right": "human"})
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.multiplayer(mode="lockstep"), r"'mode' must be one of 'server_authoritative', 'p2p'"),
        (lambda s: s.multiplayer(input_delay=-1), r"'input_delay' must be between 0 and 30"),
        (lambda s: s.multiplayer(reconnect_grace_s="10"), r"'reconnect_grace_s' must be a finite number"),
        (lambda s: s.multiplayer(on_player_drop="pause"), r"'on_player_drop' must be one of 'continue', 'end_game'"),
        (lambda s: s.multiplayer(per_player_views=1), r"'per_player_views' must be True or False"),
        (lambda s: s.waitroom(timeout=0), r"'timeout' must be between 0.5 and 86400"),
        (lambda s: s.waitroom(timeout_message=""), r"'timeout_message' must not be empty"),
        (lambda s: s.waitroom(timeout_redirect_url="nope"), r"'timeout_redirect_url' must be an absolute http"),
        (lambda s: s.waitroom(timeout_scene_id="a b"), r"'timeout_scene_id' must be 1-64 characters"),
        (
            lambda s: s.waitroom(timeout_redirect_url="https://x.org", timeout_scene_id="solo"),
            r"cannot be combined with timeout_redirect_url",
        ),
        (lambda s: s.gameplay(action_population_method="last"), r"'action_population_method' must be one of"),
    ],
)
def test_wrong_multiplayer_options_name_themselves(call, message) -> None:
    with pytest.raises(SceneConfigError, match=message):
        call(duo())


def test_several_humans_need_multiplayer_and_a_waitroom_needs_it_too() -> None:
    with pytest.raises(SceneConfigError, match=r"has 2 human agents \(left, right\); call .multiplayer\(\)"):
        Experiment("x", [duo()])
    solo_waitroom = duo().policies(policy_mapping={"left": "human"}).waitroom(timeout=5)
    with pytest.raises(SceneConfigError, match=r"applies to multiplayer scenes only"):
        Experiment("x", [solo_waitroom])
    Experiment("x", [duo().multiplayer()])


def test_timeout_scene_must_exist() -> None:
    game = duo().multiplayer().waitroom(timeout_scene_id="solo")
    with pytest.raises(SceneConfigError, match=r"timeout_scene_id 'solo', which is not a scene"):
        Experiment("x", [StartScene(), game])
    Experiment("x", [StartScene(), game, StartScene().scene("solo")])


def test_options_reach_the_client_and_the_saved_config() -> None:
    scene = duo().multiplayer(input_delay=2, per_player_views=True).waitroom(hide_lobby_count=True)
    spec = scene.client_spec()
    assert spec["multiplayer"] is True and spec["input_delay"] == 2 and spec["hide_lobby_count"] is True
    config = scene.config()
    assert config["multiplayer"]["per_player_views"] is True
    assert config["waitroom"]["timeout"] == 120.0
