"""Scene options are validated when a scene is defined; errors name the option and what is allowed."""

from __future__ import annotations

import pytest

from mug import CompletionCodeScene, EndScene, Experiment, GymScene, SceneConfigError, StartScene, StaticScene


def env_creator(**_: object) -> object:
    return object()


def playable() -> GymScene:
    return (
        GymScene()
        .scene("game")
        .environment(env_creator=env_creator, seed=3)
        .gameplay(action_mapping={"ArrowLeft": 1}, default_action=0)
        .policies(policy_mapping={"player": "human"})
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.rendering(fps="fast"), r"option 'fps' must be an int, got str 'fast'"),
        (lambda s: s.rendering(fps=0), r"'fps' must be between 1 and 120, got 0"),
        (lambda s: s.rendering(background="blue"), r"'background' must be a CSS hex color"),
        (lambda s: s.rendering(hud=3), r"'hud' must be a string, a callable"),
        (lambda s: s.gameplay(num_episodes=0), r"'num_episodes' must be >= 1, got 0"),
        (lambda s: s.gameplay(max_steps=True), r"'max_steps' must be an int, got bool"),
        (lambda s: s.gameplay(input_mode="mouse"), r"'input_mode' must be one of 'pressed_keys', 'single_keystroke'"),
        (lambda s: s.gameplay(reset_freeze_s=-1), r"'reset_freeze_s' must be between 0 and 60"),
        (lambda s: s.gameplay(action_mapping={}), r"'action_mapping' must be a non-empty dict"),
        (lambda s: s.gameplay(action_mapping={3: 1}), r"keys must be KeyboardEvent.key names"),
        (lambda s: s.gameplay(action_mapping={("a",): 1}), r"composite key must hold at least two"),
        (lambda s: s.gameplay(action_mapping={"a": object()}), r"actions must be JSON values"),
        (lambda s: s.gameplay(action_mapping={("a", "b"): 1, ("b", "a"): 2}), r"maps \('b', 'a'\) twice"),
        (
            lambda s: s.policies(policy_mapping={"p": "smart"}),
            r"policy for agent 'p': unknown policy 'smart'; use 'human', 'random', a callable or a mug.policies.Mod",
        ),
        (lambda s: s.policies(policy_mapping={None: "human"}), r"agent ids must be str or int"),
        (lambda s: s.environment(env_creator="CatchEnv"), r"'env_creator' must be callable"),
        (lambda s: s.environment(env_config=[1]), r"'env_config' must be a dict with str keys"),
        (lambda s: s.environment(seed=-1), r"'seed' must be >= 0"),
        (lambda s: s.scene("has space"), r"'scene_id' must be 1-64 characters"),
        (lambda s: s.content(scene_body=1), r"'scene_body' must be a string"),
    ],
)
def test_a_wrong_option_names_itself_and_what_is_allowed(call, message) -> None:
    with pytest.raises(SceneConfigError, match=message) as err:
        call(GymScene().scene("g"))
    assert "GymScene('g')" in str(err.value)


def test_an_unknown_option_lists_the_allowed_ones() -> None:
    with pytest.raises(SceneConfigError, match=r"unknown option\(s\) speed; allowed: fps, game_width"):
        GymScene().rendering(speed=3)
    with pytest.raises(SceneConfigError, match=r"display\(\): unknown option\(s\) body"):
        StaticScene().display(body="x")


def test_composite_keys_are_order_free_and_reach_the_client() -> None:
    scene = playable().gameplay(action_mapping={("ArrowUp", "ArrowLeft"): 4, "ArrowLeft": 1})
    assert {"keys": ["ArrowLeft", "ArrowUp"], "action": 4} in scene.client_spec()["action_mapping"]
    assert scene.allowed_actions() == [4, 1, 0]


def test_impossible_combinations_fail_when_the_experiment_is_built() -> None:
    no_env = GymScene().scene("g").policies(policy_mapping={"p": "random"})
    with pytest.raises(SceneConfigError, match=r"'env_creator' is required"):
        Experiment("x", [no_env])
    no_default = (
        GymScene()
        .scene("g")
        .environment(env_creator=env_creator)
        .gameplay(action_mapping={"a": 1})
        .policies(policy_mapping={"p": "human"})
    )
    with pytest.raises(SceneConfigError, match=r"'default_action' is required when an agent is played by a human"):
        Experiment("x", [no_default])
    two_humans = playable().policies(policy_mapping={"a": "human", "b": "human"})
    with pytest.raises(SceneConfigError, match=r"has 2 human agents"):
        Experiment("x", [two_humans])
    with pytest.raises(SceneConfigError, match=r"an end scene must be the last scene"):
        Experiment("x", [StartScene(), EndScene(), playable()])
    with pytest.raises(SceneConfigError, match=r"two scenes share the scene_id 'game'"):
        Experiment("x", [playable(), playable()])
    with pytest.raises(SceneConfigError, match=r"scenes\[1\] is str"):
        Experiment("x", [StartScene(), "game"])
    with pytest.raises(SceneConfigError, match=r"experiment_id must be"):
        Experiment("a b", [StartScene()])
    with pytest.raises(SceneConfigError, match=r"cannot be combined with scene_body"):
        StaticScene().display(scene_body="x", scene_body_filepath="y.html")


def test_scenes_without_ids_get_stable_ones_and_the_config_is_json() -> None:
    import json

    exp = Experiment("x", [StartScene(), playable(), CompletionCodeScene()])
    assert [s.scene_id for s in exp.scenes] == ["start_0", "game", "completion_code_2"]
    json.dumps(exp.config())


def test_end_scene_redirect_is_checked() -> None:
    with pytest.raises(SceneConfigError, match=r"'url' must be an absolute http\(s\) URL"):
        EndScene().redirect("example.org/done")
    scene = EndScene().redirect("https://example.org/done", append_subject_id=True)
    assert scene.client_spec()["redirect_url"] == "https://example.org/done"


def test_body_from_file_and_form_fields(tmp_path) -> None:
    page = tmp_path / "q.html"
    page.write_text('<input name="age" type="number"><select name="hand"></select>', encoding="utf-8")
    scene = StaticScene().display(scene_body_filepath=str(page))
    assert scene.form_fields() == ["age", "hand"]
    with pytest.raises(SceneConfigError, match=r"must be a readable text file"):
        StaticScene().display(scene_body_filepath=str(tmp_path / "missing.html"))


def test_an_onnx_policy_is_checked_against_its_model_when_the_scene_is_defined(tmp_path) -> None:
    from policies.policies_models import build_ff

    from mug.policies import ModelConfig

    path = build_ff(tmp_path / "ff.onnx", temperature_input=False)
    GymScene().policies(policy_mapping={"bot": ModelConfig(path, obs_input="obs", logit_output="logits")})
    wrong = ModelConfig(path, obs_input="observation", logit_output="logits")
    with pytest.raises(SceneConfigError, match=r"policy for agent 'bot': .*'observation'.*obs") as err:
        GymScene().scene("g").policies(policy_mapping={"bot": wrong})
    assert "GymScene('g').policies()" in str(err.value)
