"""Layout and kernel rounds (4-6, 9-16) on one GPU (a program, not a test); one device call.

    python plugins/marlin/tools/round4.py --round 6 --out round6.json [--parts probe,gemv,small,fp16,mid,large]

The weight is stored in column blocks ``TK`` bytes wide, each row-major and contiguous
(``packing.py``). Each round's variant set (``--round``: 4d, 5, 6, 10-16; raw results in
``bench/results/marlin_round<round>_h100*``) is a list of (part, ``TK``, config), each
variant checked against the float32 reference before it is timed:

- ``probe``: the ceiling: plain loads of the packed bytes, each program one contiguous
  run (no arithmetic but an XOR).
- ``gemv``: the CUDA-core kernel (M = 1; round 5 also M = 2 and 4).
- ``small``: the tensor-core kernel at M <= 16, split-K for 1 to 4 programs per SM.
- ``mid``: M = 64 tiles.
- ``large``: M = 256 and 1024, the fused kernel and dequantize + cuBLAS.

Rounds 16-16d (the Gluon kernel) each ran at their own commit (16: ``7af62c2``, 16b:
``0458194``, 16c: ``7a6e93d``, 16d: ``b5d4a50``); check it out to run one again: since
``0295467`` ``run_gemm`` refuses the Gluon shapes that failed validation.

cuBLAS bf16 ``F.linear`` is timed in the same run. Every timing is taken twice (two
passes over all variants) to show the spread. Timing as in ``bench/bench_gemm.py``:
CUDA-graph replay, L2 flushed by a 256 MiB read before each replay, median of CUDA events.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
import triton
import triton.language as tl

from mxfp8_core import dequantize_mxfp8, quantize_mxfp8
from mxfp8_marlin import configs
from mxfp8_marlin.kernel import num_sms, run_gemm
from mxfp8_marlin.packing import pack_weights

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
from bench_gemm import copy_bandwidth, graph_time_us  # noqa: E402  (the benchmark's timing, shared)
from tune import precompile  # noqa: E402  (tools/: this script's own directory)

SHAPES = [(4096, 4096), (14336, 4096), (4096, 14336), (8192, 8192)]  # (N, K)
C = configs.Config


@triton.jit
def read_probe(q_ptr, out_ptr, PER, CH4: tl.constexpr):
    """XOR of ``PER`` consecutive chunks of ``CH4`` int32 words: one contiguous run a program."""
    base = q_ptr + tl.program_id(0).to(tl.int64) * PER * CH4 + tl.arange(0, CH4)
    acc = tl.full((CH4,), 0, tl.int32)
    for i in range(PER):
        acc = acc ^ tl.load(base + i * CH4)
    tl.store(out_ptr + tl.program_id(0), tl.sum(acc))


ROW_MAJOR = 0  # TK = K


def _round4d():
    out = []
    for tk in (ROW_MAJOR, 256, 512, 2048):
        for bn, bk in ((4, 2048), (8, 512), (8, 1024), (16, 256)):
            out.append(("gemv", tk, C("gemv", 1, bn, bk, 1, 8, 4, 1), (1,), 0))
    for tk in (ROW_MAJOR, 256, 512):
        out.append(("small", tk, C("fused", 16, 64, 256, 1, 8, 4, 3, False), (1, 4, 16), 2.0))
        out.append(("mid", tk, C("fused", 64, 128, 128, 1, 8, 4, 3, True), (64,), 1.0))
        out.append(("mid", tk, C("fused", 64, 64, 128, 1, 8, 4, 3, True), (64,), 2.0))
    for waves in (1.0, 4.0):
        out.append(("small", 256, C("fused", 16, 64, 256, 1, 8, 4, 3, False), (1, 4, 16), waves))
    out.append(("small", 256, C("fused", 16, 64, 256, 1, 8, 4, 4, False), (1, 4, 16), 2.0))
    out.append(("small", 256, C("fused", 16, 128, 128, 1, 8, 4, 4, False), (1, 4, 16), 2.0))
    out.append(("small", 512, C("fused", 16, 64, 512, 1, 8, 4, 3, False), (1, 4, 16), 2.0))
    for tk in (ROW_MAJOR, 256):
        out.append(("large", tk, C("fused", 256, 128, 64, 1, 8, 8, 3, False), (256,), 1.0))
        out.append(("large", tk, C("dequant"), (256, 1024), 0))
    return out


def _round5():
    out = []
    for tk, bn, bk, warps in ((512, 2, 512, 2), (1024, 2, 1024, 4), (512, 4, 512, 4), (1024, 4, 1024, 4),
                              (512, 4, 512, 2), (512, 8, 512, 8), (256, 4, 256, 4)):
        out.append(("gemv", tk, C("gemv", 1, bn, bk, 1, 8, warps, 1), (1,), 0))
    out.append(("gemv", 512, C("gemv", 4, 4, 512, 1, 8, 4, 1), (2, 4), 0))
    small = [(256, C("fused", 16, 64, 256, 1, 8, 4, 3, False), 2.0),
             (512, C("fused", 16, 64, 256, 1, 8, 4, 3, False), 2.0),
             (512, C("fused", 16, 64, 256, 1, 8, 4, 3, False), 3.0),
             (512, C("fused", 16, 64, 256, 1, 8, 8, 3, False), 2.0),
             (512, C("fused", 16, 64, 512, 1, 8, 4, 3, False), 2.0),
             (512, C("fused", 16, 64, 512, 1, 8, 8, 2, False), 2.0),
             (512, C("fused", 16, 128, 256, 1, 8, 8, 3, False), 2.0)]
    for tk, cfg, waves in small:
        out.append(("small", tk, cfg, (4, 16), waves))
    for cfg, waves in ((C("fused", 64, 128, 128, 1, 8, 4, 3, True), 1.0), (C("fused", 64, 64, 128, 1, 8, 4, 3, True), 2.0),
                       (C("fused", 64, 64, 256, 1, 8, 4, 3, True), 2.0), (C("fused", 64, 64, 128, 1, 8, 4, 3, True), 4.0),
                       (C("fused", 64, 64, 256, 1, 8, 4, 3, False), 2.0)):
        out.append(("mid", 512, cfg, (64,), waves))
    for cfg in (C("fused", 256, 128, 64, 1, 8, 8, 3, False), C("fused", 256, 64, 128, 1, 8, 4, 3, True),
                C("fused", 256, 128, 64, 1, 8, 8, 3, True), C("fused", 128, 128, 128, 1, 8, 8, 3, True),
                C("fused", 128, 128, 128, 1, 8, 8, 3, False)):
        out.append(("large", 512, cfg, (256,), 1.0))
    out.append(("large", 512, C("fused", 256, 128, 64, 1, 8, 8, 3, True), (1024,), 1.0))
    out.append(("large", 512, C("dequant"), (256, 1024), 0))
    return out


def _round6():
    out = []
    for bm, bn, bk, w, st, swap, ms in ((16, 64, 128, 4, 4, False, (4, 16)), (16, 32, 256, 4, 3, False, (4, 16)),
                                        (16, 64, 256, 4, 2, False, (4, 16)), (64, 64, 128, 4, 4, True, (64,)),
                                        (64, 64, 64, 4, 4, True, (64,)), (64, 128, 64, 4, 4, True, (64,))):
        for waves in (2.0, 4.0):
            out.append(("small" if bm == 16 else "mid", 512, C("fused", bm, bn, bk, 1, 8, w, st, swap), ms, waves))
    for bm, bn, bk, w, st in ((256, 128, 64, 8, 4), (256, 128, 128, 8, 2), (128, 128, 64, 4, 4), (128, 256, 64, 8, 3),
                              (256, 128, 64, 8, 3)):
        out.append(("large", 512, C("fused", bm, bn, bk, 1, 8, w, st, True), (256,), 1.0))
    return out


def _round10():
    """M <= 16 with one- and two-warp programs over short weight tiles (16-32 rows), many
    programs an SM: no four-warp barrier per K tile, each warp streams its own tiles.
    Offline (Triton 3.6, sm_90): 16x128 one warp 124 registers, 32x128 two warps 123
    (the table's 64x256 four-warp tile: 192). Measured: all slower than the table."""
    out = [("small", 512, C("fused", 16, 64, 256, 1, 8, 4, 3, False), (1, 4, 16), 2.0)]
    for bn, bk, warps, stages, waves in ((16, 128, 1, 4, 16.0), (16, 128, 1, 4, 24.0), (32, 128, 2, 4, 8.0),
                                         (32, 128, 2, 4, 12.0), (32, 128, 1, 4, 12.0), (16, 256, 1, 3, 12.0),
                                         (32, 256, 2, 3, 6.0)):
        out.append(("small", 512, C("fused", 16, bn, bk, 1, 8, warps, stages, False), (1, 4, 16), waves))
    return out


def _round11():
    """fp16 activations: the hardware e4m3 -> fp16 convert (sm_89+) against the PTX bit
    trick (the GPU default) on the table's tiles (round 9: 2-4% faster at M <= 16)."""
    out = []
    for cfg, ms, waves in ((C("fused", 16, 64, 256, 1, 8, 4, 3, False), (1, 4, 16), 2.0),
                           (C("fused", 64, 128, 128, 1, 8, 4, 3, True), (64,), 1.0),
                           (C("fused", 64, 64, 128, 1, 8, 4, 3, True), (64,), 2.0),
                           (C("fused", 256, 128, 64, 1, 8, 8, 4, True), (256,), 1.0)):
        for decode in ("asm", "cvt"):
            out.append(("fp16", 512, replace(cfg, decode=decode), ms, waves))
    return out


def _round12():
    """bf16 with ``cvt``: the hardware e4m3 -> fp16 convert, then fp16 -> bf16 by bit
    moves on two lanes at once (one PTX block a register pair, in the convert's own
    register order). Offline (Triton 3.6, sm_90) the swap tiles' loops shrink from 560
    to 448 instructions (M = 64, 64x64x128) and 341 to 284 (M = 256): the bit-trick
    decode ("asm", pack 4) costs ~2 PRMT a weight pair in re-packing for the wgmma
    operand, which fp16 ``cvt`` (round 11: 25-30% faster at M = 64) does not pay."""
    out = []
    for part, cfg, ms, waves, decodes in (
            ("small", C("fused", 16, 64, 256, 1, 8, 4, 3, False), (4, 16), 2.0, ("asm", "cvt")),
            ("mid", C("fused", 64, 64, 128, 1, 8, 4, 3, True), (64,), 2.0, ("asm", "cvt")),
            ("mid", C("fused", 64, 128, 128, 1, 8, 4, 3, True), (64,), 1.0, ("asm", "cvt")),
            ("mid", C("fused", 64, 64, 128, 1, 8, 4, 4, True), (64,), 2.0, ("cvt",)),
            ("mid", C("fused", 64, 128, 64, 1, 8, 4, 4, True), (64,), 1.0, ("cvt",)),
            ("large", C("fused", 256, 128, 64, 1, 8, 8, 4, True), (256, 1024), 1.0, ("asm", "cvt")),
            ("large", C("fused", 128, 128, 64, 1, 8, 4, 4, True), (256,), 1.0, ("cvt",)),
            ("large", C("fused", 128, 256, 64, 1, 8, 8, 3, True), (256, 1024), 1.0, ("cvt",)),
            ("large", C("fused", 256, 128, 64, 1, 8, 8, 3, True), (256,), 1.0, ("cvt",))):
        for decode in decodes:
            out.append((part, 512, replace(cfg, decode=decode), ms, waves))
    out.append(("large", 512, C("dequant"), (256, 1024), 0))
    return out


def _round13():
    """With ``cvt`` (round 12), "swap" tiles at M <= 32 (wgmma with the decoded weights
    as the A operand, no re-packing; offline: 16x64x128 four stages takes 95 registers),
    and the M = 64 and 256 tiles around round 12's best."""
    out = []
    small = [C("fused", 16, 64, 256, 1, 8, 4, 3, False, "asm")]
    small += [C("fused", 16, bn, bk, 1, 8, 4, st, True, "cvt")
              for bn, bk, st in ((64, 256, 3), (128, 128, 3), (64, 128, 4))]
    for cfg in small:
        out.append(("small", 512, cfg, (1, 4, 16), 2.0))
    out.append(("small", 512, C("fused", 16, 64, 128, 1, 8, 4, 4, True, "cvt"), (4, 16), 4.0))
    for cfg in (C("fused", 32, 64, 256, 1, 8, 4, 3, False, "asm"), C("fused", 32, 64, 256, 1, 8, 4, 3, True, "cvt"),
                C("fused", 32, 64, 128, 1, 8, 4, 4, True, "cvt"), C("fused", 32, 128, 128, 1, 8, 4, 3, True, "cvt")):
        out.append(("small", 512, cfg, (32,), 2.0))
    mid = C("fused", 64, 64, 128, 1, 8, 4, 3, True, "cvt")
    for cfg, waves in ((mid, 2.0), (mid, 3.0), (mid, 4.0), (replace(mid, block_k=256), 2.0),
                       (replace(mid, block_k=64, num_stages=4), 2.0), (replace(mid, num_warps=8), 2.0)):
        out.append(("mid", 512, cfg, (64,), waves))
    big = C("fused", 256, 128, 64, 1, 8, 8, 4, True, "cvt")
    for cfg in (big, replace(big, block_k=128, num_stages=3), replace(big, block_n=64, num_warps=4),
                replace(big, group_n=16), replace(big, num_stages=5)):
        out.append(("large", 512, cfg, (256,), 1.0))
    return out


def _round14():
    """Round 13's tiles against neighbours where they tie or trail cuBLAS (M = 64 at
    4096 x 4096), and M = 512: the fused 256-row tile (``cvt``) against dequantize + cuBLAS."""
    out = []
    mid = C("fused", 64, 64, 128, 1, 8, 4, 3, True, "cvt")
    for cfg, waves in ((mid, 2.0), (mid, 1.0), (replace(mid, num_stages=2), 2.0), (replace(mid, group_n=4), 2.0),
                       (replace(mid, group_n=16), 2.0), (C("fused", 32, 64, 128, 1, 8, 4, 4, True, "cvt"), 2.0),
                       (C("fused", 64, 32, 128, 1, 8, 4, 3, False, "asm"), 2.0)):
        out.append(("mid", 512, cfg, (64,), waves))
    for cfg in (C("fused", 256, 128, 128, 1, 8, 8, 3, True, "cvt"), C("fused", 256, 64, 64, 1, 8, 4, 4, True, "cvt")):
        out.append(("large", 512, cfg, (256, 512), 1.0))
    out.append(("large", 512, C("dequant"), (256, 512), 0))
    return out


def _round15():
    """M = 256 with the hardware decode: the table's one-program-an-SM 256-row tile against
    128-row tiles at two programs an SM, wider weight tiles and fewer stages."""
    out = []
    for bm, bn, bk, warps, stages, waves in ((256, 128, 128, 8, 3, 1.0), (256, 128, 128, 8, 2, 1.0),
                                             (256, 256, 64, 8, 3, 1.0), (256, 128, 64, 8, 3, 1.0),
                                             (128, 128, 128, 4, 3, 2.0), (128, 128, 64, 4, 4, 2.0),
                                             (256, 64, 128, 4, 3, 2.0), (128, 256, 128, 8, 2, 1.0)):
        out.append(("large", 512, C("fused", bm, bn, bk, 1, 8, warps, stages, True, "cvt"), (256,), waves))
    return out


def _gluon_against_table(small, mid, large):
    """Rounds 16 and 16b: Gluon wgmma tiles ``(block_m, block_n, block_k, warps, stages),
    waves`` per bucket, each bucket with the table's Triton tile (and dequantize + cuBLAS
    for the large one) as its baseline."""
    W = lambda bm, bn, bk, warps, stages: C("wgmma", bm, bn, bk, 1, 8, warps, stages)  # noqa: E731
    out = [("small", 512, C("fused", 16, 64, 256, 1, 8, 4, 3, False), (1, 4, 16), 2.0)]
    out += [("small", 512, W(*tile), (1, 4, 16), waves) for tile, waves in small]
    out.append(("mid", 512, C("fused", 64, 64, 128, 1, 8, 4, 3, True), (64,), 2.0))
    out += [("mid", 512, W(*tile), (64,), waves) for tile, waves in mid]
    out.append(("large", 512, C("fused", 256, 128, 128, 1, 8, 8, 3, True), (256, 512), 1.0))
    out.append(("large", 512, C("dequant"), (512, 1024), 0))
    out += [("large", 512, W(*tile), (256, 512, 1024), waves) for tile, waves in large]
    return out


def _round16():
    """The Gluon wgmma kernel (``_gluon.py``: decode overlapped with the previous K tile's
    asynchronous wgmma, TMA loads) against the table's Triton tiles, M = 1 to 1024."""
    return _gluon_against_table(
        small=(((16, 64, 128, 4, 4), 2.0), ((16, 64, 128, 4, 6), 2.0), ((16, 64, 256, 4, 4), 2.0),
               ((16, 64, 128, 4, 4), 4.0), ((16, 128, 128, 8, 4), 2.0)),
        mid=(((64, 64, 128, 4, 4), 2.0), ((64, 64, 64, 4, 6), 2.0), ((64, 128, 64, 8, 4), 1.0),
             ((64, 64, 128, 4, 4), 3.0), ((64, 128, 128, 8, 3), 1.0)),
        large=(((256, 128, 64, 8, 3), 1.0), ((256, 128, 64, 8, 4), 1.0), ((128, 128, 64, 8, 4), 1.0),
               ((128, 256, 64, 8, 3), 1.0), ((256, 64, 64, 4, 4), 2.0), ((128, 128, 128, 8, 3), 1.0),
               ((256, 128, 64, 8, 4), 2.0)))


def _round16b():
    """Round 16 again with the scale bytes loaded by TMA with each tile (in round 16 plain
    loads of them, still in flight, held up the release fence of every stage refill), and
    128-row tiles at two programs per SM."""
    return _gluon_against_table(
        small=(((16, 64, 128, 4, 4), 2.0), ((16, 64, 256, 4, 4), 2.0), ((16, 64, 128, 4, 4), 4.0),
               ((16, 128, 128, 8, 4), 2.0), ((16, 64, 256, 4, 3), 3.0)),
        mid=(((64, 64, 128, 4, 4), 2.0), ((64, 64, 128, 4, 3), 2.0), ((64, 64, 256, 4, 3), 2.0),
             ((64, 128, 128, 8, 3), 1.0), ((64, 64, 128, 4, 4), 3.0)),
        large=(((128, 128, 128, 8, 3), 1.0), ((128, 128, 64, 8, 4), 1.0), ((128, 256, 64, 8, 3), 1.0),
               ((256, 64, 64, 4, 4), 2.0), ((128, 64, 128, 4, 4), 2.0), ((128, 128, 64, 8, 3), 2.0)))


def _round16c():
    """The corrected Gluon kernel (scales by TMA, 8-row scale tiles): split-K and stage
    counts around round 16b's best tiles, 32-row tiles for 16 < M <= 32, 256-row tiles."""
    W = lambda bm, bn, bk, warps, stages: C("wgmma", bm, bn, bk, 1, 8, warps, stages)  # noqa: E731
    out = [("small", 512, C("fused", 16, 64, 256, 1, 8, 4, 3, False), (1, 4, 16), 2.0)]
    for cfg, waves in ((W(16, 64, 128, 4, 4), 2.0), (W(16, 64, 128, 4, 6), 2.0), (W(16, 64, 64, 4, 8), 2.0),
                       (W(16, 64, 128, 4, 4), 1.5), (W(16, 64, 128, 4, 4), 3.0)):
        out.append(("small", 512, cfg, (4, 16), waves))
    out.append(("mid", 512, C("fused", 32, 64, 128, 1, 8, 4, 4, True), (32,), 2.0))
    for cfg, waves in ((W(32, 64, 128, 4, 4), 2.0), (W(32, 64, 128, 4, 6), 2.0)):
        out.append(("mid", 512, cfg, (32,), waves))
    out.append(("mid", 512, C("fused", 64, 64, 128, 1, 8, 4, 3, True), (64,), 2.0))
    for cfg, waves in ((W(64, 64, 128, 4, 4), 2.0), (W(64, 64, 128, 4, 4), 1.0), (W(64, 64, 128, 4, 4), 3.0),
                       (W(64, 64, 128, 4, 4), 4.0), (W(64, 64, 64, 4, 6), 2.0), (W(64, 64, 128, 4, 5), 2.0)):
        out.append(("mid", 512, cfg, (64,), waves))
    out.append(("large", 512, C("fused", 256, 128, 128, 1, 8, 8, 3, True), (256,), 1.0))
    for cfg, waves in ((W(128, 64, 128, 4, 4), 2.0), (W(128, 64, 128, 4, 3), 2.0), (W(256, 64, 128, 4, 3), 2.0),
                       (W(256, 64, 64, 4, 4), 2.0), (W(128, 64, 128, 4, 4), 1.0)):
        out.append(("large", 512, cfg, (256,), waves))
    return out


def _round16d():
    """Around the table's Gluon tiles where they trail or tie cuBLAS: M = 64 at 4096x4096
    (split, stages, K tile), M = 256 (128-row tiles at two programs per SM), M <= 16."""
    W = lambda bm, bn, bk, warps, stages, g=8: C("wgmma", bm, bn, bk, 1, g, warps, stages)  # noqa: E731
    out = []
    for cfg, waves in ((W(16, 64, 128, 4, 4), 2.0), (W(16, 64, 128, 4, 4), 3.0), (W(16, 64, 64, 4, 6), 2.0)):
        out.append(("small", 512, cfg, (16,), waves))
    for cfg, waves in ((W(64, 64, 128, 4, 4), 1.0), (W(64, 64, 128, 4, 3), 1.0), (W(64, 64, 128, 4, 6), 1.0),
                       (W(64, 64, 256, 4, 3), 1.0), (W(64, 64, 64, 4, 8), 1.0), (W(64, 64, 128, 4, 4, 4), 1.0),
                       (W(64, 64, 128, 4, 4, 16), 1.0), (W(64, 64, 128, 4, 4), 2.0)):
        out.append(("mid", 512, cfg, (64,), waves))
    for cfg, waves in ((W(128, 64, 128, 4, 4), 1.0), (W(128, 64, 64, 4, 4), 2.0), (W(128, 64, 64, 4, 5), 2.0),
                       (W(64, 64, 128, 4, 4), 2.0), (W(128, 64, 128, 4, 3), 1.0)):
        out.append(("large", 512, cfg, (256,), waves))
    return out


# Round 9 (activations row-scaled into fp16, ``xscale``: slower, removed) ran at 348fc7d.
ROUNDS = {"4d": _round4d, "5": _round5, "6": _round6, "10": _round10, "11": _round11, "12": _round12,
          "13": _round13, "14": _round14, "15": _round15, "16": _round16, "16b": _round16b, "16c": _round16c, "16d": _round16d}


def variants(round_: str = "6") -> list[tuple[str, int, C, tuple[int, ...], float]]:
    """(part, layout column-block width TK (ROW_MAJOR: K), config, Ms, programs per SM for
    split-K) of one round's set, as run (bench/results/marlin_round<round>_h100*)."""
    return ROUNDS[round_]()


def fitted(cfg: C, m: int, n: int, k: int, tk: int, waves: float, sms: int) -> C:
    if cfg.strategy == "dequant":
        return cfg
    cfg = replace(cfg, block_k=configs.fit_block_k(tk or k, cfg.block_k))
    if cfg.strategy == "gemv":
        return replace(cfg, block_m=configs.gemv_block_m(m))
    return replace(cfg, split_k=configs.fit_split_k(m, n, k, cfg, sms, waves))


def act_dtype(part: str) -> torch.dtype:
    return torch.float16 if part == "fp16" else torch.bfloat16


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="round4.json")
    ap.add_argument("--parts", default="probe,gemv,small,fp16,mid,large")
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--jobs", type=int, default=12)
    ap.add_argument("--round", default="6", choices=sorted(ROUNDS), help="which variant set")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    chosen = [v for v in variants(args.round) if v[0] in parts]
    # ROW_MAJOR (TK = K) compiles with the small weight's own K, 2048.
    precompile([(cfg, str(act_dtype(part)).removeprefix("torch."), tk or 2048) for part, tk, cfg, _, _ in chosen],
               args.jobs)

    torch.manual_seed(0)
    flush = torch.ones(64 << 20, dtype=torch.int32, device="cuda")
    sms = num_sms(torch.device("cuda"))
    bw = copy_bandwidth(10)
    print(f"# {torch.cuda.get_device_name()} sms={sms} torch {torch.__version__} triton {triton.__version__} "
          f"copy {bw / 1e12:.2f} TB/s", flush=True)
    rows = []

    def rec(part, n, k, m, name, fn, check=None, ref=None):
        row = {"part": part, "N": n, "K": k, "M": m, "variant": name}
        tol = 2 * 2.0**-8 + k * 2.0**-24
        try:
            if check is not None:
                y = check()
                torch.cuda.synchronize()
                row["err"] = float((y.float() - ref).norm() / ref.norm())
                if not row["err"] <= tol:
                    row["bad"] = True
            row["us"] = [graph_time_us(fn, args.reps, flush)]
        except Exception as exc:  # noqa: BLE001
            row["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        rows.append(row)
        return row

    data = {}
    for n, k in SHAPES:
        w = torch.randn(n, k, device="cuda") * 0.02
        q, s = quantize_mxfp8(w)
        w32 = dequantize_mxfp8(q, s, torch.float32)
        packs = {}
        for _, tk, _, _, _ in chosen:
            if tk not in packs:
                p = pack_weights(q, s, tk or k)
                packs[tk] = (p["marlin_weight"], p["marlin_scale"], p["marlin_row_scale"])
        data[(n, k)] = (w32, packs, w.to(torch.bfloat16))
        del w

    jobs = []  # (row, fn) to time again in pass 2
    for n, k in SHAPES:
        w32, packs, wb = data[(n, k)]
        for m in (1, 2, 4, 16, 32, 64, 256, 512, 1024):
            x = torch.randn(m, k, device="cuda").to(torch.bfloat16)
            fn = lambda x=x, wb=wb: F.linear(x, wb)  # noqa: E731
            jobs.append((rec("cublas", n, k, m, "F.linear bf16", fn), fn))
        if "probe" in parts:
            q4 = next(iter(packs.values()))[0].view(torch.int32).flatten()
            for ch, warps, per_sm in ((16384, 8, 8), (4096, 4, 8)):  # round 4's fastest two (of 24)
                chunks = q4.numel() * 4 // ch
                per = max(1, chunks // (per_sm * sms))
                progs = chunks // per
                out = torch.empty(progs, dtype=torch.int32, device="cuda")
                fn = (lambda ch=ch, warps=warps, per=per, progs=progs, out=out:
                      read_probe[(progs,)](q4, out, per, CH4=ch // 4, num_warps=warps))
                name = f"read CH{ch} w{warps} {per_sm}/SM ({progs} progs x {per})"
                jobs.append((rec("probe", n, k, 0, name, fn), fn))
        for part, tk, cfg0, ms, waves in chosen:
            qp, dp, rsp = packs[tk]
            for m in ms:
                x = torch.randn(m, k, device="cuda").to(act_dtype(part))
                ref = x.float() @ w32.T
                cfg = fitted(cfg0, m, n, k, tk or k, waves, sms)
                fn = (lambda x=x, cfg=cfg, qp=qp, dp=dp, rsp=rsp:
                      run_gemm(x, qp, dp, rsp, None, x.dtype, config=cfg))
                name = f"TK{tk or 'K'} {cfg.describe()}" + (f" waves{waves:g}" if waves else "")
                jobs.append((rec(part, n, k, m, name, fn, check=fn, ref=ref), fn))
        print(f"# {n}x{k} pass 1 done", flush=True)
    for row, fn in jobs:  # pass 2: the spread between two timings of the same thing
        if "us" in row:
            try:
                row["us"].append(graph_time_us(fn, args.reps, flush))
            except Exception as exc:  # noqa: BLE001
                row["error2"] = str(exc)[:200]
    Path(args.out).write_text(json.dumps({"copy_bw": bw, "sms": sms, "rows": rows}, indent=1))
    summarize(rows, bw)
    return 0


def summarize(rows, bw) -> None:
    """Per part, shape and M: cuBLAS, then the variants sorted by time (both passes)."""
    base = {(r["N"], r["K"], r["M"]): min(r["us"]) for r in rows if r["part"] == "cublas" and "us" in r}
    print("\n## all (us pass1/pass2, x = cuBLAS / best pass, roof = MXFP8 roofline / best pass)")
    key = lambda r: (r["part"], r["N"], r["K"], r["M"], min(r.get("us") or [math.inf]))  # noqa: E731
    for r in sorted(rows, key=key):
        roof = r["N"] * r["K"] * (1 + 1 / 32) / bw * 1e6
        if "us" not in r:
            print(f"{r['part']:6s} {r['N']:>5}x{r['K']:<5} M={r['M']:<4} {r['variant']:60s} {r.get('error', '')[:150]}")
            continue
        t = min(r["us"])
        b = base.get((r["N"], r["K"], r["M"]))
        flag = " BAD" if r.get("bad") else ""
        ratio = f"x{b / t:4.2f}" if b and r["part"] != "cublas" else "     "
        print(f"{r['part']:6s} {r['N']:>5}x{r['K']:<5} M={r['M']:<4} {r['variant']:60s} "
              f"{'/'.join(f'{u:6.1f}' for u in r['us'])} {ratio} roof {roof / t:4.2f} "
              f"err={r.get('err', float('nan')):.1e}{flag}")


if __name__ == "__main__":
    sys.exit(main())
