"""onnxruntime sessions (CPU, one per model file, cached) and the tensor metadata of a model."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mug.policies.errors import ModelConfigError

# onnxruntime type strings -> numpy dtype names (the same names the client spec uses).
ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(int16)": "int16",
    "tensor(uint16)": "uint16",
    "tensor(int32)": "int32",
    "tensor(uint32)": "uint32",
    "tensor(int64)": "int64",
    "tensor(uint64)": "uint64",
    "tensor(bool)": "bool",
}

Dim = int | None  # None: a symbolic or unknown dimension


@dataclass(frozen=True)
class TensorMeta:
    """An input or output of a model as onnxruntime declares it."""

    name: str
    dtype: str  # numpy dtype name, or the raw onnxruntime type string when it is not a plain tensor
    shape: tuple[Dim, ...]
    symbols: tuple[str | None, ...]  # the symbolic names of the dims (None where the dim is fixed)

    def describe(self) -> str:
        dims = ", ".join(str(d) if d is not None else (s or "?") for d, s in zip(self.shape, self.symbols, strict=True))
        return f"{self.name} [{dims}] {self.dtype}"


def tensor_meta(arg: Any) -> TensorMeta:
    shape: list[Dim] = []
    symbols: list[str | None] = []
    for d in arg.shape or []:
        if isinstance(d, int) and d >= 0:
            shape.append(d)
            symbols.append(None)
        else:
            shape.append(None)
            symbols.append(d if isinstance(d, str) else None)
    return TensorMeta(arg.name, ORT_TYPES.get(arg.type, arg.type), tuple(shape), tuple(symbols))


_lock = threading.Lock()
_sessions: dict[tuple[str, int, int], Any] = {}


def file_key(path: Path) -> tuple[str, int, int]:
    """(resolved path, mtime, size): a session is reused until the file changes."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise ModelConfigError(f"onnx_path: model file not found: {path}") from None
    except OSError as exc:
        raise ModelConfigError(f"onnx_path: cannot read {path}: {exc}") from None
    if not path.is_file():
        raise ModelConfigError(f"onnx_path: not a file: {path}")
    return str(path.resolve()), stat.st_mtime_ns, stat.st_size


def load_session(path: Path) -> Any:
    """The cached CPU ``onnxruntime.InferenceSession`` of a model file (created on first use).

    One intra-op and one inter-op thread: policies are tiny and a game server runs many of them.
    """
    key = file_key(path)
    with _lock:
        session = _sessions.get(key)
        if session is None:
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
            options.log_severity_level = 3
            try:
                session = onnxruntime.InferenceSession(
                    str(path), sess_options=options, providers=["CPUExecutionProvider"]
                )
            except Exception as exc:
                raise ModelConfigError(f"onnx_path: onnxruntime cannot load {path}: {exc}") from exc
            for stale in [k for k in _sessions if k[0] == key[0]]:
                del _sessions[stale]
            _sessions[key] = session
        return session


def clear_session_cache() -> None:
    """Forget every cached session (they are rebuilt on next use)."""
    with _lock:
        _sessions.clear()
