"""Round-2 experiments for marlin on one GPU (a program, not a test); one device call.

    python plugins/marlin/tools/round2.py --out round2.json [--parts probe,gemv,small,mid,chunk]

Parts (each variant is checked against the float32 reference before it is timed):

- ``probe``: how fast plain loads stream the e4m3 weight for each tile shape
  ``[BN, BK]`` (row-major weight, no arithmetic): does the length of the contiguous run
  per row matter?
- ``gemv``: the CUDA-core kernel ``mx_w8a16_gemv`` for M = 1 and 4, several tile shapes.
- ``small``: the tensor-core kernel at M = 1, 4, 16 (the default config and two
  long-row alternatives), for comparison in the same run.
- ``mid``: M = 64 configs at 4096x4096.
- ``chunk``: M = 256, 1024, 4096: dequantize N-chunks into two reusable buffers sized to
  stay in L2 and run cuBLAS on each chunk straight into the output's column slice,
  serially or with the dequantization of chunk i+1 on a side stream while cuBLAS runs
  chunk i; plus each half alone (dequantize only, cuBLAS only) for the accounting.

Timing as in ``bench/bench_gemm.py``: CUDA-graph replay, L2 flushed by a 256 MiB read
before each replay, median of CUDA events.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import traceback
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
import triton
import triton.language as tl

from mxfp8_core import dequantize_mxfp8, quantize_mxfp8
from mxfp8_marlin import _triton as kern
from mxfp8_marlin import configs
from mxfp8_marlin.kernel import DECODES, num_sms, run_gemm
from mxfp8_marlin.packing import pack_weights

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
from bench_gemm import copy_bandwidth, graph_time_us  # noqa: E402  (the benchmark's timing, shared)

SHAPES = [(4096, 4096), (14336, 4096), (4096, 14336), (8192, 8192)]  # (N, K)
C = configs.Config


@triton.jit
def read_probe(q_ptr, out_ptr, K4, PER, BN: tl.constexpr, BK4: tl.constexpr):
    """XOR of a [BN, PER * BK4] block of int32 words (the weight's bytes, 4 a word)."""
    rows = tl.program_id(0) * BN + tl.arange(0, BN)
    cols = tl.program_id(1) * PER * BK4 + tl.arange(0, BK4)
    ptrs = q_ptr + rows[:, None].to(tl.int64) * K4 + cols[None, :]
    acc = tl.full((BN, BK4), 0, tl.int32)
    for _ in range(PER):
        acc = acc ^ tl.load(ptrs)
        ptrs += BK4
    tl.store(out_ptr + tl.program_id(0) * tl.num_programs(1) + tl.program_id(1), tl.sum(acc))


def packed(n, k, seed=0):
    g = torch.Generator(device="cuda").manual_seed(seed)
    w = torch.randn(n, k, device="cuda", generator=g) * 0.02
    q, s = quantize_mxfp8(w)
    p = pack_weights(q, s)
    return (p["marlin_weight"], p["marlin_scale"], p["marlin_row_scale"]), dequantize_mxfp8(q, s, torch.float32)


def gemv(x, pk, bn, bk, warps, decode="cvt", block_m=None):
    q, d, rs = pk
    m, k = x.shape
    n = rs.shape[0]
    y = torch.empty((m, n), dtype=x.dtype, device=x.device)
    bm = block_m or (1 if m == 1 else 2 if m == 2 else 4)
    kern.mx_w8a16_gemv[(triton.cdiv(n, bn),)](
        x, q, d, rs, y, y, m, n, k, x.stride(0), y.stride(0), d.stride(0),
        HAS_BIAS=False, BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=configs.fit_block_k(k, bk), DECODE=DECODES[decode],
        num_warps=warps, num_stages=1)
    return y


def dequant_into(pk, n0, n1, buf):
    q, d, rs = pk
    k = q.shape[1]
    nc = n1 - n0
    bk = configs.fit_block_k(k, 256)
    kern.mx_dequantize[(triton.cdiv(nc, 32), k // bk)](
        q[n0:n1], d[:, n0:], rs[n0:n1], buf, nc, k, d.stride(0), BLOCK_N=32, BLOCK_K=bk,
        DECODE=DECODES["asm"], DOT=tl.float16, num_warps=4)


class Chunked:
    """Dequantize N-chunks of ``rows`` rows into two buffers and cuBLAS each chunk into
    ``y[:, n0:n1]``; ``overlap``: chunk i+1 is dequantized on a side stream meanwhile."""

    def __init__(self, pk, rows, overlap, side):
        self.pk, self.rows, self.overlap, self.side = pk, rows, overlap, side
        n, k = pk[0].shape
        self.bounds = [(n0, min(n, n0 + rows)) for n0 in range(0, n, rows)]
        self.bufs = [torch.empty(rows * k, dtype=torch.bfloat16, device="cuda") for _ in range(2)]
        self.ev_deq = [torch.cuda.Event() for _ in self.bounds]
        self.ev_mm = [torch.cuda.Event() for _ in self.bounds]

    def buf(self, i):
        n0, n1 = self.bounds[i]
        return self.bufs[i % 2][: (n1 - n0) * self.pk[0].shape[1]].view(n1 - n0, -1)

    def deq(self, i):
        n0, n1 = self.bounds[i]
        dequant_into(self.pk, n0, n1, self.buf(i))

    def __call__(self, x, mode="both"):
        n = self.pk[0].shape[0]
        y = torch.empty((x.shape[0], n), dtype=x.dtype, device=x.device)
        if mode == "deq":
            for i in range(len(self.bounds)):
                self.deq(i)
            return y
        if mode == "mm":
            for i, (n0, n1) in enumerate(self.bounds):
                torch.mm(x, self.buf(i).t(), out=y[:, n0:n1])
            return y
        if not self.overlap:
            for i, (n0, n1) in enumerate(self.bounds):
                self.deq(i)
                torch.mm(x, self.buf(i).t(), out=y[:, n0:n1])
            return y
        main, side = torch.cuda.current_stream(), self.side
        side.wait_stream(main)
        with torch.cuda.stream(side):
            self.deq(0)
            self.ev_deq[0].record(side)
        for i, (n0, n1) in enumerate(self.bounds):
            if i + 1 < len(self.bounds):
                with torch.cuda.stream(side):
                    if i >= 1:
                        side.wait_event(self.ev_mm[i - 1])
                    self.deq(i + 1)
                    self.ev_deq[i + 1].record(side)
            main.wait_event(self.ev_deq[i])
            torch.mm(x, self.buf(i).t(), out=y[:, n0:n1])
            self.ev_mm[i].record(main)
        main.wait_stream(side)
        return y


def kernels_of(ch, k) -> dict:
    """Kernel name -> launches, for one serial chunked call at M=1024."""
    try:
        from torch.profiler import ProfilerActivity, profile

        x = torch.randn(1024, k, device="cuda").to(torch.bfloat16)
        ch(x)
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            ch(x)
            torch.cuda.synchronize()
        counts = {}
        for e in prof.events():
            if e.device_type == torch.autograd.DeviceType.CUDA:
                counts[e.name[:90]] = counts.get(e.name[:90], 0) + 1
    except Exception as exc:  # noqa: BLE001
        counts = {"profile failed": str(exc)[:200]}
    print(f"kernels of one serial chunked call ({len(ch.bounds)} chunks):", json.dumps(counts), flush=True)
    return counts


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="round2.json")
    ap.add_argument("--parts", default="probe,gemv,small,mid,chunk")
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--ms", default="1,4,16", help="M values of the small-M parts")
    ap.add_argument("--gemv", default="16x1024x8,8x2048x8,32x512x8,16x512x4,32x1024x8",
                    help="CUDA-core configs BNxBKxWARPS (hardware decode), plus BN16 BK1024 w8 with the asm decode")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    torch.manual_seed(0)
    flush = torch.ones(64 << 20, dtype=torch.int32, device="cuda")
    sms = num_sms(torch.device("cuda"))
    rows_out = []
    t_start = time.time()
    bw = copy_bandwidth(10)
    print(f"# {torch.cuda.get_device_name()} sms={sms} torch {torch.__version__} triton {triton.__version__} "
          f"copy {bw / 1e12:.2f} TB/s", flush=True)

    def rec(part, n, k, m, name, fn, check=None, ref=None, tol=None):
        row = {"part": part, "N": n, "K": k, "M": m, "variant": name}
        try:
            if check is not None:
                y = check()
                torch.cuda.synchronize()
                err = float((y.float() - ref).norm() / ref.norm())
                row["err"] = err
                if not (err <= tol):
                    row["bad"] = True
            row["us"] = graph_time_us(fn, args.reps, flush)
        except Exception as exc:  # noqa: BLE001
            row["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        rows_out.append(row)
        roof = n * k * (1 + 1 / 32) / bw * 1e6
        us = row.get("us")
        extra = f"{us:8.1f} us roof x{us / roof:4.2f}" if us else row.get("error", "")
        flag = " BAD" if row.get("bad") else ""
        print(f"{part:6s} {n:>5}x{k:<5} M={m:<5} {name:42s} {extra} err={row.get('err', float('nan')):.1e}{flag}",
              flush=True)
        return row

    layers = {}

    def layer(n, k):
        if (n, k) not in layers:
            layers[(n, k)] = packed(n, k)
        return layers[(n, k)]

    tol = lambda k: 2 * 2.0**-8 + k * 2.0**-24  # noqa: E731

    # ---------------------------------------------------------------- probe
    def part_probe():
        for n, k in [(8192, 8192), (4096, 4096)]:
            (q, d, rs), _ = layer(n, k)
            q4 = q.view(torch.int32)
            k4 = k // 4
            rec("probe", n, k, 0, "torch.sum(int32 view)", lambda: q4.sum())
            for bn, bk in [(64, 256), (32, 512), (16, 1024), (8, 2048), (128, 128), (4, 4096)]:
                for per_sm in (2,):
                    bk4 = bk // 4
                    tiles_k = k // bk
                    split = 1
                    while split * 2 <= tiles_k and (n // bn) * split * 2 <= per_sm * sms:
                        split *= 2
                    per = tiles_k // split
                    out = torch.empty((n // bn) * split, dtype=torch.int32, device="cuda")
                    fn = (lambda bn=bn, bk4=bk4, split=split, per=per, out=out:
                          read_probe[(n // bn, split)](q4, out, k4, per, BN=bn, BK4=bk4, num_warps=4))
                    rec("probe", n, k, 0, f"read BN{bn} BK{bk} split{split} ({(n // bn) * split} progs)", fn)
        layers.clear()
        torch.cuda.empty_cache()

    # ---------------------------------------------------------------- small M
    def part_small():
        for n, k in SHAPES:
            pk, w32 = layer(n, k)
            w_bf16 = w32.to(torch.bfloat16)
            for m in [int(v) for v in args.ms.split(",")]:
                x = torch.randn(m, k, device="cuda").to(torch.bfloat16)
                ref = x.float() @ w32.T
                rec("cublas", n, k, m, "bf16 F.linear", lambda: F.linear(x, w_bf16))
                if "small" in parts:
                    # the tensor-core kernel's config for this M (round 2 also timed BN32/BK512
                    # and BN16/BK1024 variants of it at M=1 and 16: 1.2-6x slower)
                    base = configs.choose(m, n, k, sms, (("strategy", "fused"),))
                    cands = [("default " + base.describe(), base)]
                    for name, c in cands:
                        fn = lambda c=c: run_gemm(x, *pk, None, torch.bfloat16, config=c)  # noqa: E731
                        rec("tc", n, k, m, name, fn, fn, ref, tol(k))
                if "gemv" in parts and m <= 4:
                    for bn, bk, warps in [tuple(int(v) for v in c.split("x")) for c in args.gemv.split(",")]:
                        fn = lambda bn=bn, bk=bk, warps=warps: gemv(x, pk, bn, bk, warps)  # noqa: E731
                        rec("gemv", n, k, m, f"gemv BN{bn} BK{bk} w{warps} cvt", fn, fn, ref, tol(k))
                    fn = lambda: gemv(x, pk, 16, 1024, 8, decode="asm")  # noqa: E731
                    rec("gemv", n, k, m, "gemv BN16 BK1024 w8 asm", fn, fn, ref, tol(k))
            del w_bf16
            layers.clear()
            torch.cuda.empty_cache()

    # ---------------------------------------------------------------- mid M
    # Rules for the M <= 128 bucket (a base config and the waves split-K aims for), on every shape.
    def part_mid():
        m = 64
        base = configs.choose(m, 4096, 4096, sms)
        rules = [(base, 1.0), (base, 2.0), (base, 4.0), (C("fused", 64, 64, 128, 1, 8, 4, 3, True), 1.0),
                 (C("fused", 64, 64, 128, 1, 8, 4, 3, True), 2.0), (C("fused", 64, 64, 256, 1, 8, 4, 3, False), 1.0)]
        for n, k in SHAPES:
            pk, w32 = layer(n, k)
            x = torch.randn(m, k, device="cuda").to(torch.bfloat16)
            ref = x.float() @ w32.T
            w_bf16 = w32.to(torch.bfloat16)
            rec("cublas", n, k, m, "bf16 F.linear", lambda: F.linear(x, w_bf16))
            for i, (rule, waves) in enumerate(rules):
                c = replace(rule, block_k=configs.fit_block_k(k, rule.block_k))
                c = replace(c, split_k=configs.fit_split_k(m, n, k, c, sms, waves))
                fn = lambda c=c: run_gemm(x, *pk, None, torch.bfloat16, config=c)  # noqa: E731
                rec("mid", n, k, m, f"rule{i} waves={waves} {c.describe()}", fn, fn, ref, tol(k))
            del w_bf16
            layers.clear()
            torch.cuda.empty_cache()
        rows_out.append({"part": "mid_rules", "rules": [(repr(r), w) for r, w in rules]})

    # ---------------------------------------------------------------- chunked dequant
    def part_chunk():
        side = torch.cuda.Stream()
        for n, k in SHAPES:
            pk, w32 = layer(n, k)
            w_bf16 = w32.to(torch.bfloat16)
            variants = {}
            for mb in (8, 16, 32):
                rows = max(256, (mb << 20) // (2 * k) // 256 * 256)
                rows = min(rows, n)
                for ov in (False, True):
                    variants[(mb, ov)] = Chunked(pk, rows, ov, side)
            for m in (256, 1024, 4096):
                x = torch.randn(m, k, device="cuda").to(torch.bfloat16)
                ref = x.float() @ w32.T
                rec("cublas", n, k, m, "bf16 F.linear", lambda: F.linear(x, w_bf16))
                fn = lambda: run_gemm(x, *pk, None, torch.bfloat16)  # noqa: E731
                rec("chunk", n, k, m, "current " + configs.choose(m, n, k, sms).describe(), fn, fn, ref, tol(k))
                if m == 256:
                    fn = lambda: run_gemm(x, *pk, None, torch.bfloat16, config=C("dequant"))  # noqa: E731
                    rec("chunk", n, k, m, "whole dequant+cublas", fn, fn, ref, tol(k))
                for (mb, ov), ch in variants.items():
                    fn = lambda ch=ch: ch(x)  # noqa: E731
                    rec("chunk", n, k, m, f"{'overlap' if ov else 'serial'} {mb}MB ({ch.rows} rows)", fn, fn, ref,
                        tol(k))
                    if not ov:
                        rec("halves", n, k, m, f"deq only {mb}MB", lambda ch=ch: ch(x, "deq"))
                        rec("halves", n, k, m, f"mm only {mb}MB", lambda ch=ch: ch(x, "mm"))
            if (n, k) == (4096, 4096):  # which kernels does one chunked call launch? (no hidden copies)
                rows_out.append({"part": "profile", "kernels": kernels_of(variants[(8, False)], k)})
            del variants, w_bf16
            layers.clear()
            torch.cuda.empty_cache()

    for name, fn in (("probe", part_probe), ("small", part_small), ("mid", part_mid), ("chunk", part_chunk)):
        if name in parts or (name == "small" and "gemv" in parts):
            try:
                fn()
            except Exception:  # noqa: BLE001
                traceback.print_exc()
            layers.clear()
            torch.cuda.empty_cache()
    print(f"# total {time.time() - t_start:.0f}s", flush=True)
    with open(args.out, "w") as f:
        json.dump({"device": torch.cuda.get_device_name(), "copy_bw": bw, "torch": torch.__version__,
                   "triton": triton.__version__, "rows": rows_out}, f, indent=0)
    summarize(rows_out, bw)
    return 0


def summarize(rows, bw):
    """Per shape and M: cuBLAS, and the best two variants of each part (x = speed-up)."""
    print("\n## summary (us; x = cuBLAS / variant; roof = time / MXFP8 roofline)")
    probe = [r for r in rows if r["part"] == "probe" and "us" in r]
    for r in probe:
        gbs = r["N"] * r["K"] / r["us"] / 1e3
        print(f"probe {r['N']}x{r['K']} {r['variant']:40s} {r['us']:7.1f} us  {gbs:6.0f} GB/s read")
    keys = sorted({(r["N"], r["K"], r["M"]) for r in rows if "N" in r and r["part"] != "probe"})
    for key in keys:
        sel = [r for r in rows if (r.get("N"), r.get("K"), r.get("M")) == key and "us" in r]
        cub = next((r["us"] for r in sel if r["part"] == "cublas"), float("nan"))
        roof = key[0] * key[1] * (1 + 1 / 32) / bw * 1e6
        parts = []
        for part in ("tc", "gemv", "mid", "chunk"):
            cand = sorted((r for r in sel if r["part"] == part and not r.get("bad")), key=lambda r: r["us"])
            for r in cand[:2]:
                parts.append(f"{part}:{r['variant'].strip()} {r['us']:.1f} (x{cub / r['us']:.2f}, roof {r['us'] / roof:.2f})")
            cur = [r for r in sel if r["variant"].startswith("current") or r["variant"].startswith("default")]
            for r in cur:
                if r not in cand[:2] and r["part"] == part:
                    parts.append(f"{part}:{r['variant']} {r['us']:.1f} (x{cub / r['us']:.2f})")
        bad = [r["variant"] for r in rows if (r.get("N"), r.get("K"), r.get("M")) == key and (r.get("bad") or "error" in r)]
        print(f"{key[0]}x{key[1]} M={key[2]} cublas {cub:.1f} | " + " | ".join(parts) + (f" | BAD/ERR {bad}" if bad else ""))


if __name__ == "__main__":
    sys.exit(main())
