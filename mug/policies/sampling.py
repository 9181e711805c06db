"""Seeded sampling with results that are bit-identical in Python and in the browser.

The TypeScript twin is ``mug/client/src/policies/sampling.ts``; docs/policies.md states the algorithms.
Only IEEE-754 float64 ``+ - * /``, ``floor`` and exact powers of two are used, so both languages
produce the same bits (Python's ``math.exp``/``sum`` and JavaScript's ``Math.exp`` are not
guaranteed to agree in the last bit, so neither is used).

- RNG: PCG32 (PCG-XSH-RR, 64-bit state, 32-bit output) as in the PCG paper's reference code.
- Stream per agent: ``Pcg32(seed mod 2**64, fnv1a32(utf8(agent_id)))``.
- ``uniform()``: ``next_u32() / 2**32``, in [0, 1).
- ``softmax``: max-shifted, :func:`exp64` below, left-to-right sum.
- ``sample_index``: first index whose running sum of probabilities exceeds ``u``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

MASK64 = (1 << 64) - 1
MASK32 = (1 << 32) - 1
PCG_MULTIPLIER = 6364136223846793005

FNV32_OFFSET = 0x811C9DC5
FNV32_PRIME = 0x01000193

# exp64 constants (decimal literals that parse to the same doubles in Python and JavaScript).
INV_LN2 = 1.4426950408889634
LN2_HI = 6.93147180369123816490e-01  # 0x3FE62E42FEE00000: ln 2 with its low 21 bits zero
LN2_LO = 1.90821492927058770002e-10  # ln 2 - LN2_HI
EXP_UNDERFLOW = -708.0  # below this exp64 returns 0.0 (2**k stays a normal number above it)
EXP_TERMS = 13  # Taylor terms; |r| <= ln2/2 so the truncation error is < 1e-17 relative


class Pcg32:
    """PCG-XSH-RR 64/32: ``state = state * 6364136223846793005 + inc (mod 2**64)``.

    Seeded like the reference ``pcg32_srandom_r(initstate, initseq)``: ``inc = (initseq << 1) | 1``,
    ``state = 0``, step, ``state += initstate``, step.
    """

    __slots__ = ("inc", "state")

    def __init__(self, initstate: int, initseq: int) -> None:
        self.state = 0
        self.inc = ((initseq << 1) | 1) & MASK64
        self.next_u32()
        self.state = (self.state + (initstate & MASK64)) & MASK64
        self.next_u32()

    def next_u32(self) -> int:
        old = self.state
        self.state = (old * PCG_MULTIPLIER + self.inc) & MASK64
        xorshifted = (((old >> 18) ^ old) >> 27) & MASK32
        rot = old >> 59
        return ((xorshifted >> rot) | (xorshifted << ((-rot) & 31))) & MASK32

    def uniform(self) -> float:
        """A float in [0, 1): ``next_u32() / 2**32`` (exact in float64)."""
        return self.next_u32() / 4294967296.0

    def get_state(self) -> tuple[int, int]:
        return self.state, self.inc

    def set_state(self, state: tuple[int, int]) -> None:
        self.state, self.inc = int(state[0]) & MASK64, int(state[1]) & MASK64


def fnv1a32(text: str) -> int:
    """32-bit FNV-1a over the UTF-8 bytes of ``text``."""
    h = FNV32_OFFSET
    for byte in text.encode("utf-8"):
        h = ((h ^ byte) * FNV32_PRIME) & MASK32
    return h


def agent_rng(seed: int, agent_id: str) -> Pcg32:
    """The sampling RNG of one agent for one episode: stream ``fnv1a32(agent_id)``, state from ``seed``."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {seed!r}")
    return Pcg32(seed & MASK64, fnv1a32(str(agent_id)))


def exp64(x: float) -> float:
    """``e**x`` for ``x <= 0`` from float64 ``+ - * /`` only, so Python and JavaScript agree bit for bit.

    ``x < -708`` (including ``-inf``) gives 0.0. Range reduction ``x = k ln2 + r`` with
    ``k = floor(x / ln2 + 0.5)``, then a Horner-evaluated Taylor polynomial of ``e**r``, times ``2**k``.
    Accurate to about 1 ulp (it is not meant to replace ``math.exp``; it is meant to be reproducible).
    """
    if math.isnan(x) or x > 0.0:
        raise ValueError(f"exp64 takes x <= 0, got {x!r}")
    if x < EXP_UNDERFLOW:
        return 0.0
    k = math.floor(x * INV_LN2 + 0.5)
    kf = float(k)
    r = (x - kf * LN2_HI) - kf * LN2_LO
    p = 1.0
    for n in range(EXP_TERMS, 0, -1):
        p = 1.0 + p * r / n
    return p * math.ldexp(1.0, k)


def softmax(logits: Sequence[float]) -> list[float]:
    """Probabilities from logits, in float64: ``exp64(l - max) / sum`` (sum taken left to right).

    ``-inf`` logits (masked actions) get probability 0; NaN, ``+inf`` or all ``-inf`` raise ValueError.
    """
    values = [float(v) for v in logits]
    if not values:
        raise ValueError("softmax of an empty logit vector")
    m = -math.inf
    for v in values:
        if math.isnan(v) or v == math.inf:
            raise ValueError(f"logits must be finite or -inf, got {v!r}")
        if v > m:
            m = v
    if m == -math.inf:
        raise ValueError("every logit is -inf")
    exps = [exp64(v - m) for v in values]
    total = 0.0
    for e in exps:
        total += e
    return [e / total for e in exps]


def sample_index(probabilities: Sequence[float], u: float) -> int:
    """The first index whose running sum of probabilities exceeds ``u`` (``0 <= u < 1``).

    If rounding leaves the full sum at or below ``u``, the last index with a non-zero probability.
    """
    running = 0.0
    last = -1
    for i, p in enumerate(probabilities):
        running += p
        if p > 0.0:
            last = i
        if u < running:
            return i
    if last < 0:
        raise ValueError("no action has a non-zero probability")
    return last
