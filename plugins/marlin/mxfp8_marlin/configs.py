"""Launch configurations, chosen by shape from a small heuristic table (no autotuning).

Regimes:

- decode, ``M <= 16``: memory-bound. One 16-row activation tile, weight tiles of
  ``BLOCK_N`` rows, and split-K so that the grid has a few programs per SM: the whole
  weight streams once at full bandwidth. For ``M <= GEMV_MAX_M`` (when the grid fills
  the GPU) the CUDA-core kernel instead (``strategy="gemv"``: no tensor cores, no split-K).
- larger ``M``: the tile kernel with larger activation tiles (weights decoded once per
  ``BLOCK_M`` rows), or for very large ``M`` dequantize-into-a-buffer + cuBLAS
  (``strategy="dequant"``; ``chunk_mb`` > 0: in N-chunks of about that many MB of bf16,
  two buffers, cuBLAS writing each chunk's output columns in place), whichever
  measured faster on the H100 (bench/notes_marlin.md).

The table was tuned on an H100 (sm_90; ``GEMV_PAIRS_BELOW`` on an H200); other GPUs get
the same shapes, which are sensible for any SM80+ part. ``choose`` is cached per shape
bucket.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

BLOCK = 32


STRATEGIES = ("fused", "wgmma", "pingpong", "gemv", "dequant")
# how a launch decodes e4m3 bytes (kernel.DECODES, kernel.default_decode): integer ops, the
# hardware convert (sm_89+), the packed PTX bit trick (GPU only)
DECODES = ("bits", "cvt", "asm")
_COUNTS = ("block_m", "block_n", "block_k", "split_k", "group_n", "num_warps", "num_stages")
_TILES = ("block_m", "block_n", "block_k")  # tl.arange extents: powers of two
_FLAGS = ("swap", "overlap", "split_tail", "persistent", "shared_fixup", "k_pairs")


def _count_ok(field: str, value: object) -> bool:
    """Whether ``value`` can be Config's ``field`` (one of ``_COUNTS``)."""
    if type(value) is not int or value < 1:
        return False
    return field not in _TILES or (value & (value - 1) == 0 and (field != "block_k" or value >= BLOCK))


@dataclass(frozen=True)
class Config:
    # "fused" (the Triton GEMM), "wgmma" (the Gluon GEMM, sm_90 only), "pingpong" (its
    # warp-specialized form for large M), "gemv" (CUDA cores, M <= 4 a launch) or
    # "dequant" (+ cuBLAS)
    strategy: str
    block_m: int = 16
    block_n: int = 64
    block_k: int = 256
    split_k: int = 1
    group_n: int = 8
    num_warps: int = 4
    num_stages: int = 4
    swap: bool = True  # compute y.T = W x.T (weights as the MMA's A operand) or y = x W.T
    decode: str | None = None  # None: the device's default for this config (kernel.default_decode)
    chunk_mb: float = 0  # dequant: N-chunks of about this many MB of bf16 weights (0: all at once)
    overlap: bool = False  # dequant: dequantize chunk i+1 on a side stream while cuBLAS runs chunk i
    # wgmma/pingpong: split_k applies only to the tiles of the last, partial wave (one
    # program per SM: the pingpong kernel's occupancy); the others run whole (whole_tiles)
    split_tail: bool = False
    # pingpong: one program per SM takes the work units (tiles, then split runs) one after
    # another, its stage ring running on, so that a unit's first loads overlap the last
    # one's epilogue; every unit's K tile count must suit the ring (persistent_fits)
    persistent: bool = False
    # wgmma/pingpong with split-K: the first split of a tile hands its last split_skew K
    # tiles to the second, so that it finishes and stores its partial while the second
    # still computes (the second, arriving last, sums; _gluon._split_k_fixup)
    split_skew: int = 0
    # pingpong with split-K in one wave: every split of a tile sums a 1/split share of it
    # once all have stored their partials (_gluon._shared_fixup), in a cooperative launch
    # (the driver starts every program at once or refuses the launch)
    shared_fixup: bool = False
    # gemv: load two K tiles before using either (two 16-byte loads in flight per thread,
    # at the cost of the registers that hold the second tile)
    k_pairs: bool = False

    def __post_init__(self):
        # Caught here, not at the launch: an unknown strategy would have run the Triton GEMM,
        # and split_k = 0 an empty grid whose output was never written.
        if self.strategy not in STRATEGIES:
            raise ValueError(f"marlin: Config.strategy must be one of {', '.join(STRATEGIES)} (got {self.strategy!r})")
        if self.decode is not None and self.decode not in DECODES:
            raise ValueError(f"marlin: Config.decode must be one of {', '.join(DECODES)} or None (got {self.decode!r})")
        # A float or an odd tile size had failed inside Triton ("arange's range must be a power
        # of 2"), and a truthy string ("False") set a mode.
        bad = [f"{f}={getattr(self, f)!r}" for f in _COUNTS if not _count_ok(f, getattr(self, f))]
        bad += [f"split_skew={self.split_skew!r}"] if type(self.split_skew) is not int or self.split_skew < 0 else []
        if type(self.chunk_mb) not in (int, float) or not 0 <= self.chunk_mb < math.inf:
            bad.append(f"chunk_mb={self.chunk_mb!r}")
        bad += [f"{f}={getattr(self, f)!r}" for f in _FLAGS if type(getattr(self, f)) is not bool]
        if bad:
            raise ValueError(f"marlin: Config needs {', '.join(_COUNTS)} >= 1 (integers; {', '.join(_TILES)} powers "
                             f"of two, block_k from {BLOCK}), split_skew >= 0 (an integer), chunk_mb >= 0 (finite) "
                             f"and {', '.join(_FLAGS)} True or False (got {', '.join(bad)})")

    def describe(self) -> str:
        if self.strategy == "dequant":
            if not self.chunk_mb:
                return "dequant+cublas"
            return f"dequant+cublas chunks {self.chunk_mb:g}MB{' overlap' if self.overlap else ''}"
        if self.strategy == "gemv":
            return (f"gemv BM{self.block_m} BN{self.block_n} BK{self.block_k} w{self.num_warps}"
                    f"{' pairs' if self.k_pairs else ''} {self.decode or 'default'}")
        if self.strategy in ("wgmma", "pingpong"):
            return (f"{self.strategy} BM{self.block_m} BN{self.block_n} BK{self.block_k} SK{self.split_k}"
                    f"{' tail' if self.split_tail else ''}{f' skew{self.split_skew}' if self.split_skew else ''}"
                    f"{' shared' if self.shared_fixup else ''}"
                    f" G{self.group_n} w{self.num_warps} s{self.num_stages}{' persistent' if self.persistent else ''}")
        return (
            f"{'swap' if self.swap else 'noswap'} BM{self.block_m} BN{self.block_n} BK{self.block_k} "
            f"SK{self.split_k} G{self.group_n} w{self.num_warps} s{self.num_stages} {self.decode or 'default'}"
        )


# M bucket upper bound -> (programs per SM that split-K aims for, base config); split_k
# and block_k are then fitted to the shape. Measured on the H100 (bench/notes_marlin.md):
# - M <= 16: "noswap" (activations are the MMA's A operand, the decoded weights B),
#   mma.sync tiles of 16 x 64 x 256, three stages, about two programs per SM;
# - M <= 32, 128, 256: "swap" (the decoded weights are the A operand of a wgmma, straight
#   from registers), BLOCK_M x BLOCK_N x BLOCK_K = 32 x 64 x 128 (four stages) and
#   64 x 64 x 128 (three) at two programs per SM, 256 x 128 x 128 (eight warps, three
#   stages) at one; with the hardware decode (kernel.default_decode) these are 4-15%
#   faster than the previous table (rounds 12-15);
# - M <= 512: the same 256-row tile, or for a small weight dequantize + cuBLAS (below);
# - past 512, dequantizing into a buffer and calling cuBLAS beats the fused kernel
#   (round 2: chunking the dequantization to stay in L2 did not help; rounds 12 and 14:
#   still true with the hardware decode).
_SWAP_256 = Config("fused", block_m=256, block_n=128, block_k=128, num_warps=8, num_stages=3, swap=True)
_TABLE: tuple[tuple[int, float, Config], ...] = (
    (16, 2.0, Config("fused", block_m=16, block_n=64, block_k=256, num_warps=4, num_stages=3, swap=False)),
    (32, 2.0, Config("fused", block_m=32, block_n=64, block_k=128, num_warps=4, num_stages=4, swap=True)),
    (128, 2.0, Config("fused", block_m=64, block_n=64, block_k=128, num_warps=4, num_stages=3, swap=True)),
    (256, 1.0, _SWAP_256),
    (512, 1.0, _SWAP_256),
    (1 << 62, 0.0, Config("dequant")),
)

# On sm_90 (Hopper) with the Triton release it was measured on (kernel.wgmma_ready; off
# with kernel.GLUON = False, MXFP8_MARLIN_GLUON=0): the Gluon kernel (``_gluon.py``: every
# tile by TMA, the weights decoded from shared memory straight into the wgmma A-operand
# registers), one warpgroup a program, four stages, about two programs per SM (H100,
# rounds 16-16e):
# - M <= 16 and M <= 32: 16 or 32 activation rows x 64 weight rows x 128: 1-5% faster than
#   the mma.sync tile at M <= 16 (the CUDA-core kernel keeps M = 1); at M = 32 up to 16%
#   faster than the Triton swap tile (measured with the earlier, overlapping pipeline);
# - M <= 128: 64 x 64 x 128: 16-25% faster than the Triton swap tile at M = 64 on the
#   three larger benchmark shapes (1.46-1.47x cuBLAS); at 4096x4096 (round 19b, since the
#   round-18 epilogue; round 16 had it 6% slower there) 2% faster at M = 64 (split in four:
#   8 K tiles a split) and 20% at M = 128. At least 8 K tiles a split: at least 16 gave
#   4096x4096, M = 64, two splits (17.5-17.8 us against 17.9-18.4 for four, round 20e) but
#   1024x4096 two splits where four are faster (16.3 against 14.0 us, round 20f).
# Each wgmma is waited for before the next tile is decoded: leaving one in flight (to
# overlap it with the decode) corrupted outputs in some shapes (round 16e).
# Entries: bucket -> (programs per SM for split-K, config, fewest K tiles a split).
WGMMA_TABLE: dict[int, tuple[float, Config, int]] = {
    16: (2.0, Config("wgmma", block_m=16, block_n=64, block_k=128, num_warps=4, num_stages=4), 2),
    32: (2.0, Config("wgmma", block_m=32, block_n=64, block_k=128, num_warps=4, num_stages=4), 2),
    128: (2.0, Config("wgmma", block_m=64, block_n=64, block_k=128, num_warps=4, num_stages=4), 8),
}

# M > 128 on sm_90 (with the wgmma kernel enabled): the warp-specialized Gluon kernel
# (``_gluon.mx_w8a16_wgmma_ws``): a loader warp feeds two consumer warpgroups of 64 weight
# rows each by TMA; each decodes its next K tile while its wgmma runs, and they take turns
# on the tensor cores. One program per SM, tiles of BLOCK_M activation rows x 128 weight
# rows x 64. Measured on the H100 (rounds 17-18, bench/notes_marlin.md):
# - the 256-row tile is the faster one (31-37% at M = 2048) unless split-K must cut K
#   into runs of fewer than 64 K tiles to fill the GPU: then the 128-row tile (fewer
#   splits, a smaller split-K fix-up);
# - against dequantize + cuBLAS, time over bf16 cuBLAS (round 18h, M = 2048 and 4096 on
#   the four benchmark shapes) is about 1 + 220 / K for the kernel (a program's pipeline
#   fill and epilogue, over its K loop) and 1 + 330 / M for dequantize + cuBLAS (one
#   dequantization of W for any M); the kernel is used where its estimate is the lower,
#   i.e. for M < 1.5 K;
# - split-K (fit_split_k, one wave) where the tiles alone leave SMs idle, and past one wave
#   split_tail (tail_split, below); round 19a: 14336x4096 at M = 1024 179.8 -> 170.7 us,
#   4096x14336 at M = 1280 284.8 -> 212.1 us. The rule ignores wave quantization otherwise:
#   at 4096x4096, M = 1280 (1.2 waves) dequantize + cuBLAS measured faster (74 against 85 us);
# - past one wave, persistent (one program per SM takes tile after tile, the next one's
#   first stages loading during the last one's epilogue), where every unit suits its
#   stage ring (persistent_fits); round 20b: 14336x4096 at M = 1024 170.4 -> 166.0 us,
#   M = 4096 632.7 -> 620.0 us, 4096x4096 at M = 4096 182.9 -> 178.2 us; one wave: no
#   gain (the same times within 1 us), so not used there.
PINGPONG_128 = Config("pingpong", block_m=128, block_n=128, block_k=64, num_warps=4, num_stages=4)
PINGPONG_256 = replace(PINGPONG_128, block_m=256)
PINGPONG_MIN_K_TILES = 64
# That floor was measured on runs of a split K. Whole (no split), the 256-row tile from this
# many K tiles (K >= 768). Round 43 (H100, 18716d5, medians of three rounds, us, the 128-row
# tile / 256 rows / cuBLAS bf16), at eight launches of 1.8-9.8 waves of 256-row tiles,
# K = 1536-3840: the 256-row tile took 18-27% less time than the 128-row one and ran within
# 0-11% of cuBLAS (8192x2048 M = 2048 130.0 / 95.7 / 94.1, dequantize + cuBLAS 110.8 in round
# 40; 8960x1536 M = 2048 112.2 / 91.8 / 82.8; 13824x3328 M = 3072 486.2 / 358.2 / 355.7).
# Round 45 (H100, 732e5ed), where the table ran the 128-row tile: 256 rows took 4-28% less
# time at eighteen of nineteen launches, K = 768-3328, 0.7-3.9 waves (16384x3072 M = 512
# 100.3 -> 72.6; 8192x768 M = 1024 32.8 -> 26.6), and beat dequantize + cuBLAS there too;
# 8% more at K = 512 (12288x512 M = 640 25.9 -> 28.0). Where the table ran dequantize +
# cuBLAS, the 256-row tile won at four of eleven: see launch_fill for the seven it lost.
PINGPONG_WHOLE_MIN_K_TILES = 12
# Unless the 256-row tile splits K in more than two within one wave (no persistent mode) and
# keeps at least PINGPONG_SHARED_MIN_K_TILES a split (PINGPONG_SHARED_PADDED_MIN_K_TILES where
# x is padded to whole tiles, padded_rows): then with the shared fix-up (every split sums a
# share of the tile, instead of the last one reading the others' 128 KB partials).
# Round 30 part 2 (H100; 256 rows split in four, shared, against the 128-row tile split in
# two), M = 256: 4096x14336 (56 K tiles a split) 59.1 -> 50.8 us (cuBLAS 60.2), 4096x12288
# (48) 52.2 -> 45.6, 4096x8192 (32) 38.3 -> 35.3, 3072x8192 37.6 -> 33.2; 4096x14336 M = 160
# (padded) 59.6 -> 56.0. Round 31 part 1 (medians of three rounds, us): 4096x6144 (24)
# 31.6 -> 30.3, 4096x5120 (20) 28.3 -> 27.8, 3072x6144 30.8 -> 28.2, 3072x5120 27.2 -> 25.8,
# 4096x6144 M = 200 31.5 -> 29.7, 2048x6144 M = 512 31.6 -> 30.1; split in eight against the
# 128-row tile in four: 2048x12288 (24) 34.7 -> 30.5, 2048x10240 (20) 31.2 -> 27.9. Not taken:
# 4096x4096 (16) 24.7 -> 25.1; 4096x6144 M = 160 (24, padded) 32.3 -> 34.9. Splits in two:
# the shared fix-up was 2-4% slower (round 30 part 1, whose files were not kept). Round 32
# part 2, x padded (M = 160): 4096x8192 (32) 39.3 -> 40.6 (part 1: 38.8 -> 40.1), 4096x10240
# (40) 46.2 -> 45.3, 4096x12288 (48) 53.2 -> 50.7, 4096x14336 (56) 60.0 -> 56.0.
PINGPONG_SHARED_MIN_K_TILES = 20
PINGPONG_SHARED_PADDED_MIN_K_TILES = 40
# A pingpong tile split in two: the first split hands this many of its K tiles (by the
# tile's rows) to the second, so that its partial is stored while the second still
# computes. 256 rows (a 128 KB partial): round 20g, 8192x8192 at M = 256 56.1-56.3 us
# against 58.1 (the fix-up cost about 9 us there, round 20d); two tiles 0.7 us slower than
# four (round 28). 128 rows (64 KB): four tiles were 0-1% slower (round 20g), two 2-3%
# faster at 4096x4096 (M = 256 26.3-26.8 -> 25.6-26.1 us, M = 200 26.3-26.6 -> 25.8-26.0)
# and 1% at 4096x14336, M = 256 (round 28). The 128-row tile gets it only within one wave:
# past one, its split tiles run persistent, whose ring wants a skew of whole stage
# passes (persistent_fits), and that was not measured.
# Round 29, with the partials stored in register order: these skews still the fastest
# (the 128-row tile's 0-2% ahead of none or one, the 256-row tile's 0.5-2% ahead of none or two).
PINGPONG_SKEW = {256: 4, 128: 2}
PINGPONG_COST = (0.0, 220.0)  # the kernel's time over cuBLAS: 1 + a + b / K
DEQUANT_COST = 330.0  # dequantize + cuBLAS over cuBLAS: 1 + c / M
# Both measured at full waves. A launch whose programs fill a share f < 1 of one wave runs
# (1 + a + b / K) / f ** PINGPONG_FILL_EXP over cuBLAS: fitted to round 34 part 1 (H100,
# medians of three rounds, 19 shapes at f = 0.55-0.73, M = 384-4096), where 0.6-0.7 chose the
# faster of the two at 16 (0 chose it at 7: dequantize + cuBLAS won at 12, 1536x12288
# M = 1536 by 120.1 -> 94.4 us, 768x4096 M = 1536 34.8 -> 29.4, 1024x2048 M = 1280 21.0 -> 17.4).
# Missed: 2048x6656 M = 640 (52.0 us; dequantize 43.3), 1536x4096 M = 384 (23.5; 22.4); and
# 768x12288 M = 2048, split in two, went to dequantize (75.1 us; the kernel 69.6): below.
PINGPONG_FILL_EXP = 0.6
PINGPONG_FILL_MIN = 0.5  # below it the estimate is far off (round 36): UNDER_HALF_DEQUANT_SPLITS
# Round 35 on 16 held-out launches (H100, b8ce428): the estimate chose the faster at 13 (the
# table's time at 0.922 of the old table's, geomean); refitted on all 37 launches, 0.6 is still
# the best exponent of 0.3-1.0. Of its misses, the two where the 256-row tile splits K cost
# the most: the kernel ran at 0.92x and 1.11x cuBLAS there, not the 1.23-1.24x estimated
# (1024x10240 M = 1536 59.7 us, dequantize 75.0; 768x12288 M = 2048 69.6, 75.1): such
# launches keep the kernel (splits_256). Round 36 (held out, the old table's config against
# dequantize + cuBLAS): the kernel was faster at all ten such launches at 0.73 of a wave, by
# 2-15% (256 rows in two: 1024x8192 M = 1536 50.3 / 57.3 us; in four, shared: 512x16384
# M = 1536 51.4 / 59.2).
# Below half a wave (about 10 us a launch) both estimates are far off (round 35's four: the
# kernel ran at 1.5-1.6x cuBLAS where the fill estimate gives 2.6-4.0x; dequantize + cuBLAS
# at 1.4-1.5x where 1 + 330 / M gives 2.3-3.6x), and what wins goes by the launch's split
# (rounds 35-36, H100, us, the kernel / dequantize + cuBLAS): the 128-row tile split in two or
# in four (24-64 programs) lost at all twelve launches measured, by 5-13% (768x768 M = 129
# 12.1 / 10.7; 512x768 M = 640 12.4 / 11.0; 384x1792 M = 384 12.9 / 12.0); whole (K = 256)
# it won at all four (4096x256 M = 256 9.5 / 11.1); split in eight, two of four (256x4096
# M = 384 13.5 / 15.0; 256x8192 M = 256 16.8 / 15.7). So those two splits go to dequantize +
# cuBLAS there. Round 37 (held out, H100, 3f972b8): at 12 such launches dequantize + cuBLAS
# took 4-10% less time at 11 and the same at 1024x1792 M = 192 (13.1 / 13.2 us); at the four
# the rule keeps, the kernel took 4-12% less.
UNDER_HALF_DEQUANT_SPLITS = (2, 4)
# The 128-row tile decodes each weight twice as often per activation row as the 256-row one,
# where PINGPONG_COST was fitted, and a consumer's decode outlasts its wgmma there (round 18:
# about 600 cycles a 64x64 K tile against 512). From half a wave up, full waves included, its
# estimate adds this term: (1 + a + TILE128_COST + b / K) / min(fill, 1) ** PINGPONG_FILL_EXP,
# from TILE128_MIN_K (below it, about 10 us a launch, the kernel ran faster than even the
# estimate without the term: round 35, 3072x512 M = 640 11.4 us, dequantize 13.6; 3072x768
# M = 384 12.8 / 13.9). At a wave or more the table runs this tile where K is too short for
# the 256-row one (K < 4096 unsplit), and there the kernel ran at 1.36-1.67x cuBLAS (round 40,
# H100: fourteen launches, dequantize + cuBLAS took 1-24% less time at all; 8192x2048
# M = 2048 130.4 us, dequantize 110.8). 0.15 was fitted to rounds 34-38 under one wave and
# held out in round 39 (dequantize the faster or as fast at 13 of the 14 launches it sends
# there); 0.25 is the best single term over rounds 34-40 (108 launches, results/round36/
# fit_fill.txt; a wave or more alone would take 0.45). Round 41 (held out, H100, faf9c33):
# of eighteen launches it sends to dequantize + cuBLAS, dequantize took 4-20% less time at
# all ten at a wave or more (13824x3328 M = 3072 486.6 -> 391.6 us) and 1-8% less at six of
# the eight under one, 3-7% more at two (3072x1024 M = 512 14.7 / 15.7); of five it keeps,
# the kernel was the faster at three (2560x2304 M = 768 23.5 / 25.7), dequantize at two
# (4096x3840 M = 768 52.6 / 50.4).
TILE128_COST = 0.25
TILE128_MIN_K = 1024
# Below this K, where the pingpong kernel loses to dequantize + cuBLAS, the Triton GEMM: both
# run in a few microseconds there and dequantize's two launches cost the more (round 34
# part 2, H100, us, Triton / dequantize: 14336x32 M = 256 9.9 / 11.1; 8192x64 M = 192
# 11.0 / 9.7; 4096x128 M = 256 20.2 / 9.7; 14336x128 M = 200 21.5 / 12.4; 4096x160 M = 256
# 18.0 / 9.6). Until then the table ran the Triton GEMM at all of these.
DEQUANT_MIN_K = 64


# PINGPONG_COST's b / K where the 256-row tile runs whole within one wave (one tile an SM).
# There the kernel ran at about 1 / fill ** PINGPONG_FILL_EXP over cuBLAS at small K as at large,
# not the more b / K adds: rounds 45-48 (H100, us, the 256-row tile / dequantize + cuBLAS /
# cuBLAS): 3584x1280 M = 768 (0.64 of a wave) 20.6 / 22.8 / 16.5, 1.25x where the estimate
# with b gives 1.54x; 3840x768 M = 640 15.8 / 17.1 / 12.0 (1.32x against 1.62x); 5120x1024
# M = 768 (0.91) 1.05x against 1.29x. Over the 58 such launches of rounds 34-50 the
# least-squares b is 60 (squared log error 0.36; b = 220 0.58), over the 16 at K <= 2048 it is
# 50 (0.21; 0.40): results/round51/fit_one_wave.txt. A fit, so it waits for a held-out round
# (results/round51/README.md); until then the table keeps b here.
ONE_WAVE_K_COST = 220.0


def dequant_faster(m: int, k: int, fill: float = 1.0, block_m: int = 256, one_wave: bool = False) -> bool:
    """Whether dequantize + cuBLAS is estimated faster than the pingpong kernel with tiles of
    ``block_m`` rows where its programs fill ``fill`` (0 < fill <= 1) of one wave. Only the
    128-row tile adds ``TILE128_COST``; any other ``block_m`` (an override ``run_gemm`` will
    refuse, which ``choose`` still returns) gets the 256-row tile's estimate. ``one_wave``:
    the launch's programs all fit one wave (the 256-row tile then takes ``ONE_WAVE_K_COST``)."""
    if not (m > 0 and k > 0 and 0 < fill <= 1):
        raise ValueError(f"marlin: dequant_faster needs m, k > 0 and 0 < fill <= 1 (got m={m}, k={k}, fill={fill})")
    a, b = PINGPONG_COST
    if one_wave and block_m == 256:
        b = ONE_WAVE_K_COST
    if block_m == 128 and k >= TILE128_MIN_K:
        a += TILE128_COST
    return (1 + a + b / k) / fill ** PINGPONG_FILL_EXP >= 1 + DEQUANT_COST / m


# What a split tail costs, in waves: base + share / split (launch_fill): the last wave split
# in two costs 0.675 of a wave, in four 0.54, not 1 / split (fitted to rounds 45-46's
# fourteen split-tail launches, results/round48/README.md). Round 48 (held out, H100,
# 3d2f404, ten launches of 1.09-10.2 waves, the 256-row tile / dequantize + cuBLAS, us): the
# faster kind at 7 of 10 (1 / split: 4), the table's time 1.013 of the faster's (1 / split:
# 1.035), squared log error of the estimated ratio 0.015 (0.081). Right at all seven under
# 2.2 waves (4608x3840 M = 1024 72.0 / 66.0; 1536x8960 M = 3072 126.1 / 119.1); wrong at
# the three from 2.4 waves, where both estimates put the two within 2% and the kernel ran
# 2-7% faster (14336x2816 M = 3072 343.3 / 367.3): the full-wave estimate's error there,
# not the tail's.
SPLIT_TAIL_WAVES = (0.4, 0.55)
# From this many waves of tiles on, the tail is charged 1 / split of a wave as before. Round
# 48 put the bound at three: every split-tail launch measured from three waves on had run the
# kernel faster than dequantize + cuBLAS, more than either cost said. Round 49 (held out,
# H100, e33b5ec, us, the 256-row tile / dequantize + cuBLAS): the kernel faster at all ten
# launches of 3.03-11.2 waves, 1.5-9% less time (3584x5632 M = 4096 216.5 / 237.7), and at five of
# the seven of 2.12-2.42 waves that the fitted cost had sent to dequantize + cuBLAS (7168x2048
# M = 1280 66.9 / 70.6; 2560x8192 M = 4096 221.0 / 229.1), so the bound moved to two (the
# README's rule, written before the run). Round 50 (held out, bf46a17): from two waves, the
# kernel the faster at six of ten launches of 2.12-2.42 waves (3584x4608 M = 2560 127.0 /
# 131.6; dequantize 2-4% faster at four: 6144x2304 M = 1536 75.6 / 72.5), so that stayed; but
# at all five launches of 1.45 waves (60 tail tiles split in two), where the fitted cost sent
# the table to dequantize + cuBLAS, the kernel took 1-7% less time (2048x9216 M = 3072 153.2
# / 164.1; 1536x14336 M = 4096 228.7 / 244.0), so the bound moved to 1.4 waves, below them
# (the README's rule: the table changes if the kernel wins all five; the value chosen on
# these). The fitted cost now covers the launches it was fitted to, small tails of 1.09-1.3
# waves. Over the 59 split-tail launches of rounds 45-50 the table picks the faster kind at 52
# (two waves: 46; three: 41; 1 / split everywhere: 43).
SPLIT_TAIL_FIT_WAVES = 1.4


def launch_fill(m: int, n: int, k: int, cfg: Config, num_sms: int) -> float:
    """The share of the GPU a pingpong launch keeps busy, for the crossover estimate: within
    one wave, its work units over the SMs; past one wave, 1, except for the 256-row tile
    whose tiles fill the second wave partly (w waves of tiles, 1 < w < 2: w / 2), or whose
    last wave runs split (``split_tail``: w / (whole waves + the tail's cost in waves,
    ``SPLIT_TAIL_WAVES`` under ``SPLIT_TAIL_FIT_WAVES`` waves of tiles, else 1 / split)).
    Round 45 (H100, 732e5ed, us, 256 rows / dequantize + cuBLAS): 4096x1536 M = 1280 (1.21
    waves) 40.2 / 34.6;
    6144x1024 M = 768 (1.09) 30.8 / 26.9; 3072x1536 M = 2048 (1.45) 40.4 / 37.7; split tails
    at 2.18 waves: 3072x2560 M = 3072 81.2 / 73.5, 3072x3072 M = 3072 94.3 / 85.5, which the
    full-wave estimate sent to the kernel. From two whole waves on, the kernel kept to that
    estimate (3.39 waves, 14336x1024 M = 1024 54.6 / 59.2; rounds 43 and 45). Over the 38
    launches of rounds 43-45 where both were measured this chose the faster at all 38 (the
    estimate at a full wave: 31), but it was fitted to them. Held out in round 46 (H100,
    3a05689, eighteen launches of 1.06-2.18 waves): it chose the faster at 13 (the full-wave
    estimate: 7), the table's time 0.962 of the full-wave estimate's (geomean) and 1.016 of
    the faster's. Its misses: three whole launches of 1.52-1.70 waves that it sent to
    dequantize + cuBLAS, the 256-row tile 4-12% faster (3584x2048 M = 2048 50.2 / 56.2), and
    two tails split in two that it kept, dequantize 2-5% faster (6144x2048 M = 768 44.7 / 42.4),
    since fixed by the split tail's cost (``SPLIT_TAIL_WAVES``, round 48)."""
    if num_sms < 1:
        raise ValueError(f"marlin: launch_fill needs num_sms >= 1 (got {num_sms})")
    units = work_units(m, n, k, cfg)
    if units <= num_sms:
        return units / num_sms
    if cfg.block_m != 256:
        return 1.0
    tiles = output_tiles(m, n, cfg)
    if cfg.split_tail:  # at most 1 as tail_split splits (an override may split any tail)
        base, share = SPLIT_TAIL_WAVES if tiles < SPLIT_TAIL_FIT_WAVES * num_sms else (0.0, 1.0)
        return min(1.0, tiles / (whole_tiles(tiles, num_sms) + num_sms * (base + share / cfg.split_k)))
    return min(1.0, tiles / num_sms / 2)


def splits_256(cfg: Config) -> bool:
    """Whether ``cfg`` is the 256-row pingpong tile splitting K within one wave, left out of the
    fill rule (its split tail past one wave is in it: ``launch_fill``)."""
    return cfg.strategy == "pingpong" and cfg.block_m == 256 and cfg.split_k > 1 and not cfg.split_tail


def pingpong_for(m: int, n: int, k: int, num_sms: int) -> Config | None:
    """The warp-specialized kernel's tile for ``m > 128`` rows; dequantize + cuBLAS where that
    is estimated faster at a full wave (``choose`` checks the launch's own fill), or None
    there below ``DEQUANT_MIN_K`` (the Triton GEMM)."""
    if dequant_faster(m, k):
        return Config("dequant") if k >= DEQUANT_MIN_K else None
    split = fit_split_k(m, n, k, PINGPONG_256, num_sms, 1.0, 4)
    if output_tiles(m, n, PINGPONG_256) * split > num_sms >= output_tiles(m, n, PINGPONG_128):
        # The 256-row tile would run a smaller split (choose keeps one wave), leaving SMs idle
        # where the 128-row tile fills one wave: an odd count of 128-row blocks, e.g. M = 640
        # (round 33 part 2b, us: 3072x8192 M = 640, 72 programs of 256 rows 81.7, 120 of 128
        # rows 62.8; 3072x4096 M = 640, which already took the 128-row tile, 36.0 against 45.9;
        # part 3: 3072x10240 100.6 -> 77.6, 3072x16384 154.3 -> 120.6, 1536x16384 M = 640 in
        # two 85.6 -> 65.3).
        return PINGPONG_128
    if output_tiles(m, n, PINGPONG_256) * split > num_sms:
        # choose keeps pingpong splits within one wave; judged by the split nearest one wave
        # (past it), the 256-row tile had given way to the 128-row one run past one wave.
        # Round 47 (H100, 3a05689, medians of three rounds, us, 128 rows / 256 rows whole):
        # 256 rows took 5-24% less at all sixteen launches of 0.53-0.70 of a wave, K < 8192
        # (9216x3072 M = 129 53.7 / 40.8; 8960x1536 M = 256 30.7 / 23.2; 11008x4096 M = 256
        # 54.7 / 46.8; 5120x3072 M = 512 44.0 / 36.8; 10240x7168 M = 256 78.3 / 74.2), and at
        # the four from M = 768 dequantize + cuBLAS took less still, as choose's fill rule says
        # (2304x3072 M = 1024 36.5 / 31.9).
        split = fit_split_k(m, n, k, PINGPONG_256, num_sms, 1.0, 4, one_wave=True)
    k_tiles = k // PINGPONG_256.block_k // split
    if k_tiles >= (PINGPONG_MIN_K_TILES if split > 1 else PINGPONG_WHOLE_MIN_K_TILES):
        return PINGPONG_256
    padded = padded_rows(m, PINGPONG_256) > m
    min_k_tiles = PINGPONG_SHARED_PADDED_MIN_K_TILES if padded else PINGPONG_SHARED_MIN_K_TILES
    if split > 2 and k_tiles >= min_k_tiles and shares_fit(m, n, k, replace(PINGPONG_256, split_k=split), num_sms):
        return PINGPONG_256  # choose gives it the shared fix-up
    if (split == 1 and k_tiles >= PINGPONG_WAVES_MIN_K_TILES and fewer_waves_256(m, n, num_sms)
            and not dequant_faster(m, k, launch_fill(m, n, k, PINGPONG_256, num_sms))):
        return PINGPONG_256  # where choose's fill rule keeps it (else dequantize + cuBLAS)
    return PINGPONG_128


# From this many K tiles (K = 512) to PINGPONG_WHOLE_MIN_K_TILES, where both tiles run past one
# wave, the 256-row tile where its waves take less time than the 128-row tile's
# (``fewer_waves_256``), a wave of 256-row tiles taking TILE256_WAVE_COST of a 128-row one.
# Fitted to round 48's eight launches at K = 512 (H100, 3d2f404, us, 128 rows / 256 rows):
# 32768x512 M = 256 25.8 / 21.8 and M = 512 43.8 / 35.2; at the other six the 128-row tile
# was the faster or within 1.5% (24576x512 M = 192 21.1 / 24.2). Round 49 (held out, e33b5ec;
# the rule and its predictions written before the run): the faster tile at eight of nine, and
# 0.6% off at the ninth (32768x512 M = 384 34.8 / 34.6, 6.2 against 6 waves: the 128-row
# tile). The 256-row tile took 10-19% less time at the five it gets (65536x512 M = 256 44.0 /
# 35.7; 16384x512 M = 512 26.1 / 21.6; 32768x512 M = 640 52.7 / 47.6); dequantize + cuBLAS
# was slower than both at all nine. Not measured below K = 512, where the 128-row tile stays;
# nor where choose's fill rule would send the 256-row tile to dequantize + cuBLAS (at K = 512
# that lost to the table's tile at 15 of 17 launches, rounds 48-49): the 128-row tile stays.
PINGPONG_WAVES_MIN_K_TILES = 8
TILE256_WAVE_COST = 1.55


def fewer_waves_256(m: int, n: int, num_sms: int) -> bool:
    """Whether, both past one wave, the 256-row tile's waves of tiles (rounded up, each
    ``TILE256_WAVE_COST`` of a 128-row wave) take less time than the 128-row tile's."""
    if num_sms < 1:
        raise ValueError(f"marlin: fewer_waves_256 needs num_sms >= 1 (got {num_sms})")
    waves_256 = -(-output_tiles(m, n, PINGPONG_256) // num_sms)
    waves_128 = -(-output_tiles(m, n, PINGPONG_128) // num_sms)
    return waves_256 > 1 and TILE256_WAVE_COST * waves_256 < waves_128


# The shared fix-up (Config.shared_fixup) for every pingpong tile split in more than two where
# it can run (shares_fit), the 128-row tile's too. Round 31 part 1 (H100, medians of three
# rounds, us; the last split summing against shared): 128 rows split in four, M = 256:
# 2048x4096 20.4 -> 18.6, 2048x8192 27.6 -> 25.9, 2048x12288 34.8 -> 32.8; M = 200 2048x8192
# 27.4 -> 25.5; split in eight: 1024x8192 22.2 -> 18.7 (M = 160 the same), 1024x16384 29.4 -> 25.8.


def shares_fit(m: int, n: int, k: int, cfg: Config, num_sms: int) -> bool:
    """Whether ``cfg``'s split tiles can sum their partials in shares (``shared_fixup``; the
    launch refuses it otherwise): all programs in one wave (they wait for each other), no
    persistent mode or split tail, and a share of whole 16-column groups of the accumulator
    (``block_m`` a multiple of 16 x the launch's split, ``launch_split``)."""
    split = launch_split(k // cfg.block_k, cfg.split_k)
    return (split > 1 and not cfg.persistent and not cfg.split_tail
            and work_units(m, n, k, cfg) <= num_sms and shares_divide(cfg.block_m, split))


def work_units(m: int, n: int, k: int, cfg: Config) -> int:
    """A wgmma or pingpong launch's work units: its tiles times the runs of K the launch
    splits them in (``launch_split``); its programs where they fit one wave."""
    return output_tiles(m, n, cfg) * launch_split(k // cfg.block_k, cfg.split_k)


def shares_divide(block_m: int, split: int) -> bool:
    """Whether a ``block_m``-row tile divides into ``split`` shares of whole 16-column groups
    of the accumulator (the shared fix-up's unit, ``_gluon._shared_fixup``)."""
    return block_m % (16 * split) == 0


def launch_split(k_tiles: int, split_k: int) -> int:
    """The runs of K a launch of ``split_k`` splits has: runs of ``ceil(k_tiles / split_k)``
    K tiles, none left empty, so fewer where that leaves the last ones nothing (33 K tiles
    in eight: seven runs of five and none for the eighth)."""
    return -(-k_tiles // -(-k_tiles // split_k))


# Past one wave of the pingpong kernel (one program per SM), a last wave of few tiles
# leaves most SMs idle for a whole tile's time: 14336x4096 at M = 1024 has 448 256x128
# tiles on 132 SMs, three full waves and 52 tiles. Splitting only those tiles' K (here in
# two: 104 programs of half a tile) ends the last wave in about half the time.
TAIL_MIN_K_TILES = 16  # K tiles a split of a tail tile keeps at least


def whole_tiles(tiles: int, num_sms: int) -> int:
    """Tiles that run whole under ``split_tail``: all full waves of ``num_sms`` tiles."""
    return tiles // num_sms * num_sms


def tail_split(tiles: int, k_tiles: int, num_sms: int) -> int:
    """How finely to split the K of the last wave's tiles (1: not at all): the largest
    power of two that still fits the split programs into one wave and leaves each split
    at least ``TAIL_MIN_K_TILES`` K tiles."""
    rest = tiles - whole_tiles(tiles, num_sms)
    if tiles <= num_sms or rest == 0:
        return 1
    split = 1
    while 2 * split * rest <= num_sms and k_tiles // (2 * split) >= TAIL_MIN_K_TILES:
        split *= 2
    return split


# With the 256-row activation tile, a last partial block of 128 rows that holds at most
# PINGPONG_PAD_MAX_ROWS rows of x (its TMA box mostly out of bounds) makes the
# warp-specialized kernel 10-45% slower where that tile is one of at most two (round 23:
# 14336x4096 at M = 300 133 us, with x padded 93 us; M = 140 66 -> 49 us). There the launch
# copies x into zero rows up to whole tiles (PINGPONG_PAD_MAX_ROWS = 0: never). Fuller
# blocks cost nothing, so the copy would only add to them (4-9 us at M = 200 and 1000); and
# from M = 512 on, where the partial tile is a smaller share, the copy costs about what it
# saves or more (M = 560 -4% to +4%, M = 800 to 2100 +5% to +17%), so x is not padded there.
PINGPONG_PAD_MAX_ROWS = 64
PINGPONG_PAD_BELOW = 512


def padded_rows(m: int, cfg: Config) -> int:
    """The rows ``x`` is zero-padded to before a launch of ``cfg`` (``m``: none)."""
    if (cfg.strategy != "pingpong" or cfg.block_m != 256 or m >= PINGPONG_PAD_BELOW
            or not 0 < m % 128 <= PINGPONG_PAD_MAX_ROWS):
        return m
    return -(-m // cfg.block_m) * cfg.block_m


# M = 256 a + r with 1 <= r <= ROW_SPLIT_MAX_REST and the 256-row tile: the last r rows
# cost a whole extra row of tiles (M = 300: two for 300 rows). Up to ROW_SPLIT_MAX_TILES
# tiles of 256 rows, run_gemm runs the first 256 a rows with the 256-row tile and the last r
# in a launch chosen for r rows (one more pass over the weights) instead. Round 23 (11
# points, M = 300-2100 on the four benchmark shapes): 14336x4096 M = 300 92.3 -> 79.3 us,
# M = 560 131 -> 120, M = 2100 343 -> 334; 4096x14336 M = 1060 205 -> 183; 4096x4096
# M = 1060 80 -> 66; the other points within 0.8 us. Not measured past 8 tiles.
ROW_SPLIT_MAX_TILES = 8
ROW_SPLIT_MAX_REST = 64


def row_split(m: int, cfg: Config) -> int:
    """The rows of x that the table's ``cfg`` for ``m`` rows should run, the rest going to
    a launch of their own (``m``: all)."""
    if cfg.strategy != "pingpong" or cfg.block_m != 256:
        return m
    head = m // cfg.block_m * cfg.block_m
    if not 1 <= head // cfg.block_m <= ROW_SPLIT_MAX_TILES or not 0 < m - head <= ROW_SPLIT_MAX_REST:
        return m
    return head


# M <= GEMV_MAX_M: the CUDA-core kernel, if its grid (one program per BLOCK_N rows) has
# at least 3/4 of a program per SM; else the M <= 16 bucket's tensor-core kernel. Four
# rows a program over one 512-wide column block of the packed weight (round 5; at M=2 it
# is slower than the tensor cores except at 4096x4096).
GEMV_MAX_M = 1
GEMV = Config("gemv", block_m=1, block_n=4, block_k=512, num_warps=4, num_stages=1)
# Two K tiles in flight per thread (k_pairs) where the grid has fewer than this many
# programs per SM, so that register-bound occupancy does not hide the latency anyway.
# Round 21 on the H200, M = 1, two A/B rounds, alone and in a graph (bench/notes_marlin.md):
# 7.75 programs per SM (N = 4096) 3-11% faster with pairs; 15.5 (N = 8192) 4-8% and
# 27 (N = 14336) 0-4% slower.
GEMV_PAIRS_BELOW = 12

# 256 < M <= 512 with a small weight (N*K <= SMALL_WEIGHT): dequantize + cuBLAS (round 14,
# 4096x4096, M=512: 42.8 us against 48.9 for the fused kernel; at M=256 the fused kernel
# wins there too, 36.0 against 38.2).
SMALL_WEIGHT = 1 << 24


def m_bucket(m: int) -> int:
    """Calls with M in the same bucket share a config (and a compiled kernel)."""
    for bound, _, _ in _TABLE:
        if m <= bound:
            return bound
    return _TABLE[-1][0]


def fit_block_k(k: int, block_k: int) -> int:
    """The largest power-of-two multiple of 32 that is <= block_k and divides k (a multiple
    of 32)."""
    if k < BLOCK or k % BLOCK or block_k < BLOCK:
        raise ValueError(f"marlin: fit_block_k needs k a positive multiple of {BLOCK} and block_k >= {BLOCK} "
                         f"(got k={k}, block_k={block_k})")
    bk = 1 << (block_k.bit_length() - 1)  # 96 had given 24
    while k % bk:
        bk //= 2
    return bk


def output_tiles(m: int, n: int, cfg: Config) -> int:
    """Output tiles of an ``[m, n]`` product in ``cfg``'s tiles (programs without split-K)."""
    return -(-m // cfg.block_m) * -(-n // cfg.block_n)


def fit_split_k(m: int, n: int, k: int, cfg: Config, num_sms: int, waves: float = 2.0, min_k_tiles: int = 2,
                shared: bool = False, one_wave: bool = False) -> int:
    """The power-of-two split of K that brings the grid closest to ``waves`` programs per
    SM (log scale), keeping at least ``min_k_tiles`` K tiles per split; ``shared``: only
    splits whose tile the shared fix-up could divide (the launch keeps the split,
    ``launch_split``: 33 K tiles in eight run as seven; and ``shares_divide``); ``one_wave``:
    only splits whose programs all fit on ``num_sms`` SMs at once (one program per SM)."""
    tiles = output_tiles(m, n, cfg)
    k_tiles = k // cfg.block_k
    splits = [s for s in (1, 2, 4, 8, 16) if s == 1 or k_tiles // s >= min_k_tiles and (
        not shared or launch_split(k_tiles, s) == s and shares_divide(cfg.block_m, s)) and (
        not one_wave or tiles * launch_split(k_tiles, s) <= num_sms)]
    return min(splits, key=lambda s: (abs(math.log(tiles * s / (waves * num_sms))), s))


def persistent_fits(k_tiles: int, split: int, stages: int, skew: int = 0) -> bool:
    """Whether every work unit of a persistent pingpong launch (``k_tiles`` K tiles, split
    in ``split`` runs of ``ceil(k_tiles / split)``, ``skew`` of them moved from the first
    run to the second) has a K tile count that is a multiple of ``stages`` and even: each
    unit then starts the stage ring at stage 0 and the two consumers' turns at consumer 0
    (``_gluon._ws_consume_unit``)."""
    step = math.lcm(stages, 2)
    return k_tiles % step == 0 and -(-k_tiles // split) % step == 0 and skew % step == 0


GEMV_ROWS = 4  # the CUDA-core kernel's accumulators: activation rows a launch at most


def gemv_block_m(m: int) -> int:
    """Activation rows per launch of the CUDA-core kernel (1, 2 or ``GEMV_ROWS``)."""
    return 1 if m <= 1 else 2 if m == 2 else GEMV_ROWS


def chunk_rows(cfg: Config, n: int, k: int) -> int:
    """Weight rows per chunk of the dequantize-then-cuBLAS strategy (``n``: one chunk).
    Multiples of 256 rows (cuBLAS tiles) when chunks are that large, else of 32."""
    if not cfg.chunk_mb:
        return n
    rows = int(cfg.chunk_mb * (1 << 20)) // (2 * k)
    unit = 256 if rows >= 256 else BLOCK
    return min(n, max(BLOCK, rows // unit * unit))


@lru_cache(maxsize=4096)
def choose(m: int, n: int, k: int, num_sms: int, overrides: tuple = (), *, tile_k: int, wgmma: bool = False) -> Config:
    """The config for an ``[m, k] x [n, k]^T`` product on a GPU with ``num_sms`` SMs, the
    weight packed in tiles ``tile_k`` wide (a kernel's K tile divides it); ``wgmma``: the
    Gluon kernel is enabled and can run here (``kernel.GLUON``, ``kernel.wgmma_ready``).
    ``overrides`` is a tuple of ``(field, value)`` pairs (benchmarks and tests)."""
    if not all(type(v) is int and v >= 1 for v in (m, n, k, num_sms)):  # m = 0 had hit log2's domain
        raise ValueError(f"marlin: choose needs integers m, n, k, num_sms >= 1 (got m={m!r}, n={n!r}, k={k!r}, "
                         f"num_sms={num_sms!r})")
    bucket = m_bucket(m)
    waves, cfg = next((w, c) for bound, w, c in _TABLE if bound == bucket)
    min_k_tiles = 2
    if "strategy" not in dict(overrides):
        if m <= GEMV_MAX_M and 4 * -(-n // GEMV.block_n) >= 3 * num_sms:
            cfg = GEMV
        elif wgmma and m > 128 and (large := pingpong_for(m, n, k, num_sms)) is not None:
            waves, cfg, min_k_tiles = 1.0, large, 4
        elif bucket == 512 and n * k <= SMALL_WEIGHT:
            cfg = Config("dequant")
        elif wgmma and bucket in WGMMA_TABLE:
            waves, cfg, min_k_tiles = WGMMA_TABLE[bucket]
    cfg = replace(cfg, **dict(overrides))
    if cfg.strategy == "dequant":
        return cfg
    if cfg.strategy == "gemv":
        cfg = replace(cfg, block_m=gemv_block_m(m), block_k=fit_block_k(tile_k, cfg.block_k), split_k=1)
        if "k_pairs" not in dict(overrides):
            cfg = replace(cfg, k_pairs=-(-n // cfg.block_n) < GEMV_PAIRS_BELOW * num_sms)
        return cfg
    cfg = replace(cfg, block_k=fit_block_k(tile_k, cfg.block_k))
    if "split_k" not in dict(overrides):
        # The pingpong kernel splits only where the shared fix-up could sum the partials: it
        # beat the last split summing 6-15 of them (round 32, M = 256, the 128-row tile, us:
        # 1024x1056 in four 11.7, in eight (run as seven) 15.0; 512x2080 in eight 11.8, in 16
        # (13) 17.4; 1024x7680 in eight 18.7, in 16 (15) 31.2; 384x14400 22.8 against 24.3;
        # 512x8192 in eight 16.9, in 16 (8-column shares: none) 22.2; 512x16384 23.7 against
        # 26.1). The wgmma kernel keeps more programs (384x15360 M = 16 in 16 (15) 12.4, in 8 14.9).
        # And only where all its programs fit one wave: it runs one program per SM, and the
        # split nearest one wave (log scale) had been up to 1.41 waves, whose second round
        # cost more than half the split (round 33 part 1, the 128-row tile, us: 2048x1024
        # M = 640 in two 20.2, whole 14.5; 1536x4096 M = 768 40.6 / 35.0; 1024x1024 M = 640 in
        # four 19.9, in two 13.3; 1024x4096 30.5 / 24.0; 384x2048 M = 768 in eight 21.5, in
        # four, shared, 13.5; 384x7168 30.4 / 22.4).
        pingpong = cfg.strategy == "pingpong"
        split = fit_split_k(min(m, bucket), n, k, cfg, num_sms, waves or 1.0, min_k_tiles, pingpong, pingpong)
        cfg = replace(cfg, split_k=split)
        if cfg.strategy == "pingpong" and cfg.split_k == 1 and "split_tail" not in dict(overrides):
            if (split := tail_split(output_tiles(m, n, cfg), k // cfg.block_k, num_sms)) > 1:
                cfg = replace(cfg, split_k=split, split_tail=True)
    if (cfg.strategy == "pingpong" and cfg.split_k == 2 and "split_skew" not in dict(overrides)
            and (cfg.block_m == 256 or not cfg.split_tail)):
        cfg = replace(cfg, split_skew=PINGPONG_SKEW.get(cfg.block_m, 0))  # other tiles: run_gemm refuses them
    if (cfg.strategy == "pingpong" and "persistent" not in dict(overrides) and output_tiles(m, n, cfg) > num_sms
            and persistent_fits(k // cfg.block_k, cfg.split_k, cfg.num_stages, cfg.split_skew)):
        cfg = replace(cfg, persistent=True)
    if (cfg.strategy == "pingpong" and cfg.split_k > 2 and "shared_fixup" not in dict(overrides)
            and shares_fit(m, n, k, cfg, num_sms)):
        cfg = replace(cfg, shared_fixup=True)
    if cfg.strategy == "pingpong" and "strategy" not in dict(overrides) and not splits_256(cfg):
        fill = launch_fill(m, n, k, cfg, num_sms)
        one_wave = work_units(m, n, k, cfg) <= num_sms
        if fill >= PINGPONG_FILL_MIN and dequant_faster(m, k, fill, cfg.block_m, one_wave):
            # less than one wave or a partly filled second one (PINGPONG_FILL_EXP), or the
            # 128-row tile (TILE128_COST): the 256-row tile at full waves pingpong_for has checked
            return Config("dequant")
        if fill < PINGPONG_FILL_MIN and cfg.split_k in UNDER_HALF_DEQUANT_SPLITS:
            return Config("dequant")
    return cfg
