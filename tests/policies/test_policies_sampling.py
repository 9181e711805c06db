"""The shared sampling algorithms (PCG32, FNV-1a, exp64, softmax, sample_index) on the Python side."""

from __future__ import annotations

import math
import random

import pytest
from policies_golden import GOLDEN, build_golden, dumps

from mug.policies import Pcg32, agent_rng, exp64, fnv1a32, sample_index, softmax


def test_pcg32_matches_the_reference_generator():
    # pcg32_srandom_r(&rng, 42u, 54u) in the PCG reference code (pcg32-demo) prints these first.
    rng = Pcg32(42, 54)
    assert [rng.next_u32() for _ in range(6)] == [
        0xA15C02B7,
        0x7B47F409,
        0xBA1D3330,
        0x83D2F293,
        0xBFA4784B,
        0xCBED606E,
    ]


def test_fnv1a32_reference_values():
    assert fnv1a32("") == 0x811C9DC5
    assert fnv1a32("a") == 0xE40C292C
    assert fnv1a32("foobar") == 0xBF9CF968


def test_agent_streams_depend_on_seed_and_agent_and_take_seeds_mod_2_64():
    def draws(seed, agent):
        rng = agent_rng(seed, agent)
        return [rng.next_u32() for _ in range(4)]

    assert draws(1, "ai") == draws(1, "ai")
    assert draws(1, "ai") != draws(2, "ai")
    assert draws(1, "ai") != draws(1, "partner")
    assert draws(-1, "ai") == draws(2**64 - 1, "ai")
    with pytest.raises(TypeError):
        agent_rng(1.5, "ai")  # type: ignore[arg-type]


def test_uniform_is_in_unit_interval_and_roughly_uniform():
    rng = agent_rng(0, "ai")
    us = [rng.uniform() for _ in range(20000)]
    assert min(us) >= 0.0 and max(us) < 1.0
    buckets = [0] * 10
    for u in us:
        buckets[int(u * 10)] += 1
    assert all(1800 < b < 2200 for b in buckets)


def test_exp64_is_within_an_ulp_or_two_of_math_exp():
    rng = random.Random(1)
    for _ in range(20000):
        x = -rng.random() * 708
        assert abs(exp64(x) - math.exp(x)) <= 2.5e-16 * math.exp(x)
    assert exp64(0.0) == 1.0
    assert exp64(-709.0) == 0.0 and exp64(-math.inf) == 0.0
    for bad in (0.1, math.nan):
        with pytest.raises(ValueError):
            exp64(bad)


def test_softmax_masks_minus_inf_and_rejects_nan_inf_and_empty():
    p = softmax([1.0, -math.inf, 1.0])
    assert p == [0.5, 0.0, 0.5]
    assert math.isclose(sum(softmax([3.0, -2.0, 0.5, 10.0])), 1.0, rel_tol=1e-15)
    for bad in ([], [math.nan], [math.inf, 0.0], [-math.inf]):
        with pytest.raises(ValueError):
            softmax(bad)


def test_sample_index_takes_the_first_index_whose_running_sum_exceeds_u():
    p = [0.25, 0.0, 0.5, 0.25]
    assert [sample_index(p, u) for u in (0.0, 0.2, 0.25, 0.74, 0.75, 0.999)] == [0, 0, 2, 2, 3, 3]
    assert sample_index([0.3, 0.3, 0.3999999, 0.0], 0.99999999) == 2  # rounding fallback: last non-zero


def test_sampling_frequencies_follow_the_probabilities():
    p = softmax([0.0, 1.0, 2.0])
    rng = agent_rng(123, "ai")
    counts = [0, 0, 0]
    n = 30000
    for _ in range(n):
        counts[sample_index(p, rng.uniform())] += 1
    for c, q in zip(counts, p, strict=True):
        assert abs(c / n - q) < 0.015


def test_the_committed_golden_file_for_the_typescript_side_is_current():
    assert GOLDEN.read_text(encoding="utf-8") == dumps(build_golden()), (
        "regenerate with: .venv/bin/python tests/policies/policies_golden.py"
    )
