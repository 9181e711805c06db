"""Tiny ONNX policies built with onnx.helper for the policy tests (no files in the repo)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
N_OBS = 6
N_ACTIONS = 5
HIDDEN = 16


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="mug-tests")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def ff_weights(seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    w = rng.normal(0.0, 0.6, size=(N_OBS, N_ACTIONS)).astype(np.float32)
    b = rng.normal(0.0, 0.3, size=(N_ACTIONS,)).astype(np.float32)
    return w, b


def build_ff(path: Path, *, temperature_input: bool = True, batch: str | int = "batch") -> Path:
    """obs [batch, 6] -> logits = (obs @ W + b) / temperature [batch, 5]; probs = softmax(logits).

    ``temperature`` [1] float32 is a model input (for fixed_inputs) unless ``temperature_input=False``.
    """
    w, b = ff_weights()
    nodes = [
        helper.make_node("MatMul", ["obs", "W"], ["xw"]),
        helper.make_node("Add", ["xw", "B"], ["raw"]),
    ]
    inputs = [helper.make_tensor_value_info("obs", TensorProto.FLOAT, [batch, N_OBS])]
    inits = [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")]
    if temperature_input:
        nodes.append(helper.make_node("Div", ["raw", "temperature"], ["logits"]))
        inputs.append(helper.make_tensor_value_info("temperature", TensorProto.FLOAT, [1]))
    else:
        nodes.append(helper.make_node("Identity", ["raw"], ["logits"]))
    nodes.append(helper.make_node("Softmax", ["logits"], ["probs"], axis=-1))
    outputs = [
        helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, N_ACTIONS]),
        helper.make_tensor_value_info("probs", TensorProto.FLOAT, [batch, N_ACTIONS]),
    ]
    return _save(helper.make_graph(nodes, "ff_policy", inputs, outputs, inits), path)


def build_lstm(path: Path, *, hidden: int = HIDDEN, seed: int = 11) -> Path:
    """obs [1, 6] -> LSTM(hidden) with state in (h_in, c_in [1, 1, hidden]) and out (h_out, c_out) -> logits [1, 5]."""
    rng = np.random.default_rng(seed)
    w = rng.normal(0.0, 0.5, size=(1, 4 * hidden, N_OBS)).astype(np.float32)
    r = rng.normal(0.0, 0.5, size=(1, 4 * hidden, hidden)).astype(np.float32)
    bias = rng.normal(0.0, 0.2, size=(1, 8 * hidden)).astype(np.float32)
    w_out = rng.normal(0.0, 0.8, size=(hidden, N_ACTIONS)).astype(np.float32)
    b_out = rng.normal(0.0, 0.2, size=(N_ACTIONS,)).astype(np.float32)
    inits = [
        numpy_helper.from_array(w, "W"),
        numpy_helper.from_array(r, "R"),
        numpy_helper.from_array(bias, "Bias"),
        numpy_helper.from_array(w_out, "W_out"),
        numpy_helper.from_array(b_out, "B_out"),
        numpy_helper.from_array(np.array([1, 1, N_OBS], np.int64), "x_shape"),
        numpy_helper.from_array(np.array([1, hidden], np.int64), "h_shape"),
    ]
    nodes = [
        helper.make_node("Reshape", ["obs", "x_shape"], ["x"]),
        helper.make_node(
            "LSTM", ["x", "W", "R", "Bias", "", "h_in", "c_in"], ["y", "h_out", "c_out"], hidden_size=hidden
        ),
        helper.make_node("Reshape", ["h_out", "h_shape"], ["h_flat"]),
        helper.make_node("MatMul", ["h_flat", "W_out"], ["hw"]),
        helper.make_node("Add", ["hw", "B_out"], ["logits"]),
    ]
    inputs = [
        helper.make_tensor_value_info("obs", TensorProto.FLOAT, [1, N_OBS]),
        helper.make_tensor_value_info("h_in", TensorProto.FLOAT, [1, 1, hidden]),
        helper.make_tensor_value_info("c_in", TensorProto.FLOAT, [1, 1, hidden]),
    ]
    outputs = [
        helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, N_ACTIONS]),
        helper.make_tensor_value_info("h_out", TensorProto.FLOAT, [1, 1, hidden]),
        helper.make_tensor_value_info("c_out", TensorProto.FLOAT, [1, 1, hidden]),
    ]
    return _save(helper.make_graph(nodes, "lstm_policy", inputs, outputs, inits), path)


def build_growing_state(path: Path) -> Path:
    """A model whose state output is longer than its (symbolic) state input: h_out = concat(h_in, obs)."""
    inits = [numpy_helper.from_array(np.ones((N_OBS, N_ACTIONS), np.float32), "W")]
    nodes = [
        helper.make_node("MatMul", ["obs", "W"], ["logits"]),
        helper.make_node("Concat", ["h_in", "obs"], ["h_out"], axis=1),
    ]
    inputs = [
        helper.make_tensor_value_info("obs", TensorProto.FLOAT, [1, N_OBS]),
        helper.make_tensor_value_info("h_in", TensorProto.FLOAT, ["a", "b"]),
    ]
    outputs = [
        helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, N_ACTIONS]),
        helper.make_tensor_value_info("h_out", TensorProto.FLOAT, ["a", "c"]),
    ]
    return _save(helper.make_graph(nodes, "growing_state", inputs, outputs, inits), path)


def build_int_input(path: Path) -> Path:
    """obs [1, 6] and an int64 ``offset`` [1] input: logits = obs @ W + cast(offset)."""
    inits = [numpy_helper.from_array(np.ones((N_OBS, N_ACTIONS), np.float32), "W")]
    nodes = [
        helper.make_node("MatMul", ["obs", "W"], ["xw"]),
        helper.make_node("Cast", ["offset"], ["offset_f"], to=TensorProto.FLOAT),
        helper.make_node("Add", ["xw", "offset_f"], ["logits"]),
    ]
    inputs = [
        helper.make_tensor_value_info("obs", TensorProto.FLOAT, [1, N_OBS]),
        helper.make_tensor_value_info("offset", TensorProto.INT64, [1]),
    ]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, N_ACTIONS])]
    return _save(helper.make_graph(nodes, "int_input", inputs, outputs, inits), path)


def observations(n: int, seed: int) -> list[list[float]]:
    """Float32-exact observation vectors (as Python lists, like an env's JSON observations)."""
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 1.0, size=(n, N_OBS)).astype(np.float32).tolist()


def build_constant_bot(path: Path, *, n_obs: int = 1, n_actions: int = 3, action: int = 2) -> Path:
    """obs [1, n_obs] -> logits [1, n_actions] that all but always sample `action` (a predictable bot)."""
    bias = np.zeros((n_actions,), dtype=np.float32)
    bias[action] = 30.0
    nodes = [helper.make_node("MatMul", ["obs", "W"], ["xw"]), helper.make_node("Add", ["xw", "B"], ["logits"])]
    inputs = [helper.make_tensor_value_info("obs", TensorProto.FLOAT, [1, n_obs])]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, n_actions])]
    inits = [
        numpy_helper.from_array(np.zeros((n_obs, n_actions), dtype=np.float32), "W"),
        numpy_helper.from_array(bias, "B"),
    ]
    return _save(helper.make_graph(nodes, "constant_bot", inputs, outputs, inits), path)


def build_recurrent_bot(path: Path, *, n_obs: int = 4, n_actions: int = 3, hidden: int = 8, seed: int = 6) -> Path:
    """A small recurrent policy whose actions follow what it sees: h_out = tanh(obs W + h_in R + b)
    [1, hidden], logits = h_out V [1, n_actions], with weights that keep every action likely enough
    that sampling picks each of them (so two peers that fed it different inputs would disagree)."""
    rng = np.random.default_rng(seed)
    inits = [
        numpy_helper.from_array(rng.normal(0.0, 1.5, size=(n_obs, hidden)).astype(np.float32), "W"),
        numpy_helper.from_array(rng.normal(0.0, 0.6, size=(hidden, hidden)).astype(np.float32), "R"),
        numpy_helper.from_array(rng.normal(0.0, 0.3, size=(hidden,)).astype(np.float32), "B"),
        numpy_helper.from_array(rng.normal(0.0, 1.0, size=(hidden, n_actions)).astype(np.float32), "V"),
    ]
    nodes = [
        helper.make_node("MatMul", ["obs", "W"], ["xw"]),
        helper.make_node("MatMul", ["h_in", "R"], ["hr"]),
        helper.make_node("Add", ["xw", "hr"], ["pre0"]),
        helper.make_node("Add", ["pre0", "B"], ["pre"]),
        helper.make_node("Tanh", ["pre"], ["h_out"]),
        helper.make_node("MatMul", ["h_out", "V"], ["logits"]),
    ]
    inputs = [
        helper.make_tensor_value_info("obs", TensorProto.FLOAT, [1, n_obs]),
        helper.make_tensor_value_info("h_in", TensorProto.FLOAT, [1, hidden]),
    ]
    outputs = [
        helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, n_actions]),
        helper.make_tensor_value_info("h_out", TensorProto.FLOAT, [1, hidden]),
    ]
    return _save(helper.make_graph(nodes, "recurrent_bot", inputs, outputs, inits), path)
