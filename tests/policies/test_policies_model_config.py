"""ModelConfig: argument checks at construction, checks against real (tiny) ONNX models, client spec."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from policies_models import HIDDEN, N_ACTIONS, N_OBS, build_ff, build_growing_state, build_int_input, build_lstm

from mug.policies import ModelConfig, ModelConfigError, PolicyError, validate_policy_spec


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("models")
    return {
        "ff": build_ff(d / "ff.onnx"),
        "ff_plain": build_ff(d / "ff_plain.onnx", temperature_input=False),
        "lstm": build_lstm(d / "lstm.onnx"),
        "growing": build_growing_state(d / "growing.onnx"),
        "int": build_int_input(d / "int.onnx"),
    }


def lstm_config(path: Path, **extra) -> ModelConfig:
    args = {"state_inputs": ["h_in", "c_in"], "state_outputs": ["h_out", "c_out"], **extra}
    return ModelConfig(path, "obs", "logits", **args)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"onnx_path": 3}, "onnx_path must be a path"),
        ({"onnx_path": ""}, "onnx_path must be a path"),
        ({"obs_input": ""}, "obs_input must be a tensor name"),
        ({"obs_input": None}, "obs_input must be a tensor name"),
        ({"logit_output": 1}, "logit_output must be a tensor name"),
        ({"state_inputs": "h_in", "state_outputs": ["h_out"]}, "state_inputs must be a list of tensor names"),
        ({"state_inputs": ["h_in", 2], "state_outputs": ["a", "b"]}, "state_inputs must hold non-empty strings"),
        ({"state_inputs": ["h", "h"], "state_outputs": ["a", "b"]}, "state_inputs names a tensor twice"),
        ({"state_inputs": ["h_in"]}, "state_inputs and state_outputs must pair up"),
        ({"state_inputs": ["h_in"], "state_outputs": ["h_out"], "state_shapes": [[1, 4], [1, 4]]}, "one shape per"),
        ({"state_inputs": ["h_in"], "state_outputs": ["h_out"], "state_shapes": [[1, 0]]}, "state_shapes[0] must be"),
        ({"state_inputs": ["h_in"], "state_outputs": ["h_out"], "state_shapes": [[1, True]]}, "state_shapes[0] must"),
        ({"state_inputs": ["h_in"], "state_outputs": ["h_out"], "state_shapes": "1,4"}, "state_shapes must be a list"),
        ({"state_shapes": [[1, 4]]}, "one shape per state input"),
        ({"fixed_inputs": [("t", 1.0)]}, "fixed_inputs must be a dict"),
        ({"fixed_inputs": {"t": "hot"}}, "fixed_inputs['t'] must be a number"),
        ({"fixed_inputs": {"t": [[1.0], [2.0, 3.0]]}}, "fixed_inputs['t'] is not a regular array"),
        ({"fixed_inputs": {"t": np.array([1 + 2j])}}, "fixed_inputs['t'] must hold numbers or bools"),
        ({"fixed_inputs": {"t": np.array([1], dtype=np.uint64)}}, "supported: float32"),
        ({"fixed_inputs": {"obs": 1.0}}, "named more than once"),
        ({"state_inputs": ["obs"], "state_outputs": ["h"]}, "named more than once"),
        ({"state_inputs": ["h"], "state_outputs": ["logits"]}, "also listed in state_outputs"),
        ({"custom_inference_fn": lambda s, o, c: 0}, "not a Python function"),
        ({"custom_inference_fn": "   "}, "custom_inference_fn must be the body"),
        ({"frame_skip": 0}, "frame_skip must be an int >= 1"),
        ({"frame_skip": 2.0}, "frame_skip must be an int >= 1"),
    ],
)
def test_construction_checks_types_and_names_the_argument(kwargs, message):
    args = {"onnx_path": "model.onnx", "obs_input": "obs", "logit_output": "logits", **kwargs}
    with pytest.raises(ModelConfigError) as err:
        ModelConfig(**args)
    assert message in str(err.value)
    assert isinstance(err.value, ValueError) and isinstance(err.value, PolicyError)


def test_construction_normalises_without_touching_the_file():
    config = ModelConfig(
        "missing.onnx", "obs", "logits", state_inputs=("a",), state_outputs=["b"], state_shapes=[(1, 4)]
    )
    assert config.path == Path("missing.onnx")
    assert config.state_inputs == ("a",) and config.state_outputs == ("b",) and config.state_shapes == ((1, 4),)
    assert "missing.onnx" in repr(config)
    assert json.dumps(config.to_json())


def test_feed_forward_model_checks_and_resolves(models):
    config = ModelConfig(models["ff"], "obs", "logits", fixed_inputs={"temperature": 2})
    info = config.check_model()
    assert info.n_actions == N_ACTIONS
    assert info.obs_shape == (None, N_OBS)
    assert info.state_shapes == ()
    assert info.fixed_feeds["temperature"].dtype == np.float32
    assert info.fixed_feeds["temperature"].tolist() == [2.0]
    assert config.check_model() is info  # cached while the file is unchanged
    validate_policy_spec(config)


def test_lstm_state_shapes_come_from_the_model_or_must_match_it(models):
    info = lstm_config(models["lstm"]).check_model()
    assert info.state_shapes == ((1, 1, HIDDEN), (1, 1, HIDDEN))
    lstm_config(models["lstm"], state_shapes=[[1, 1, HIDDEN], [1, 1, HIDDEN]]).check_model()
    with pytest.raises(ModelConfigError) as err:
        lstm_config(models["lstm"], state_shapes=[[1, 1, 8], [1, 1, HIDDEN]]).check_model()
    message = str(err.value)
    assert "'h_in'" in message and "[1, 1, 16]" in message and "[1, 1, 8]" in message


def test_a_state_output_that_comes_back_in_another_shape_is_caught_by_the_probe_run(models):
    config = ModelConfig(models["growing"], "obs", "logits", ["h_in"], ["h_out"], state_shapes=[[1, 2]])
    with pytest.raises(ModelConfigError) as err:
        config.check_model()
    message = str(err.value)
    assert "'h_out'" in message and "[1, 8]" in message and "[1, 2]" in message


@pytest.mark.parametrize(
    ("make", "fragments"),
    [
        (
            lambda m: ModelConfig(m["ff_plain"], "observation", "logits"),
            ["obs_input", "'observation'", "obs [batch, 6]"],
        ),
        (
            lambda m: ModelConfig(m["ff_plain"], "obs", "action"),
            ["logit_output", "'action'", "logits [batch, 5]", "probs"],
        ),
        (lambda m: ModelConfig(m["ff"], "obs", "logits"), ["temperature [1] float32 not fed"]),
        (lambda m: ModelConfig(m["ff_plain"], "obs", "logits", fixed_inputs={"temp": 1.0}), ["fixed_inputs", "'temp'"]),
        (
            lambda m: lstm_config(m["lstm"], state_inputs=["h_in", "cell"]),
            ["state_inputs", "'cell'", "c_in [1, 1, 16]"],
        ),
        (lambda m: lstm_config(m["lstm"], state_outputs=["h_out", "c"]), ["state_outputs", "'c'", "c_out"]),
        (lambda m: ModelConfig(m["lstm"], "obs", "logits"), ["h_in", "c_in", "not fed"]),
        (
            lambda m: ModelConfig(
                m["lstm"],
                "obs",
                "h_out",
                fixed_inputs={"h_in": np.zeros((1, 1, 16), np.float32), "c_in": np.zeros((1, 1, 16), np.float32)},
            ),
            ["logit_output 'h_out'", "[1, n_actions]", "[1, 1, 16]"],
        ),
        (lambda m: ModelConfig(m["ff_plain"], "obs", "probs", ["x"], ["logits"]), ["state_inputs", "'x'"]),
        (lambda m: ModelConfig(m["int"], "obs", "logits", fixed_inputs={"offset": [1.5]}), ["int64", "integers"]),
        (lambda m: ModelConfig(m["int"], "obs", "logits", fixed_inputs={"offset": [2**70]}), ["must hold numbers"]),
        (
            lambda m: ModelConfig(m["int"], "obs", "logits", fixed_inputs={"offset": np.array([1], np.int32)}),
            ["dtype int32", "int64", "np.int64"],
        ),
        (
            lambda m: ModelConfig(m["int"], "obs", "logits", fixed_inputs={"offset": [1, 2]}),
            ["expected shape [1]", "[2]"],
        ),
        (lambda m: ModelConfig(m["ff"], "obs", "logits", fixed_inputs={"temperature": True}), ["float32", "bools"]),
        (lambda m: ModelConfig(m["ff"].with_name("nope.onnx"), "obs", "logits"), ["model file not found", "nope.onnx"]),
    ],
)
def test_check_model_errors_name_the_tensor_and_list_what_the_model_has(models, make, fragments):
    with pytest.raises(ModelConfigError) as err:
        make(models).check_model()
    for fragment in fragments:
        assert fragment in str(err.value)


def test_a_file_that_is_not_a_model(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelConfigError, match="onnxruntime cannot load"):
        ModelConfig(bad, "obs", "logits").check_model()
    with pytest.raises(ModelConfigError, match="not a file"):
        ModelConfig(tmp_path, "obs", "logits").check_model()


def test_int_fixed_inputs_take_the_model_dtype_and_reshape(models):
    info = ModelConfig(models["int"], "obs", "logits", fixed_inputs={"offset": 3}).check_model()
    assert info.fixed_feeds["offset"].dtype == np.int64 and info.fixed_feeds["offset"].shape == (1,)


def test_client_spec_is_json_and_carries_resolved_shapes(models):
    spec = lstm_config(models["lstm"], frame_skip=3).client_spec("models/lstm.onnx")
    assert json.loads(json.dumps(spec)) == spec
    assert spec == {
        "kind": "onnx",
        "version": 1,
        "model_url": "models/lstm.onnx",
        "obs_input": "obs",
        "obs_shape": [1, N_OBS],
        "logit_output": "logits",
        "n_actions": N_ACTIONS,
        "state": [
            {"input": "h_in", "output": "h_out", "shape": [1, 1, HIDDEN]},
            {"input": "c_in", "output": "c_out", "shape": [1, 1, HIDDEN]},
        ],
        "fixed_inputs": [],
        "custom_inference_fn": None,
        "frame_skip": 3,
    }
    ff = ModelConfig(models["ff"], "obs", "logits", fixed_inputs={"temperature": 0.5}, custom_inference_fn="return 0;")
    spec = ff.client_spec("ff.onnx")
    assert spec["obs_shape"] == [None, N_OBS]
    assert spec["fixed_inputs"] == [{"name": "temperature", "dtype": "float32", "shape": [1], "data": [0.5]}]
    assert spec["custom_inference_fn"] == "return 0;"
    with pytest.raises(ModelConfigError, match="model_url"):
        ff.client_spec("")
    inf = ModelConfig(models["ff"], "obs", "logits", fixed_inputs={"temperature": float("inf")})
    with pytest.raises(ModelConfigError, match="infinity"):
        inf.client_spec("ff.onnx")


def test_validate_policy_spec(models):
    for ok in ("human", "random", len):
        validate_policy_spec(ok)
    for bad, message in ((3, "unsupported policy"), ("greedy", "unknown policy"), (None, "unsupported policy")):
        with pytest.raises(PolicyError, match=message):
            validate_policy_spec(bad)
    with pytest.raises(ModelConfigError, match="obs_input"):
        validate_policy_spec(ModelConfig(models["ff_plain"], "x", "logits"))
    custom = ModelConfig(models["ff_plain"], "obs", "logits", custom_inference_fn="return 1;")
    validate_policy_spec(custom)
    with pytest.raises(ModelConfigError, match="runs only in the browser"):
        validate_policy_spec(custom, server=True)
