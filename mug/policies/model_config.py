"""``ModelConfig``: how to run an ONNX policy, checked against the model it names.

The same config drives inference on the server (:class:`mug.policies.OnnxPolicy`, onnxruntime)
and in the browser (``mug/client/src/policies``, onnxruntime-web) through :meth:`ModelConfig.client_spec`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mug.policies.errors import ModelConfigError
from mug.policies.runtime import Dim, TensorMeta, file_key, load_session, tensor_meta

CLIENT_SPEC_VERSION = 1
FIXED_DTYPES = ("float32", "float64", "int8", "uint8", "int16", "uint16", "int32", "int64", "bool")


def _names(arg: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ModelConfigError(f"{arg} must be a list of tensor names, got {value!r}")
    for name in value:
        if not isinstance(name, str) or not name:
            raise ModelConfigError(f"{arg} must hold non-empty strings, got {name!r}")
    if len(set(value)) != len(value):
        raise ModelConfigError(f"{arg} names a tensor twice: {list(value)!r}")
    return tuple(value)


def _shape(arg: str, value: Any) -> tuple[int, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ModelConfigError(f"{arg} must be a list of positive ints, got {value!r}")
    dims = []
    for d in value:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
            raise ModelConfigError(f"{arg} must be a list of positive ints, got {list(value)!r}")
        dims.append(int(d))
    return tuple(dims)


def _fixed(arg: str, value: Any) -> tuple[np.ndarray, bool]:
    """A fixed input as an array, and whether its dtype was given explicitly (numpy value)."""
    explicit = isinstance(value, (np.ndarray, np.generic))
    if value is None or isinstance(value, (str, bytes, Mapping)):
        raise ModelConfigError(
            f"{arg} must be a number, a bool, a (nested) list of them or a numpy array, got {value!r}"
        )
    try:
        array = np.array(value)
    except (ValueError, TypeError) as exc:
        raise ModelConfigError(f"{arg} is not a regular array: {exc}") from None
    if array.dtype.kind not in "biuf":
        raise ModelConfigError(f"{arg} must hold numbers or bools, got dtype {array.dtype}")
    if explicit and array.dtype.name not in FIXED_DTYPES:
        raise ModelConfigError(f"{arg} has dtype {array.dtype}; supported: {', '.join(FIXED_DTYPES)}")
    array.setflags(write=False)
    return array, explicit


def _matches(actual: Sequence[int], declared: Sequence[Dim]) -> bool:
    return len(actual) == len(declared) and all(d is None or d == a for a, d in zip(actual, declared, strict=True))


def _fmt(shape: Sequence[Any]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


@dataclass(frozen=True)
class ModelInfo:
    """What :meth:`ModelConfig.check_model` found and resolved."""

    path: Path
    inputs: dict[str, TensorMeta]
    outputs: dict[str, TensorMeta]
    obs_shape: tuple[Dim, ...]  # the obs input's declared dims (None = symbolic)
    state_shapes: tuple[tuple[int, ...], ...]  # resolved zero-state shapes, one per state pair
    fixed_feeds: dict[str, np.ndarray]  # fixed inputs converted to the model's dtypes and shapes
    n_actions: int | None  # size of the logit vector (None if unknown: obs dims symbolic)


@dataclass(frozen=True, eq=False, repr=False)
class ModelConfig:
    """An ONNX policy: which tensors carry the observation, the logits and the recurrent state.

    Arguments are type-checked here; :meth:`check_model` checks them against the model file.
    ``frame_skip`` (keyword only): the policy is queried at steps 0, k, 2k... of each episode and
    repeats its last action in between (see :class:`mug.policies.FrameSkipPolicy`).
    """

    onnx_path: str | os.PathLike[str]
    obs_input: str
    logit_output: str
    state_inputs: Sequence[str] | None = None
    state_outputs: Sequence[str] | None = None
    state_shapes: Sequence[Sequence[int]] | None = None
    fixed_inputs: Mapping[str, Any] | None = None
    custom_inference_fn: str | None = None
    frame_skip: int = field(default=1, kw_only=True)
    _fixed: dict[str, tuple[np.ndarray, bool]] = field(init=False, default_factory=dict)
    _checked: list[Any] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        put = object.__setattr__
        if not isinstance(self.onnx_path, (str, os.PathLike)) or not os.fspath(self.onnx_path):
            raise ModelConfigError(f"onnx_path must be a path to an .onnx file (str or Path), got {self.onnx_path!r}")
        put(self, "onnx_path", Path(os.fspath(self.onnx_path)))
        for arg in ("obs_input", "logit_output"):
            value = getattr(self, arg)
            if not isinstance(value, str) or not value:
                raise ModelConfigError(f"{arg} must be a tensor name (non-empty str), got {value!r}")
        ins = _names("state_inputs", self.state_inputs)
        outs = _names("state_outputs", self.state_outputs)
        if len(ins) != len(outs):
            raise ModelConfigError(
                f"state_inputs and state_outputs must pair up (same length): {list(ins)!r} vs {list(outs)!r}"
            )
        shapes: tuple[tuple[int, ...], ...] | None = None
        if self.state_shapes is not None:
            if isinstance(self.state_shapes, str) or not isinstance(self.state_shapes, Sequence):
                raise ModelConfigError(f"state_shapes must be a list of shapes, got {self.state_shapes!r}")
            shapes = tuple(_shape(f"state_shapes[{i}]", s) for i, s in enumerate(self.state_shapes))
            if len(shapes) != len(ins):
                raise ModelConfigError(
                    f"state_shapes must give one shape per state input: {len(shapes)} shape(s) for {len(ins)} input(s)"
                )
        put(self, "state_inputs", ins)
        put(self, "state_outputs", outs)
        put(self, "state_shapes", shapes)
        fixed: dict[str, tuple[np.ndarray, bool]] = {}
        if self.fixed_inputs is not None:
            if not isinstance(self.fixed_inputs, Mapping):
                raise ModelConfigError(
                    f"fixed_inputs must be a dict of tensor name -> value, got {self.fixed_inputs!r}"
                )
            for name, value in self.fixed_inputs.items():
                if not isinstance(name, str) or not name:
                    raise ModelConfigError(f"fixed_inputs keys must be tensor names (non-empty str), got {name!r}")
                fixed[name] = _fixed(f"fixed_inputs[{name!r}]", value)
        put(self, "_fixed", fixed)
        put(self, "fixed_inputs", {name: array for name, (array, _) in fixed.items()})
        fed = [self.obs_input, *ins, *fixed]
        twice = sorted({n for n in fed if fed.count(n) > 1})
        if twice:
            raise ModelConfigError(
                f"input tensor(s) {twice} named more than once in obs_input, state_inputs, fixed_inputs"
            )
        if self.logit_output in outs:
            raise ModelConfigError(f"logit_output {self.logit_output!r} is also listed in state_outputs")
        fn = self.custom_inference_fn
        if fn is not None and (not isinstance(fn, str) or not fn.strip()):
            hint = " (it is JavaScript run in the browser, not a Python function)" if callable(fn) else ""
            raise ModelConfigError(
                f"custom_inference_fn must be the body of a JavaScript async function as a string{hint}, got {fn!r}"
            )
        if isinstance(self.frame_skip, bool) or not isinstance(self.frame_skip, int) or self.frame_skip < 1:
            raise ModelConfigError(f"frame_skip must be an int >= 1, got {self.frame_skip!r}")

    # -- checking against the model ---------------------------------------------------------

    @property
    def path(self) -> Path:
        return Path(self.onnx_path)

    def check_model(self) -> ModelInfo:
        """Load the model with onnxruntime and check this config against it (cached per file version).

        Raises :class:`ModelConfigError` naming the tensor and what the model has: unknown tensor
        names, model inputs nothing feeds, wrong dtypes, state shapes that do not match the model's
        declared shapes or what one probe run (zeros in) returns.
        """
        key = file_key(self.path)
        if self._checked and self._checked[0] == key:
            return self._checked[1]
        info = self._check(load_session(self.path))
        self._checked[:] = [key, info]
        return info

    def _check(self, session: Any) -> ModelInfo:
        model = self.path.name
        inputs = {m.name: m for m in map(tensor_meta, session.get_inputs())}
        outputs = {m.name: m for m in map(tensor_meta, session.get_outputs())}

        def listing(metas: dict[str, TensorMeta]) -> str:
            return "; ".join(m.describe() for m in metas.values()) or "(none)"

        def need(arg: str, name: str, where: dict[str, TensorMeta], kind: str) -> TensorMeta:
            if name not in where:
                raise ModelConfigError(
                    f"{arg}: {name!r} is not an {kind} of {model}; its {kind}s are: {listing(where)}"
                )
            return where[name]

        obs = need("obs_input", self.obs_input, inputs, "input")
        logits = need("logit_output", self.logit_output, outputs, "output")
        state_in = [need("state_inputs", n, inputs, "input") for n in self.state_inputs]
        state_out = [need("state_outputs", n, outputs, "output") for n in self.state_outputs]
        for name in self._fixed:
            need("fixed_inputs", name, inputs, "input")
        unfed = [m for n, m in inputs.items() if n not in {self.obs_input, *self.state_inputs, *self._fixed}]
        if unfed:
            raise ModelConfigError(
                f"{model} input(s) {', '.join(m.describe() for m in unfed)} not fed: "
                "name each in obs_input, state_inputs or fixed_inputs"
            )
        if obs.dtype != "float32":
            raise ModelConfigError(f"obs_input {obs.name!r} must be a float32 tensor, the model declares {obs.dtype}")
        if logits.dtype not in ("float32", "float64"):
            raise ModelConfigError(
                f"logit_output {logits.name!r} must be float32 or float64, the model declares {logits.dtype}"
            )
        for meta in (*state_in, *state_out):
            if meta.dtype != "float32":
                raise ModelConfigError(f"state tensor {meta.name!r} must be float32, the model declares {meta.dtype}")
        for meta in (obs, logits):
            if not meta.shape:
                raise ModelConfigError(f"{meta.name!r} has no declared dims in {model}; it must be at least 1-D")

        shapes: list[tuple[int, ...]] = []
        for i, (tin, tout) in enumerate(zip(state_in, state_out, strict=True)):
            if self.state_shapes is not None:
                shape = self.state_shapes[i]
                if not _matches(shape, tin.shape):
                    raise ModelConfigError(
                        f"state_shapes[{i}] for state input {tin.name!r}: expected a shape compatible with "
                        f"{_fmt(tin.shape)} (the model's), got {_fmt(shape)}"
                    )
            else:
                shape = tuple(1 if d is None else d for d in tin.shape)
            if not _matches(shape, tout.shape):
                raise ModelConfigError(
                    f"state output {tout.name!r} is declared {_fmt(tout.shape)}, but it feeds state input "
                    f"{tin.name!r} of shape {_fmt(shape)}"
                )
            shapes.append(shape)

        feeds = {name: self._convert_fixed(name, inputs[name]) for name in self._fixed}

        n_actions = logits.shape[-1] if len(logits.shape) <= 2 else None
        if len(logits.shape) > 2 or (len(logits.shape) == 2 and logits.shape[0] not in (1, None)):
            raise ModelConfigError(
                f"logit_output {logits.name!r} must be [1, n_actions] or [n_actions], "
                f"the model declares {_fmt(logits.shape)}"
            )
        if all(d is not None for d in obs.shape[1:]):  # a symbolic batch dim runs with 1
            probe_shape = tuple(1 if d is None else d for d in obs.shape)
            n_actions = self._probe(session, probe_shape, shapes, feeds)
        return ModelInfo(
            path=self.path,
            inputs=inputs,
            outputs=outputs,
            obs_shape=obs.shape,
            state_shapes=tuple(shapes),
            fixed_feeds=feeds,
            n_actions=n_actions,
        )

    def _convert_fixed(self, name: str, meta: TensorMeta) -> np.ndarray:
        array, explicit = self._fixed[name]
        arg = f"fixed_inputs[{name!r}]"
        target = meta.dtype
        if target not in FIXED_DTYPES:
            raise ModelConfigError(
                f"{arg}: the model's input is {target}; fixed inputs support {', '.join(FIXED_DTYPES)}"
            )
        if explicit:
            if array.dtype.name != target:
                raise ModelConfigError(
                    f"{arg} has dtype {array.dtype}, the model's input {name!r} is {target}; "
                    f"pass np.asarray(value, dtype=np.{target})"
                )
            converted = array
        elif target == "bool":
            if array.dtype.kind != "b":
                raise ModelConfigError(f"{arg}: the model's input {name!r} is bool, got values of dtype {array.dtype}")
            converted = array
        elif target.startswith(("int", "uint")):
            info = np.iinfo(target)
            if array.dtype.kind not in "iu":
                raise ModelConfigError(
                    f"{arg}: the model's input {name!r} is {target}; give integers, got {array.tolist()!r}"
                )
            if array.size and (array.min() < info.min or array.max() > info.max):
                raise ModelConfigError(
                    f"{arg}: the model's input {name!r} is {target}; the values are out of range: {array.tolist()!r}"
                )
            converted = array.astype(target)
        else:
            if array.dtype.kind == "b":
                raise ModelConfigError(f"{arg}: the model's input {name!r} is {target}, got bools")
            converted = array.astype(target)
        if not _matches(converted.shape, meta.shape):
            if all(d is not None for d in meta.shape) and math.prod(meta.shape) == converted.size:  # type: ignore[arg-type]
                converted = converted.reshape(meta.shape)  # type: ignore[arg-type]
            else:
                raise ModelConfigError(
                    f"{arg}: expected shape {_fmt(meta.shape)} (the model's), got {_fmt(converted.shape)}"
                )
        converted = np.ascontiguousarray(converted)
        converted.setflags(write=False)
        return converted

    def _probe(
        self, session: Any, obs_shape: tuple[int, ...], shapes: list[tuple[int, ...]], feeds: dict[str, np.ndarray]
    ) -> int:
        """Run the model once on zeros: the logits and every state output must come back in shape."""
        feed: dict[str, np.ndarray] = {self.obs_input: np.zeros(obs_shape, np.float32), **feeds}
        for name, shape in zip(self.state_inputs, shapes, strict=True):
            feed[name] = np.zeros(shape, np.float32)
        try:
            result = session.run([self.logit_output, *self.state_outputs], feed)
        except Exception as exc:
            raise ModelConfigError(
                f"{self.path.name}: one run with zero inputs (obs {_fmt(obs_shape)}, states "
                f"{[list(s) for s in shapes]}) failed: {exc}"
            ) from exc
        logits = np.asarray(result[0])
        if not (logits.ndim == 1 or (logits.ndim == 2 and logits.shape[0] == 1)) or logits.shape[-1] < 1:
            raise ModelConfigError(
                f"logit_output {self.logit_output!r} must come out as [1, n_actions] or [n_actions], "
                f"got {_fmt(logits.shape)}"
            )
        for name, tin, shape, value in zip(self.state_outputs, self.state_inputs, shapes, result[1:], strict=True):
            actual = tuple(np.asarray(value).shape)
            if actual != shape:
                raise ModelConfigError(
                    f"state output {name!r} came out with shape {_fmt(actual)}, but state input {tin!r} "
                    f"expects {_fmt(shape)} (set state_shapes to match the model)"
                )
        return int(logits.shape[-1])

    # -- serialisation ------------------------------------------------------------------------

    def client_spec(self, model_url: str) -> dict[str, Any]:
        """The JSON spec the browser's ``createPolicy``/``OnnxPolicy`` reads; ``model_url`` is where
        the page fetches the .onnx file (relative URLs resolve against the page). Checks the model first.
        """
        if not isinstance(model_url, str) or not model_url:
            raise ModelConfigError(f"model_url must be a non-empty str, got {model_url!r}")
        info = self.check_model()
        fixed = []
        for name, array in info.fixed_feeds.items():
            if array.dtype.kind == "f" and not np.isfinite(array).all():
                raise ModelConfigError(f"fixed_inputs[{name!r}] holds NaN or infinity, which JSON cannot carry")
            if array.dtype.kind in "iu" and array.size and int(np.abs(array.astype(np.float64)).max()) > 2**53 - 1:
                raise ModelConfigError(
                    f"fixed_inputs[{name!r}] holds integers beyond 2**53, which JavaScript numbers cannot carry"
                )
            fixed.append(
                {"name": name, "dtype": array.dtype.name, "shape": list(array.shape), "data": array.ravel().tolist()}
            )
        return {
            "kind": "onnx",
            "version": CLIENT_SPEC_VERSION,
            "model_url": model_url,
            "obs_input": self.obs_input,
            "obs_shape": list(info.obs_shape),
            "logit_output": self.logit_output,
            "n_actions": info.n_actions,
            "state": [
                {"input": i, "output": o, "shape": list(s)}
                for i, o, s in zip(self.state_inputs, self.state_outputs, info.state_shapes, strict=True)
            ],
            "fixed_inputs": fixed,
            "custom_inference_fn": self.custom_inference_fn,
            "frame_skip": self.frame_skip,
        }

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe description for the experiment's saved config (no model check, no data arrays)."""
        return {
            "type": "onnx",
            "onnx_path": str(self.onnx_path),
            "obs_input": self.obs_input,
            "logit_output": self.logit_output,
            "state_inputs": list(self.state_inputs),  # type: ignore[arg-type]
            "state_outputs": list(self.state_outputs),  # type: ignore[arg-type]
            "state_shapes": None if self.state_shapes is None else [list(s) for s in self.state_shapes],
            "fixed_inputs": {n: {"dtype": a.dtype.name, "shape": list(a.shape)} for n, (a, _) in self._fixed.items()},
            "custom_inference_fn": self.custom_inference_fn,
            "frame_skip": self.frame_skip,
        }

    def __repr__(self) -> str:
        parts = [repr(str(self.onnx_path)), f"obs_input={self.obs_input!r}", f"logit_output={self.logit_output!r}"]
        if self.state_inputs:
            parts.append(f"state_inputs={list(self.state_inputs)!r}")  # type: ignore[arg-type]
            parts.append(f"state_outputs={list(self.state_outputs)!r}")  # type: ignore[arg-type]
        if self.state_shapes is not None:
            parts.append(f"state_shapes={[list(s) for s in self.state_shapes]!r}")
        if self._fixed:
            parts.append(f"fixed_inputs={sorted(self._fixed)!r}")
        if self.custom_inference_fn is not None:
            parts.append("custom_inference_fn=<js>")
        if self.frame_skip != 1:
            parts.append(f"frame_skip={self.frame_skip}")
        return f"ModelConfig({', '.join(parts)})"
