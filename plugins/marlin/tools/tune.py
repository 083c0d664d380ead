"""Sweep marlin launch configs on the current GPU (a program, not a test).

    python plugins/marlin/tools/tune.py --out tune.json [--jobs 12] [--stages 1,2,3]

Stages: 1 times every small-M (decode) config at M=1 on two shapes; 2 re-times the best
ones on all shapes and M in {1, 4, 16} (and fp16); 3 times large-M configs and the
dequantize-then-cuBLAS strategy; 5 a fixed small-M set on every shape
(``TUNE_STAGE5_SET=2`` for a second set); 6 mid-M (64, 256) configs. Every timed config
is checked against the float32 dequantize-then-matmul reference. Kernels are compiled
first in parallel worker processes (they fill Triton's on-disk cache). Timing and copy
bandwidth: ``bench/bench_gemm.py``'s (CUDA-graph replay with a read-only L2 flush, 25
replays; the copy timed eagerly, see bench/notes_marlin.md). Prints the best configs;
writes all numbers as JSON.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import multiprocessing as mp
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path

import torch

from mxfp8_core import dequantize_mxfp8, quantize_mxfp8
from mxfp8_marlin import configs
from mxfp8_marlin.kernel import num_sms, run_gemm
from mxfp8_marlin.packing import pack_weights

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
from bench_gemm import copy_bandwidth, graph_time_us  # noqa: E402  (the benchmark's timing, shared)

SHAPES = [(4096, 4096), (14336, 4096), (4096, 14336), (8192, 8192)]  # (N, K)
C = configs.Config


def smem_estimate(c: C) -> int:
    return c.num_stages * (c.block_n * c.block_k + c.block_m * c.block_k * 2)


def small_m_candidates() -> list[C]:
    out = []
    for decode in ("asm", "cvt"):
        for (bn, w), bk, st in itertools.product([(64, 4), (128, 4), (128, 8)], [128, 256, 512], [3, 4]):
            out.append(C("fused", 16, bn, bk, 1, 8, w, st, True, decode))
        for bn, bk, st in itertools.product([32, 64, 128], [128, 256, 512], [3, 4]):
            out.append(C("fused", 16, bn, bk, 1, 8, 4, st, False, decode))
    return [c for c in out if smem_estimate(c) <= 200 * 1024]


def large_m_candidates() -> list[C]:
    out = []
    for bm, bn, bk, w, st in [
        (64, 64, 128, 4, 4), (64, 128, 128, 4, 4), (64, 128, 64, 4, 4), (128, 128, 64, 8, 3),
        (128, 128, 64, 8, 4), (128, 256, 64, 8, 3), (128, 128, 128, 8, 3), (256, 128, 64, 8, 3),
        (64, 256, 64, 8, 3), (128, 64, 128, 4, 4), (64, 128, 256, 4, 3), (128, 128, 128, 8, 4),
        (32, 128, 128, 4, 4), (32, 64, 256, 4, 4),
    ]:
        out.append(C("fused", bm, bn, bk, 1, 8, w, st, False, "asm"))
    for bm, bn, bk, w, st in [(64, 128, 128, 4, 4), (128, 128, 64, 8, 4), (128, 256, 64, 8, 3), (32, 128, 128, 4, 4)]:
        out.append(C("fused", bm, bn, bk, 1, 8, w, st, True, "asm"))
    return out


def small_m_final_candidates() -> list[C]:
    if os.environ.get("TUNE_STAGE5_SET") == "2":
        return [
            C("fused", 16, 16, 256, 1, 8, 4, 4, False, "asm"),
            C("fused", 16, 16, 256, 1, 8, 4, 6, False, "asm"),
            C("fused", 16, 32, 256, 1, 8, 4, 4, False, "asm"),
            C("fused", 16, 32, 256, 1, 8, 4, 6, False, "asm"),
            C("fused", 16, 64, 256, 1, 8, 4, 5, False, "asm"),
            C("fused", 16, 32, 512, 1, 8, 4, 4, False, "asm"),
            C("fused", 16, 64, 128, 1, 8, 4, 6, False, "asm"),
            C("fused", 16, 64, 256, 1, 8, 2, 3, False, "asm"),
            C("fused", 16, 32, 256, 1, 8, 2, 4, False, "asm"),
            C("fused", 16, 64, 256, 1, 8, 4, 3, False, "asm"),
        ]
    return [
        C("fused", 16, 64, 256, 1, 8, 4, 3, False, "asm"),
        C("fused", 16, 64, 256, 1, 8, 4, 4, False, "asm"),
        C("fused", 16, 128, 256, 1, 8, 8, 3, False, "asm"),
        C("fused", 16, 64, 128, 1, 8, 4, 4, False, "asm"),
        C("fused", 16, 128, 128, 1, 8, 4, 3, False, "asm"),
        C("fused", 16, 64, 256, 1, 8, 4, 3, False, "cvt"),
        C("fused", 16, 128, 128, 1, 8, 8, 3, True, "asm"),
        C("fused", 16, 64, 512, 1, 8, 4, 3, False, "asm"),
    ]


def mid_m_candidates() -> list[C]:
    return [
        C("fused", 16, 64, 256, 1, 8, 4, 3, False, "asm"),
        C("fused", 32, 64, 256, 1, 8, 4, 3, False, "asm"),
        C("fused", 64, 64, 256, 1, 8, 4, 3, False, "asm"),
        C("fused", 32, 128, 128, 1, 8, 4, 3, False, "asm"),
        C("fused", 64, 128, 256, 1, 8, 4, 3, False, "asm"),
        C("fused", 128, 128, 128, 1, 8, 8, 3, False, "asm"),
        C("fused", 256, 128, 64, 1, 8, 8, 3, False, "asm"),
        C("fused", 128, 64, 256, 1, 8, 4, 3, False, "asm"),
        C("fused", 64, 128, 128, 1, 8, 4, 3, True, "asm"),
        C("fused", 32, 64, 256, 1, 8, 8, 3, False, "asm"),
    ]


def split_for(m: int, n: int, k: int, cfg: C, waves: float, sms: int) -> int:
    tiles = math.ceil(m / cfg.block_m) * math.ceil(n / cfg.block_n)
    k_tiles = k // cfg.block_k
    want = max(1, round(waves * sms / tiles))
    split = 1
    while split * 2 <= want and k_tiles // (split * 2) >= 1:
        split *= 2
    return split


def make_layer(n: int, k: int, device: str = "cuda"):
    w = torch.randn(n, k, device=device) * 0.02
    q, s = quantize_mxfp8(w)
    p = pack_weights(q, s)
    return q, s, p


def _compile_worker(items: list[tuple[dict, str, int | None]]) -> list[str]:
    """Compile by running each config once on a small weight packed the same way (the
    same specialisations: N and K multiples of 16, the same column-block width)."""
    torch.cuda.init()
    layers, errors = {}, []
    for cfg_dict, dt, tk in items:
        cfg = C(**cfg_dict)
        if tk not in layers:
            q, s = quantize_mxfp8(torch.randn(1024, 2048, device="cuda") * 0.02)
            layers[tk] = pack_weights(q, s, tk)
        p = layers[tk]
        x = torch.randn(cfg.block_m + 1, 2048, device="cuda", dtype=getattr(torch, dt))
        try:
            run_gemm(x, p["marlin_weight"], p["marlin_scale"], p["marlin_row_scale"], None, x.dtype,
                     config=replace(cfg, split_k=2) if cfg.strategy in ("fused", "wgmma") else cfg)
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{cfg.describe()} {dt} TK{tk or 'default'}: {type(exc).__name__}: {str(exc)[:300]}")
    torch.cuda.synchronize()
    return errors


def precompile(items: list[tuple[C, str, int | None]], jobs: int) -> None:
    """Fill Triton's on-disk cache in ``jobs`` worker processes for each (config,
    activation dtype name, column-block width; None: the default), once per distinct
    kernel (split-K aside). Shared with round4.py."""
    unique = list(dict.fromkeys((replace(c, split_k=1), dt, tk) for c, dt, tk in items))
    work = [(asdict(c), dt, tk) for c, dt, tk in unique]
    chunks = [work[i::jobs] for i in range(jobs)]
    t0 = time.time()
    with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn")) as ex:
        for errs in ex.map(_compile_worker, chunks):
            for e in errs:
                print("COMPILE FAIL", e, flush=True)
    print(f"# precompiled {len(work)} kernels in {time.time() - t0:.1f}s", flush=True)


class Bench:
    REPS = 25

    def __init__(self, dtype=torch.bfloat16):
        self.flush = torch.ones(64 << 20, dtype=torch.int32, device="cuda")
        self.dtype = dtype
        self.layers = {}
        self.refs = {}
        self.sms = num_sms(torch.device("cuda"))

    def layer(self, n, k):
        if (n, k) not in self.layers:
            self.layers[(n, k)] = make_layer(n, k)
        return self.layers[(n, k)]

    def ref(self, n, k, m):
        key = (n, k, m)
        if key not in self.refs:
            q, s, _ = self.layer(n, k)
            x = torch.randn(m, k, device="cuda").to(self.dtype)
            ref = x.float() @ dequantize_mxfp8(q, s, torch.float32).T
            self.refs[key] = (x, ref)
        return self.refs[key]

    def time_us(self, fn) -> float:
        return graph_time_us(fn, self.REPS, self.flush)

    def time_cfg(self, n, k, m, cfg):
        _, _, p = self.layer(n, k)
        x, ref = self.ref(n, k, m)
        args = (x, p["marlin_weight"], p["marlin_scale"], p["marlin_row_scale"], None, self.dtype)
        try:
            y = run_gemm(*args, config=cfg)
            torch.cuda.synchronize()
        except Exception as exc:  # noqa: BLE001
            return None, f"{type(exc).__name__}: {str(exc)[:200]}"
        err = ((y.float() - ref).norm() / ref.norm()).item()
        return self.time_us(lambda: run_gemm(*args, config=cfg)), err

    def time_cublas(self, n, k, m):
        x, _ = self.ref(n, k, m)
        w = torch.randn(n, k, device="cuda", dtype=self.dtype)
        return self.time_us(lambda: torch.nn.functional.linear(x, w))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tune.json")
    ap.add_argument("--jobs", type=int, default=12)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--stages", default="1,2,3")
    args = ap.parse_args()
    stages = set(args.stages.split(","))
    torch.manual_seed(0)
    small = small_m_candidates()
    large = large_m_candidates()
    if args.quick:
        small, large = small[:4], large[:3]
    if "1" in stages or "2" in stages or "3" in stages:
        precompile([(c, "bfloat16", None) for c in small + large], args.jobs)
    b = Bench()
    sms = b.sms
    results = []
    tol = 2 * 2.0**-8

    def rec(stage, n, k, m, cfg, us, err):
        row = {"stage": stage, "N": n, "K": k, "M": m, "config": cfg.describe() if cfg else "cublas",
               "cfg": asdict(cfg) if cfg else None, "us": us, "err": err}
        results.append(row)
        bad = isinstance(err, str) or (err is not None and not err < tol + k * 2.0**-24)
        if bad:
            print("BAD", row, flush=True)
        return row

    copy_bw = copy_bandwidth(10)
    print(f"device-to-device copy: {copy_bw / 1e12:.2f} TB/s (read + write)", flush=True)
    results.append({"stage": "copy", "bytes_per_s": copy_bw})
    cublas = {}
    for (n, k) in SHAPES:
        for m in (1, 4, 16, 64, 256, 1024, 4096):
            cublas[(n, k, m)] = b.time_cublas(n, k, m)
            rec("cublas", n, k, m, None, cublas[(n, k, m)], None)
    print("cublas", {f"{n}x{k} M{m}": round(v, 1) for (n, k, m), v in cublas.items()}, flush=True)

    # ---- stage 1: small M, M=1, two shapes, waves in {1,2,4}
    scores = {}
    if "1" in stages:
        t0 = time.time()
        for cfg in small:
            for (n, k) in [(8192, 8192), (4096, 4096)]:
                if k % cfg.block_k:
                    continue
                for waves in (1, 2, 4):
                    c = replace(cfg, split_k=split_for(1, n, k, cfg, waves, sms))
                    us, err = b.time_cfg(n, k, 1, c)
                    rec("s1", n, k, 1, c, us, err)
                    if us is not None:
                        key = (cfg, waves)
                        scores.setdefault(key, []).append(cublas[(n, k, 1)] / us)
        print(f"stage 1: {time.time() - t0:.0f}s", flush=True)
        ranked = sorted(scores.items(), key=lambda kv: -math.prod(kv[1]) ** (1 / len(kv[1])) if len(kv[1]) == 2 else 0)
        print("stage 1 top 10 (speedup vs cublas at 8192^2, 4096^2):")
        for (cfg, waves), sp in ranked[:10]:
            print(f"  {cfg.describe():60s} waves={waves}  {[round(v, 2) for v in sp]}")
    # ---- stage 2: the best 6 layouts on every shape, M in {1,4,16}
    if "2" in stages and scores:
        t0 = time.time()
        top = []
        for (cfg, waves), _ in ranked:
            if cfg not in top:
                top.append(cfg)
            if len(top) == 6:
                break
        for cfg in top:
            for (n, k) in SHAPES:
                for m in (1, 4, 16):
                    for waves in (1, 2, 4):
                        c = replace(cfg, split_k=split_for(m, n, k, cfg, waves, sms))
                        us, err = b.time_cfg(n, k, m, c)
                        rec("s2", n, k, m, c, us, err)
        bf = Bench(torch.float16)
        for cfg in top[:3]:
            for decode in ("cvt", "asm"):
                for (n, k) in [(8192, 8192), (4096, 4096)]:
                    c = replace(cfg, decode=decode, split_k=split_for(1, n, k, cfg, 2, sms))
                    us, err = bf.time_cfg(n, k, 1, c)
                    rec("s2fp16", n, k, 1, c, us, err)
                    print(f"  fp16 {n}x{k} M1 {c.describe():60s} {us:7.1f} us err {err}", flush=True)
        print(f"stage 2: {time.time() - t0:.0f}s", flush=True)
    # ---- stage 3: large M
    if "3" in stages:
        t0 = time.time()
        for (n, k) in [(8192, 8192), (4096, 14336), (4096, 4096), (14336, 4096)]:
            for m in (64, 256, 1024, 4096):
                rec("s3", n, k, m, C("dequant"), *b.time_cfg(n, k, m, C("dequant")))
                for cfg in large:
                    if k % cfg.block_k:
                        continue
                    for waves in ((1, 2) if m <= 256 else (1,)):
                        c = replace(cfg, split_k=split_for(m, n, k, cfg, waves, sms))
                        if waves == 2 and c.split_k == 1:
                            continue
                        us, err = b.time_cfg(n, k, m, c)
                        rec("s3", n, k, m, c, us, err)
        print(f"stage 3: {time.time() - t0:.0f}s", flush=True)

    def sweep(stage, cands, ms, waves_options):
        """Every candidate on every shape and M, once per distinct split-K that the
        waves (programs per SM; 0: no split) give; then the best four per (shape, M)."""
        precompile([(c, "bfloat16", None) for c in cands], args.jobs)
        t0 = time.time()
        for cfg in cands:
            for (n, k) in SHAPES:
                for m in ms:
                    seen = set()
                    for waves in waves_options:
                        c = replace(cfg, split_k=split_for(m, n, k, cfg, waves, sms) if waves else 1)
                        if c.split_k in seen:
                            continue
                        seen.add(c.split_k)
                        rec(stage, n, k, m, c, *b.time_cfg(n, k, m, c))
        print(f"stage {stage}: {time.time() - t0:.0f}s", flush=True)
        for key in sorted({(r["N"], r["K"], r["M"]) for r in results if r["stage"] == stage}):
            rows = sorted((r for r in results if r["stage"] == stage and (r["N"], r["K"], r["M"]) == key
                           and r["us"] is not None), key=lambda r: r["us"])
            print(key, "cublas", round(cublas[key], 1), " ".join(f"| {r['us']:.1f} {r['config']}" for r in rows[:4]))

    # ---- stage 5: a fixed set of small-M candidates on every shape (clean-flush timing)
    if "5" in stages:
        sweep("s5", small_m_final_candidates(), (1, 16), (0, 1, 2, 4))
    # ---- stage 6: mid M (64, 256)
    if "6" in stages:
        sweep("s6", mid_m_candidates(), (64, 256), (1, 2, 4))
    with open(args.out, "w") as f:
        json.dump({"device": torch.cuda.get_device_name(), "sms": sms, "results": results}, f)
    # ---- summary: best per (shape, M)
    best = {}
    for r in results:
        if r["stage"] not in ("s1", "s2", "s3", "s5", "s6") or r["us"] is None:
            continue
        key = (r["N"], r["K"], r["M"])
        if key not in best or r["us"] < best[key]["us"]:
            best[key] = r
    print(f"{'shape':>12} {'M':>5} {'cublas':>8} {'best':>8} {'x':>5}  config")
    for key in sorted(best):
        r = best[key]
        cb = cublas[key]
        print(f"{key[0]:>6}x{key[1]:<6} {key[2]:>5} {cb:8.1f} {r['us']:8.1f} {cb / r['us']:5.2f}  {r['config']}")


if __name__ == "__main__":
    sys.exit(main())
