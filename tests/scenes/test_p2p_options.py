"""P2P scene options: validated at definition, with errors that say what P2P needs; credentials stay out of the data."""

from __future__ import annotations

import json

import pytest

from mug import Experiment, GymScene, SceneConfigError

SNAPSHOT_ENV = """
class Duel:
    def get_state(self):
        return {}

    def set_state(self, state):
        pass

env = Duel()
"""
NO_SNAPSHOT_ENV = """
class Duel:
    def get_state(self):
        return {}

env = Duel()
"""
IMPORTED_ENV = "from mug.env.examples.catch import CatchEnv\nenv = CatchEnv()\n"


def duel(env_code: str = SNAPSHOT_ENV, humans: int = 2) -> GymScene:
    mapping = {f"p{i}": "human" for i in range(humans)} | {"bot": "random"}
    return (
        GymScene()
        .scene("duel")
        .runtime(env_code=env_code)
        .gameplay(action_mapping={"a": 1}, default_action=0)
        .policies(policy_mapping=mapping)
    )


def test_p2p_defaults_reach_the_page_and_the_saved_config() -> None:
    scene = duel().multiplayer(mode="p2p")
    Experiment("x", [scene])
    spec = scene.client_spec()
    assert spec["multiplayer_mode"] == "p2p" and spec["input_delay"] == 2
    assert spec["p2p"] == {
        "input_delay": 2, "max_prediction": 8, "connect_timeout_s": 5.0, "reconnect_grace_s": 20.0,
        "on_player_drop": "end_game",
    }  # fmt: skip
    assert scene.config()["multiplayer"]["max_prediction"] == 8
    # Server-authoritative scenes keep their own default delay and show no P2P options.
    plain = GymScene().multiplayer()
    assert plain.multiplayer_options.input_delay == 0 and "max_prediction" not in plain.multiplayer_options.to_json()
    # An explicit delay wins over the mode's default, whichever call comes first.
    assert duel().multiplayer(input_delay=0).multiplayer(mode="p2p").multiplayer_options.input_delay == 0
    assert duel().multiplayer(mode="p2p", input_delay=5, max_prediction=12).p2p_spec()["max_prediction"] == 12


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.multiplayer(mode="p2p", input_delay=9), r"'input_delay' must be between 0 and 8 with mode='p2p'"),
        (lambda s: s.multiplayer(mode="p2p", max_prediction=0), r"'max_prediction' must be between 1 and 30"),
        (lambda s: s.multiplayer(mode="p2p", p2p_connect_timeout_s=0), r"'p2p_connect_timeout_s' must be between"),
        (lambda s: s.multiplayer(mode="p2p", per_player_views=True), r"'per_player_views' cannot be combined"),
        (lambda s: s.webrtc(turn_url="http://turn.example.org"), r"'turn_url' must hold ICE server URLs"),
        (lambda s: s.webrtc(turn_url="turn:t.example.org", turn_username="u"), r"turn_username go together"),
        (lambda s: s.webrtc(turn_username="u", turn_credential="c"), r"'turn_username' and turn_credential need"),
        (lambda s: s.webrtc(ice_servers=[{"url": "stun:x"}]), r"'ice_servers\[0\]' must be a dict like"),
        (lambda s: s.webrtc(ice_servers=[{"urls": "stun:x", "pw": 1}]), r"has unknown key\(s\) pw"),
        (lambda s: s.webrtc(ice_servers=[{"urls": []}]), r"must be a URL or a non-empty list of URLs"),
        (lambda s: s.webrtc(ice_servers=[{"urls": "stun:x"}], force_relay=True), r"'force_relay' needs a TURN"),
        (lambda s: s.webrtc(force_relay="yes"), r"'force_relay' must be True or False"),
        (lambda s: s.webrtc(stun="stun:x"), r"unknown option\(s\) stun"),
    ],
)
def test_wrong_p2p_options_name_themselves(call, message) -> None:
    with pytest.raises(SceneConfigError, match=message):
        call(duel())


def test_what_p2p_needs_is_checked_when_the_experiment_is_made() -> None:
    with pytest.raises(SceneConfigError, match=r"'p2p' needs runtime\(\)"):
        Experiment("x", [
            GymScene().scene("duel").environment(env_creator=lambda: None).multiplayer(mode="p2p")
            .gameplay(action_mapping={"a": 1}, default_action=0)
            .policies(policy_mapping={"l": "human", "r": "human"})
        ])  # fmt: skip
    with pytest.raises(
        SceneConfigError, match=r"server_authoritative cannot be combined with runtime\(\); use mode='p2p'"
    ):
        Experiment("x", [duel().multiplayer()])
    with pytest.raises(SceneConfigError, match=r"'p2p' needs 2 to 4 'human' agents in policy_mapping, got 5"):
        Experiment("x", [duel(humans=5).multiplayer(mode="p2p")])
    with pytest.raises(SceneConfigError, match=r"'p2p' needs 2 to 4 'human' agents in policy_mapping, got 1"):
        Experiment("x", [duel(humans=1).multiplayer(mode="p2p")])
    server_run = (
        GymScene().scene("duel").environment(env_creator=lambda: None).multiplayer(max_prediction=4)
        .gameplay(action_mapping={"a": 1}, default_action=0).policies(policy_mapping={"l": "human", "r": "human"})
    )  # fmt: skip
    with pytest.raises(SceneConfigError, match=r"'max_prediction' applies to mode='p2p' only"):
        Experiment("x", [server_run])
    with pytest.raises(
        SceneConfigError, match=r"webrtc\(\): option 'ice_servers' applies to multiplayer\(mode='p2p'\)"
    ):
        Experiment("x", [duel(humans=1).webrtc(turn_url="turn:t.example.org")])
    with pytest.raises(SceneConfigError, match=r"maps to 'left', but with mode='p2p' every action a human sends"):
        Experiment("x", [duel().gameplay(action_mapping={"a": "left"}).multiplayer(mode="p2p")])
    with pytest.raises(SceneConfigError, match=r"maps to \[1, 0\], but with mode='p2p'"):
        Experiment("x", [duel().gameplay(default_action=[1, 0]).multiplayer(mode="p2p")])
    Experiment("x", [duel(humans=4).multiplayer(mode="p2p")])


def test_an_env_without_snapshots_is_refused_with_the_reason() -> None:
    with pytest.raises(SceneConfigError, match=r"does not define set_state, which mode='p2p' needs: rollback") as err:
        Experiment("x", [duel(NO_SNAPSHOT_ENV).multiplayer(mode="p2p")])
    assert "mug.env.check_env" in str(err.value)
    with pytest.raises(SceneConfigError, match=r"does not define get_state or set_state"):
        Experiment("x", [duel("env = object()\n").multiplayer(mode="p2p")])
    # An env class imported from mug is looked at: CatchEnv has both.
    Experiment("x", [duel(IMPORTED_ENV).multiplayer(mode="p2p")])
    # A client-side single-player scene needs no snapshots.
    Experiment("x", [duel(NO_SNAPSHOT_ENV, humans=1)])


def test_credentials_reach_no_saved_config_and_the_scene_setting_wins() -> None:
    scene = duel().multiplayer(mode="p2p").webrtc(
        ice_servers=[{"urls": ["stun:127.0.0.1:3478"]}],
        turn_url="turn:127.0.0.1:3478", turn_username="alice", turn_credential="s3cret-pass", force_relay=True,
    )  # fmt: skip
    other = duel().scene("other").multiplayer(mode="p2p")
    exp = Experiment("x", [scene, other]).webrtc(turn_url="turns:turn.example.org", turn_username="lab",
                                                  turn_credential="lab-pass")  # fmt: skip
    saved = json.dumps(exp.config())
    assert "s3cret-pass" not in saved and "alice" not in saved and "lab-pass" not in saved
    assert exp.config()["scenes"][0]["webrtc"] == {
        "ice_servers": [
            {"urls": ["stun:127.0.0.1:3478"]},
            {"urls": ["turn:127.0.0.1:3478"], "username": "***", "credential": "***"},
        ],
        "force_relay": True,
    }
    assert exp.config()["webrtc"]["ice_servers"][0]["credential"] == "***"
    assert "s3cret-pass" not in json.dumps(scene.client_spec())
    # The browsers get them (with the game, see tests/server/test_p2p_signaling.py).
    assert scene.webrtc_options.client_ice_servers()[1]["credential"] == "s3cret-pass"


def test_onnx_bots_are_allowed_in_p2p_scenes_but_not_a_custom_inference_fn(tmp_path) -> None:
    from policies.policies_models import build_lstm

    from mug.policies import ModelConfig

    model = build_lstm(tmp_path / "bot.onnx")
    lstm = ModelConfig(model, obs_input="obs", logit_output="logits", state_inputs=["h_in", "c_in"],
                       state_outputs=["h_out", "c_out"], frame_skip=2)  # fmt: skip
    scene = duel().policies(policy_mapping={"p0": "human", "p1": "human", "bot": lstm}).multiplayer(mode="p2p")
    Experiment("x", [scene])
    bot = scene.client_spec()["runtime"]["policies"]["bot"]
    assert bot["kind"] == "onnx" and bot["model"]["model_url"] == "models/duel/bot.onnx"
    assert [s["shape"] for s in bot["model"]["state"]] == [[1, 1, 16], [1, 1, 16]] and bot["model"]["frame_skip"] == 2
    custom = ModelConfig(model, obs_input="obs", logit_output="logits", state_inputs=["h_in", "c_in"],
                         state_outputs=["h_out", "c_out"], custom_inference_fn="return 0;")  # fmt: skip
    mapping = {"p0": "human", "p1": "human", "bot": custom}
    with pytest.raises(
        SceneConfigError, match=r"policy for agent 'bot' has a custom_inference_fn, which mode='p2p' cannot run"
    ):
        Experiment("x", [duel().policies(policy_mapping=mapping).multiplayer(mode="p2p")])
    # A client-side single-player scene runs it; a callable still cannot run in any browser.
    Experiment("x", [duel(humans=1).policies(policy_mapping={"p0": "human", "bot": custom})])
    with pytest.raises(SceneConfigError, match=r"policy for agent 'bot' is a Python callable, which cannot run"):
        mapping = {"p0": "human", "p1": "human", "bot": len}
        Experiment("x", [duel().policies(policy_mapping=mapping).multiplayer(mode="p2p")])
