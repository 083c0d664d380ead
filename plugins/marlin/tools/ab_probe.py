"""A/B of one config change on an sm_90 GPU (round 22; a program, not a test): for each
case, the table's config (``configs.choose``) against the same with ``--set`` applied, in
alternating rounds with cuBLAS bf16 timed in each, every output checked against the
float32 reference. Alternation and repeats show a change's effect beside the run-to-run
spread of both (at 14336x4096, M = 1024, cuBLAS alone moved between 147 and 154 us).

Timing as in ``bench/bench_gemm.py`` (CUDA graph, L2 flushed before each replay, median).

    python plugins/marlin/tools/ab_probe.py --cases 14336x4096:1024,8192x8192:4096 \\
        --set split_skew=0 [--rounds 2] [--out ab.json] > ab.txt
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from dataclasses import fields, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from mxfp8_marlin import configs
from mxfp8_marlin.kernel import num_sms, run_gemm

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
from bench_gemm import graph_time_us  # noqa: E402  (the benchmark's timing, shared)
from gluon_validate import bound, case_weights  # noqa: E402  (tools/: this script's own directory)


def parse_set(spec: str) -> dict:
    """``field=value,...`` over ``configs.Config``'s fields (values as Python literals)."""
    names = {f.name for f in fields(configs.Config)}
    out = {}
    for item in spec.split(","):
        name, _, value = item.partition("=")
        if name not in names:
            raise SystemExit(f"--set: {name!r} is not a Config field ({', '.join(sorted(names))})")
        try:
            out[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            raise SystemExit(f"--set: {name}={value!r} is not a Python literal (e.g. split_skew=0, "
                             f"decode='cvt')") from None
    return out


def parse_cases(spec: str) -> list[tuple[int, int, int]]:
    """``NxK:M,...`` -> ``[(N, K, M), ...]``."""
    cases = []
    for case in spec.split(","):
        try:
            nk, m = case.split(":")
            n, k = nk.split("x")
            cases.append((int(n), int(k), int(m)))
        except ValueError:
            raise SystemExit(f"--cases: {case!r} is not NxK:M (e.g. 14336x4096:1024)") from None
    return cases


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default="14336x4096:1024", help="NxK:M,...")
    ap.add_argument("--set", required=True, help="the B config: the table's with these fields, e.g. split_skew=0")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", default="ab_probe.json")
    args = ap.parse_args()
    change = parse_set(args.set)
    cases = parse_cases(args.cases)
    if args.rounds < 1:
        raise SystemExit(f"--rounds must be at least 1 (got {args.rounds})")
    torch.manual_seed(0)
    flush = torch.ones(64 << 20, dtype=torch.int32, device="cuda")
    sms = num_sms(torch.device("cuda"))
    print(f"# {torch.cuda.get_device_name()} torch {torch.__version__}; B = A with {change}", flush=True)
    rows = []
    for n, k, m in cases:
        w = torch.randn(n, k, device="cuda") * 0.02
        p, w32 = case_weights(w)
        packed = (p["marlin_weight"], p["marlin_scale"], p["marlin_row_scale"])
        x = torch.randn(m, k, device="cuda").to(torch.bfloat16)
        ref, wb, tol = x.float() @ w32.T, w.to(torch.bfloat16), bound(torch.bfloat16, n, k)
        a = configs.choose(m, n, k, sms, tile_k=packed[0].shape[2], wgmma=True)
        variants = {"A": a, "B": replace(a, **change)}
        times = {"A": [], "B": [], "cuBLAS": []}
        for _ in range(args.rounds):
            for tag, cfg in variants.items():
                fn = lambda cfg=cfg: run_gemm(x, *packed, None, x.dtype, config=cfg)  # noqa: E731
                err = float((fn().float() - ref).norm() / ref.norm())
                if err > tol:
                    raise SystemExit(f"{n}x{k} M={m} {cfg.describe()}: error {err:.2e} over the bound {tol:.2e}")
                times[tag].append(graph_time_us(fn, 30, flush))
            times["cuBLAS"].append(graph_time_us(lambda: F.linear(x, wb), 30, flush))
        for tag, us in times.items():
            name = variants[tag].describe() if tag in variants else "F.linear bf16"
            print(f"{n:>5}x{k:<5} M={m:<5} {tag:6s} {name:70s} {' '.join(f'{t:7.1f}' for t in us)} us", flush=True)
        rows.append({"N": n, "K": k, "M": m, "A": a.describe(), "B": variants["B"].describe(), "us": times})
    Path(args.out).write_text(json.dumps({"device": torch.cuda.get_device_name(), "set": args.set, "rows": rows},
                                         indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
