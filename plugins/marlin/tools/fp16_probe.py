"""Round 23 probe (a program, not a test): would bf16 activations be faster through the
fp16 kernels? On sm_90 an e4m3 weight pair decodes to fp16 in one convert, while bf16
needs the convert plus bit moves (about four instructions a pair with the scale multiply,
round 22h), and at M >= 256 the decode sets the main loop's pace.

For each case: the table's kernel on the bf16 activations (A); the same config on the
activations row-scaled into fp16 (a power of two a row, so the fp16 values are the bf16
ones exactly) with a bf16 output (B); the row-scaling pass alone (P); cuBLAS bf16.
B's output, times the row scales, is checked against the float32 reference. Timing as in
``bench/bench_gemm.py`` (CUDA graph, L2 flushed before each replay, median).

    python plugins/marlin/tools/fp16_probe.py --cases 14336x4096:1024 [--rounds 2] [--out f.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
import triton
import triton.language as tl

from mxfp8_marlin import configs
from mxfp8_marlin.kernel import num_sms, run_gemm
from probe_common import Case, check_rounds, parse_cases, timed_rounds  # tools/: this script's directory


@triton.jit
def _rows_to_fp16(x_ptr, h_ptr, s_ptr, K, BLOCK_K: tl.constexpr):
    """Row m of ``x`` times 2**-e, its largest magnitude landing in [2**14, 2**15), as fp16
    (exact for bf16 values down to 2**-28 of the row's largest); ``s[m] = 2**e``."""
    m = tl.program_id(0)
    offs = tl.arange(0, BLOCK_K)
    v = tl.load(x_ptr + m * K + offs, mask=offs < K, other=0.0).to(tl.float32)
    biased = (tl.max(tl.abs(v), axis=0).to(tl.int32, bitcast=True) >> 23) & 0xFF
    e = tl.where((biased == 0) | (biased == 255), 0, tl.maximum(biased - 127 - 14, -100))
    tl.store(h_ptr + m * K + offs, (v * ((127 - e) << 23).to(tl.float32, bitcast=True)).to(tl.float16),
             mask=offs < K)
    tl.store(s_ptr + m, ((127 + e) << 23).to(tl.float32, bitcast=True))


def rows_to_fp16(x: torch.Tensor, h: torch.Tensor, s: torch.Tensor) -> None:
    _rows_to_fp16[(x.shape[0],)](x, h, s, x.shape[1], BLOCK_K=triton.next_power_of_2(x.shape[1]), num_warps=8)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default="14336x4096:1024")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", default="fp16_probe.json")
    args = ap.parse_args()
    cases = parse_cases(args.cases)
    check_rounds(args.rounds)
    torch.manual_seed(0)
    flush = torch.ones(64 << 20, dtype=torch.int32, device="cuda")
    sms = num_sms(torch.device("cuda"))
    print(f"# {torch.cuda.get_device_name()} torch {torch.__version__} triton {triton.__version__}", flush=True)
    rows = []
    for n, k, m in cases:
        case = Case.make(n, k, m)
        x, packed = case.x, case.packed
        h = torch.empty(m, k, dtype=torch.float16, device="cuda")
        s = torch.empty(m, dtype=torch.float32, device="cuda")
        rows_to_fp16(x, h, s)
        # Exact but for fp16 subnormals: at most half their step, 2**-25 of the row's scale.
        assert bool(((h.float() * s[:, None] - x.float()).abs() <= s[:, None] * 2.0**-25).all()), "row scaling"
        cfg = configs.choose(m, n, k, sms, tile_k=case.tile_k, wgmma=True)
        fns = {"A bf16": lambda: run_gemm(x, *packed, None, torch.bfloat16, config=cfg),
               "B fp16": lambda: run_gemm(h, *packed, None, torch.bfloat16, config=cfg),
               "P pass": lambda: rows_to_fp16(x, h, s),
               "cuBLAS": lambda: F.linear(x, case.wb)}
        case.error(fns["A bf16"](), f"{n}x{k} M={m} A bf16")
        case.error(fns["B fp16"]().float() * s[:, None], f"{n}x{k} M={m} B fp16")
        times = timed_rounds(fns, args.rounds, flush)
        best = {tag: min(us) for tag, us in times.items()}
        cub = best["cuBLAS"]
        print(f"{n:>5}x{k:<5} M={m:<5} {cfg.describe()}", flush=True)
        for tag, us in times.items():
            print(f"    {tag:7s} {' '.join(f'{t:7.1f}' for t in us)} us", flush=True)
        print(f"    ratios vs cuBLAS: A {cub / best['A bf16']:.3f}  B {cub / best['B fp16']:.3f}  "
              f"B+P {cub / (best['B fp16'] + best['P pass']):.3f}", flush=True)
        rows.append({"N": n, "K": k, "M": m, "config": cfg.describe(), "us": times})
    Path(args.out).write_text(json.dumps({"device": torch.cuda.get_device_name(), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
