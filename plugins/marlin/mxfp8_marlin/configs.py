"""Launch configurations, chosen by shape from a small heuristic table (no autotuning).

Two regimes:

- decode, ``M <= 16``: memory-bound. One 16-row activation tile, weight tiles of
  ``BLOCK_N`` rows, and split-K so that the grid has a few programs per SM: the whole
  weight streams once at full bandwidth.
- larger ``M``: the tile kernel with larger activation tiles (weights decoded once per
  ``BLOCK_M`` rows), or for very large ``M`` dequantize-into-a-buffer + cuBLAS
  (``strategy="dequant"``), whichever measured faster on the H100 (bench/notes_marlin.md).

The table was tuned on an H100 (sm_90); other GPUs get the same shapes, which are
sensible for any SM80+ part. ``choose`` is cached per shape bucket.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

BLOCK = 32


@dataclass(frozen=True)
class Config:
    strategy: str  # "fused" (the Triton GEMM) or "dequant" (dequantize to a buffer, then cuBLAS)
    block_m: int = 16
    block_n: int = 64
    block_k: int = 256
    split_k: int = 1
    group_n: int = 8
    num_warps: int = 4
    num_stages: int = 4
    swap: bool = True  # compute y.T = W x.T (weights as the MMA's A operand) or y = x W.T
    decode: str | None = None  # None: the device's default (see kernel.default_decode)

    def describe(self) -> str:
        if self.strategy == "dequant":
            return "dequant+cublas"
        return (
            f"{'swap' if self.swap else 'noswap'} BM{self.block_m} BN{self.block_n} BK{self.block_k} "
            f"SK{self.split_k} G{self.group_n} w{self.num_warps} s{self.num_stages} {self.decode or 'default'}"
        )


# M bucket upper bound -> (programs per SM that split-K aims for, base config); split_k
# and block_k are then fitted to the shape. Measured on the H100 (bench/notes_marlin.md):
# - M <= 32: "noswap" (activations are the MMA's A operand, the decoded weights B),
#   mma.sync tiles of 16/32 x 64 x 256, three stages, about two programs per SM;
# - M <= 128: "swap" (weights are the A operand of a 64 x 128 wgmma), one per SM;
# - M <= 512: 256 x 128 x 64 wgmma tiles;
# - past 512, dequantizing into a buffer and calling cuBLAS beats the fused kernel.
_TABLE: tuple[tuple[int, float, Config], ...] = (
    (16, 2.0, Config("fused", block_m=16, block_n=64, block_k=256, num_warps=4, num_stages=3, swap=False)),
    (32, 2.0, Config("fused", block_m=32, block_n=64, block_k=256, num_warps=4, num_stages=3, swap=False)),
    (128, 1.0, Config("fused", block_m=64, block_n=128, block_k=128, num_warps=4, num_stages=3, swap=True)),
    (512, 1.0, Config("fused", block_m=256, block_n=128, block_k=64, num_warps=8, num_stages=3, swap=False)),
    (1 << 62, 0.0, Config("dequant")),
)


def m_bucket(m: int) -> int:
    """Calls with M in the same bucket share a config (and a compiled kernel)."""
    for bound, _, _ in _TABLE:
        if m <= bound:
            return bound
    return _TABLE[-1][0]


def fit_block_k(k: int, block_k: int) -> int:
    """The largest power-of-two multiple of 32 that is <= block_k and divides k."""
    bk = block_k
    while bk > BLOCK and k % bk:
        bk //= 2
    return bk


def fit_split_k(m: int, n: int, k: int, cfg: Config, num_sms: int, waves: float = 2.0) -> int:
    """The power-of-two split of K that brings the grid closest to ``waves`` programs per
    SM (log scale), keeping at least two K tiles per split."""
    tiles = -(-m // cfg.block_m) * -(-n // cfg.block_n)
    k_tiles = k // cfg.block_k
    splits = [s for s in (1, 2, 4, 8, 16) if s == 1 or k_tiles // s >= 2]
    return min(splits, key=lambda s: (abs(math.log(tiles * s / (waves * num_sms))), s))


@lru_cache(maxsize=4096)
def choose(m: int, n: int, k: int, num_sms: int, overrides: tuple = ()) -> Config:
    """The config for an ``[m, k] x [n, k]^T`` product on a GPU with ``num_sms`` SMs.
    ``overrides`` is a tuple of ``(field, value)`` pairs (benchmarks and tests)."""
    bucket = m_bucket(m)
    waves, cfg = next((w, c) for bound, w, c in _TABLE if bound == bucket)
    cfg = replace(cfg, **dict(overrides))
    if cfg.strategy == "dequant":
        return cfg
    cfg = replace(cfg, block_k=fit_block_k(k, cfg.block_k))
    if "split_k" not in dict(overrides):
        cfg = replace(cfg, split_k=fit_split_k(min(m, bucket), n, k, cfg, num_sms, waves))
    return cfg
