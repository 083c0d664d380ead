"""Validation sweep of the Gluon kernel's shapes on an sm_90 GPU (a program, not a test):
every output written (the output's memory is NaN before each call), within the error bound
of the float32 reference, and bit-identical over repeats. It launches the kernel directly
(``kernel._launch_wgmma``), so it also runs the shapes ``run_gemm`` refuses.

    python plugins/marlin/tools/gluon_validate.py [--repeats 10] > gluon_validate.txt
    python plugins/marlin/tools/gluon_validate.py --only 64,64,128,4,3 --ms 300  # one tile shape
"""

from __future__ import annotations

import argparse
import itertools
import sys

import torch

from mxfp8_core import Mxfp8LinearLayerConfig, dequantize_mxfp8, quantize_mxfp8
from mxfp8_marlin import MarlinKernel, _triton
from mxfp8_marlin.configs import Config, fit_block_k
from mxfp8_marlin.kernel import _launch_wgmma
from mxfp8_marlin.packing import pack_weights

SHAPES = [  # (block_m, block_n, block_k, warps, stages): the table's and the ones that failed in round 16
    (16, 64, 128, 4, 4), (32, 64, 128, 4, 4), (64, 64, 128, 4, 4),
    (64, 64, 128, 4, 3), (128, 64, 128, 4, 4), (128, 64, 128, 4, 3), (256, 64, 128, 4, 3),
    (128, 128, 128, 8, 3), (256, 128, 64, 8, 3), (64, 64, 256, 4, 3),
]


def case_weights(w: torch.Tensor):
    """An MXFP8 weight from float ``w``: its packed tensors and its float32 dequantization."""
    q, s = quantize_mxfp8(w)
    return pack_weights(q, s), dequantize_mxfp8(q, s, torch.float32)


def bound(act: torch.dtype, n: int, k: int) -> float:
    """The plugin's own error bound for an ``[n, k]`` weight and ``act`` activations."""
    return MarlinKernel.tolerance(Mxfp8LinearLayerConfig(k, n, act))


def check_case(x, packed, w32, bias, cfg, repeats: int, tol: float) -> list[str]:
    """Run ``cfg`` ``repeats`` times on NaN-filled output memory; the problems seen (NaN or
    error over ``tol`` against the float32 reference, a run that differs from the first)."""
    m, n = x.shape[0], w32.shape[0]
    ref = x.float() @ w32.T + (bias.float() if bias is not None else 0)
    first, problems = None, []
    for _ in range(repeats):
        junk = torch.full((m, n), float("nan"), dtype=x.dtype, device="cuda")
        del junk  # the output reuses this block
        y = _launch_wgmma(_triton, x, packed["marlin_weight"], packed["marlin_scale"], packed["marlin_row_scale"],
                          bias, x.dtype, cfg)
        nan = int(torch.isnan(y).sum())
        err = float((y.float().nan_to_num() - ref).norm() / ref.norm())
        if nan or not err <= tol:
            problems.append(f"nan={nan} err={err:.3g}")
        if first is None:
            first = y
        elif not torch.equal(first, y):
            problems.append("differs")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--only", default="", help="tile shapes BM,BN,BK,warps,stages separated by ';' (default: SHAPES)")
    ap.add_argument("--ms", default="1,17,64,256,300")
    args = ap.parse_args()
    shapes = [tuple(int(v) for v in t.split(",")) for t in args.only.split(";")] if args.only else SHAPES
    ms = [int(v) for v in args.ms.split(",")]
    torch.manual_seed(0)
    bad_total = 0
    for (n, k), act in itertools.product(((4096, 320), (4096, 4096), (4993, 96)), (torch.bfloat16, torch.float16)):
        p, w32 = case_weights(torch.randn(n, k, device="cuda") * 0.02)
        tk = p["marlin_weight"].shape[2]
        tol = bound(act, n, k)
        for shape, m, split in itertools.product(shapes, ms, (1, 3)):
            bm, bn, bk, warps, stages = shape
            cfg = Config("wgmma", bm, bn, fit_block_k(tk, bk), split, 8, warps, stages)
            x = torch.randn(m, k, device="cuda").to(act)
            problems = check_case(x, p, w32, None, cfg, args.repeats, tol)
            bad_total += bool(problems)
            print(f"{'BAD ' if problems else 'ok  '}N={n} K={k} {str(act)[6:]} M={m} {cfg.describe()} "
                  f"{'; '.join(sorted(set(problems)))}", flush=True)
    print(f"# {bad_total} bad", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
