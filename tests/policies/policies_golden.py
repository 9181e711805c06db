"""Golden values of the shared sampling algorithms, computed by the Python side.

The Node tests (mug/client/test/policies/sampling.test.ts) check the TypeScript side against the
committed file; test_policies_golden.py checks the file is what this module computes now.
Regenerate with: .venv/bin/python tests/policies/policies_golden.py
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from mug.policies import FrameSkipPolicy, Pcg32, agent_rng, exp64, fnv1a32, sample_index, softmax
from mug.policies.errors import PolicyError
from mug.policies.onnx_policy import prepare_observation

GOLDEN = Path(__file__).resolve().parents[2] / "mug" / "client" / "test" / "policies" / "golden.json"


def _logits_json(values: list[float]) -> list[float | None]:
    return [None if v == -math.inf else v for v in values]  # JSON has no -Infinity: null stands for it


def _pcg() -> list[dict[str, Any]]:
    cases = [(42, 54), (0, 0), (2**64 - 1, 2**63 + 5), (123456789, fnv1a32("player_1"))]
    out = []
    for state, seq in cases:
        rng = Pcg32(state, seq)
        out.append({"initstate": str(state), "initseq": str(seq), "u32": [rng.next_u32() for _ in range(8)]})
    return out


def _agent_streams() -> list[dict[str, Any]]:
    cases: list[tuple[int | str, str]] = [
        (0, "ai"),
        (1, "ai"),
        (1, "agent_0"),
        (-1, "agent_1"),
        (2**31 - 1, "player"),
        (2**53 - 1, "🤖 bot"),
        (-(2**53 - 1), "ai"),
    ]
    out = []
    for seed, agent in cases:
        rng = agent_rng(int(seed), agent)
        out.append({"seed": seed, "agent_id": agent, "uniform": [rng.uniform() for _ in range(6)]})
    big = 2**70 + 12345  # beyond JS numbers: the TS side takes it as a bigint
    rng = agent_rng(big, "ai")
    out.append({"seed": str(big), "agent_id": "ai", "uniform": [rng.uniform() for _ in range(6)]})
    return out


def _exp() -> list[list[float]]:
    rng = np.random.default_rng(3)
    xs = [0.0, -0.0, -1e-300, -1e-10, -0.5, -0.34657359027997264, -0.6931471805599453, -1.0, -700.0, -708.0]
    xs += (-rng.exponential(3.0, size=80)).tolist() + (-rng.uniform(0, 708, size=60)).tolist()
    return [[x, exp64(x)] for x in xs]


def _softmax() -> list[dict[str, Any]]:
    rng = np.random.default_rng(4)
    cases = [[0.0], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0, 0.0], [-math.inf, 0.5, -math.inf, 0.25], [80.0, -80.0, 0.0]]
    for n in (2, 3, 5, 9, 17):
        cases.append(rng.normal(0.0, 3.0, size=n).astype(np.float32).tolist())
    return [{"logits": _logits_json(c), "probabilities": softmax(c)} for c in cases]


def _sampling() -> list[dict[str, Any]]:
    rng = np.random.default_rng(5)
    out = []
    for seed, agent, n in [(7, "ai", 4), (8, "ai", 4), (7, "partner", 7), (2**40 + 3, "agent_2", 2)]:
        steps = []
        draws = agent_rng(seed, agent)
        for t in range(40):
            logits = (rng.normal(0.0, 2.0, size=n) * (1 + t % 3)).astype(np.float32).tolist()
            if t % 11 == 5:
                logits[t % n] = -math.inf
            steps.append({"logits": _logits_json(logits), "action": sample_index(softmax(logits), draws.uniform())})
        out.append({"seed": seed, "agent_id": agent, "steps": steps})
    return out


def _sample_index() -> list[dict[str, Any]]:
    p = [0.25, 0.0, 0.5, 0.25]
    us = [0.0, 0.2499999999, 0.25, 0.5, 0.7499999999, 0.75, 0.9999999997671694]
    cases = [{"probabilities": p, "u": u, "index": sample_index(p, u)} for u in us]
    short = [0.3, 0.3, 0.3999999, 0.0]  # sums below 1: u beyond the sum falls back to the last non-zero
    cases.append({"probabilities": short, "u": 0.99999999, "index": sample_index(short, 0.99999999)})
    return cases


class _Counter:
    """A policy that answers 0, 1, 2... (restarting at each reset)."""

    def __init__(self) -> None:
        self.n = 0

    def reset(self, seed: int | None) -> None:
        self.n = 0

    def act(self, observation: Any) -> int:
        self.n += 1
        return self.n - 1


def _frame_skip() -> list[dict[str, Any]]:
    out = []
    for k, steps in [(1, 5), (3, 10), (4, 9)]:
        policy = FrameSkipPolicy(_Counter(), k)
        episodes = []
        for seed in (0, 1):
            policy.reset(seed)
            episodes.append([policy.act(None) for _ in range(steps)])
        out.append({"frame_skip": k, "episodes": episodes})
    return out


def _shapes() -> list[dict[str, Any]]:
    cases = [
        ([6], [None, 6]),
        ([1, 6], [None, 6]),
        ([2, 3], [None, 6]),
        ([6], [1, 6]),
        ([6], [6]),
        ([], [1]),
        ([2, 3], [1, 2, 3]),
        ([3, 2], [None, 2, 3]),
        ([5], [None, 6]),
        ([6], [None, None]),
        ([2, 3], [None, None]),
        ([4], [1, 1, 1]),
    ]
    out = []
    for shape, declared in cases:
        try:
            result: list[int] | None = list(prepare_observation(np.zeros(shape), tuple(declared)).shape)
        except PolicyError:
            result = None
        out.append({"shape": shape, "declared": declared, "fed": result})
    return out


def build_golden() -> dict[str, Any]:
    return {
        "about": "Computed by tests/policies/policies_golden.py (Python); null in a logit list means -Infinity.",
        "pcg32": _pcg(),
        "fnv1a32": [{"text": t, "hash": fnv1a32(t)} for t in ["", "a", "foobar", "ai", "agent_0", "π-agent", "🤖 bot"]],
        "agent_rng": _agent_streams(),
        "exp64": _exp(),
        "softmax": _softmax(),
        "sample_index": _sample_index(),
        "sampling": _sampling(),
        "frame_skip": _frame_skip(),
        "observation_shapes": _shapes(),
    }


def dumps(golden: dict[str, Any]) -> str:
    """One line per case, so a diff shows which case changed."""

    def one(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))

    parts = []
    for key, value in golden.items():
        if isinstance(value, list):
            body = ",\n".join("  " + one(item) for item in value)
            parts.append(f" {one(key)}: [\n{body}\n ]")
        else:
            parts.append(f" {one(key)}: {one(value)}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


if __name__ == "__main__":
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(dumps(build_golden()), encoding="utf-8")
    print(f"wrote {GOLDEN}")
