"""What bounds the M <= 16 kernels on an sm_90 GPU (round 21; a program, not a test). In one
device call, for each benchmark shape:

- a bare read of the packed weight by TMA (no decode, no MMA): the M <= 16 Gluon kernel's
  grid, boxes and stage ring (``bare_read``), with the box width, the stage count, the
  programs per SM and the column-block width of the layout (``TK``) varied; ``touch``:
  each stage also read from shared memory into registers, as the decode does;
- the M <= 16 Gluon kernel itself, launched directly (``kernel._launch_wgmma``, so also the
  stage counts and tiles ``run_gemm`` refuses), with the same variations and wider tiles,
  at M = 1, 4 and 16, each output checked against the float32 reference;
- the warp-specialized Gluon kernel with 16 activation rows (``ws``: a loader warp and two
  consumer warpgroups of 64 weight rows, so a stage is refilled as soon as both have
  decoded it, and each decodes its next tile while its wgmma runs), launched directly;
- the CUDA-core kernel, the default (``run_gemm`` without a config, timed again after the
  shape's other variants) and cuBLAS bf16;
- once, the floor: a kernel of one program per SM that does nothing, so the fixed cost of a
  launch as this timing sees it.

Timing as in ``bench/bench_gemm.py`` (CUDA graph, L2 flushed before each replay, median;
``--in-graph CALLS``: each call's cost in a graph of that many calls, as the benchmark's
second table).

    python plugins/marlin/tools/stream_probe.py --out stream_probe.json > stream_probe.txt
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from triton.experimental.gluon.language.nvidia.hopper import fence_async_shared, mbarrier, tma
from triton.experimental.gluon.nvidia.hopper import TensorDescriptor

from mxfp8_core import quantize_mxfp8
from mxfp8_marlin import _triton, configs
from mxfp8_marlin._gluon import _program_tile, shared_layouts
from mxfp8_marlin.kernel import _launch_wgmma, num_sms, run_gemm
from mxfp8_marlin.packing import pack_weights, unpack_weights

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
from bench_gemm import graph_time_us, in_graph_us  # noqa: E402  (the benchmark's timings, shared)

SHAPES = [(4096, 4096), (14336, 4096), (4096, 14336), (8192, 8192)]  # (N, K)


@gluon.jit
def bare_read(w_desc, out_ptr, N, K, NP, SPLIT_K, TK: gl.constexpr, BLOCK_N: gl.constexpr, BLOCK_K: gl.constexpr,
              STAGES: gl.constexpr, GROUP_N: gl.constexpr, TOUCH: gl.constexpr):
    """Program ``p`` reads by TMA the weight boxes that program ``p`` of ``mx_w8a16_wgmma``
    (16 activation rows, split ``SPLIT_K``) would, through a ring of ``STAGES`` buffers,
    each refilled as soon as it has landed (``TOUCH``: and been read into registers)."""
    _, _, n0, _, _, kt_begin, count = _program_tile(gl.program_id(0), 16, N, K, 0, SPLIT_K, 0, 16, BLOCK_N, BLOCK_K,
                                                    GROUP_N)
    bufs = gl.allocate_shared_memory(gl.uint8, [STAGES, BLOCK_N, BLOCK_K], w_desc.layout)
    bars = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    for s in gl.static_range(STAGES):
        mbarrier.init(bars.index(s), count=1)
    fence_async_shared()
    for s in gl.static_range(STAGES):
        _box(w_desc, bars.index(s), bufs.index(s), kt_begin + s, n0, NP, TK, BLOCK_K, s < count)
    layout: gl.constexpr = gl.BlockedLayout([1, 16], [4, 8], [4, 1], [1, 0])
    acc = gl.zeros([BLOCK_N, BLOCK_K], gl.int32, layout)
    for i in range(count):
        st = i % STAGES
        mbarrier.wait(bars.index(st), (i // STAGES) & 1)
        if TOUCH:
            acc += bufs.index(st).load(layout).to(gl.int32)
            gl.thread_barrier()  # every warp is past the buffer before it is refilled
        _box(w_desc, bars.index(st), bufs.index(st), kt_begin + i + STAGES, n0, NP, TK, BLOCK_K, i + STAGES < count)
    gl.store(out_ptr + gl.program_id(0), gl.sum(gl.sum(acc, 1), 0))


@gluon.jit
def _box(w_desc, bar, buf, kt, n0, NP, TK: gl.constexpr, BLOCK_K: gl.constexpr, pred):
    k0 = kt * BLOCK_K
    mbarrier.expect(bar, w_desc.block_type.nbytes, pred=pred)
    tma.async_copy_global_to_shared(w_desc, [(k0 // TK) * NP + n0, k0 % TK], bar, buf, pred=pred)


@gluon.jit
def nothing(out_ptr):
    """Does nothing but exist: its time is the fixed cost of one launch in a replayed graph."""
    if gl.program_id(0) < 0:
        gl.store(out_ptr, 0)


def bare(q, n: int, k: int, bn: int, bk: int, stages: int, split: int, touch: bool):
    """A callable that runs ``bare_read`` over the packed weight ``q``."""
    blocks, np_, tk = q.shape
    q2 = q.view(blocks * np_, tk)
    layout = shared_layouts(16, bn, bk, torch.bfloat16)[1]
    desc = TensorDescriptor(q2, list(q2.shape), list(q2.stride()), [bn, bk], layout)
    grid = (-(-n // bn) * split,)
    out = torch.empty(grid[0], dtype=torch.int32, device=q.device)
    return lambda: bare_read[grid](desc, out, n, k, np_, split, TK=tk, BLOCK_N=bn, BLOCK_K=bk, STAGES=stages,
                                   GROUP_N=8, TOUCH=touch, num_warps=4)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="stream_probe.json")
    ap.add_argument("--shapes", default=",".join(f"{n}x{k}" for n, k in SHAPES), help="NxK,...")
    ap.add_argument("--tks", default="512,256,128", help="column-block widths of the layout")
    ap.add_argument("--stages", default="4,6,8")
    ap.add_argument("--tiles", default="64,128", help="BLOCK_N,BLOCK_K of the M <= 16 Gluon tile, separated by ';'")
    ap.add_argument("--ms", default="1,4,16")
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--in-graph", type=int, default=0, metavar="CALLS",
                    help="time each call in a graph of CALLS calls (bench_gemm.in_graph_us), not replayed alone")
    ap.add_argument("--parts", default="bare,wgmma,ws", help="which of bare, wgmma, ws to time")
    args = ap.parse_args()
    torch.manual_seed(0)
    dev = torch.device("cuda")
    sms = num_sms(dev)
    flush = torch.ones(64 << 20, dtype=torch.int32, device=dev)
    tks = [int(v) for v in args.tks.split(",")]
    stage_list = [int(v) for v in args.stages.split(",")]
    ms = [int(v) for v in args.ms.split(",")]
    parts = set(args.parts.split(","))
    tiles = [tuple(int(v) for v in t.split(",")) for t in args.tiles.split(";")]
    rows = []
    print(f"# {torch.cuda.get_device_name()} torch {torch.__version__}, {sms} SMs", flush=True)
    sink = torch.zeros(1, dtype=torch.int32, device=dev)
    def timed(fn):
        if args.in_graph:
            return in_graph_us(fn, args.reps, flush, args.in_graph)
        return graph_time_us(fn, args.reps, flush)

    floor = timed(lambda: nothing[(sms,)](sink, num_warps=4))
    rows.append({"variant": "floor (an empty kernel, one program per SM)", "us": floor})
    print(f"floor (an empty kernel, one program per SM): {floor:.2f} us", flush=True)

    def record(n, k, m, name, fn, ref=None, base=None):
        row = {"N": n, "K": k, "M": m, "variant": name}
        try:
            y = fn()
            if ref is not None:
                row["err"] = float((y.float() - ref).norm() / ref.norm())
            row["us"] = timed(fn)
        except Exception as exc:  # noqa: BLE001  (a variant that fails to compile or launch is reported)
            row["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        rows.append(row)
        roof = n * k * (1 + 1 / 32) / 1e6  # MB of the MXFP8 weight
        text = row.get("error", "")[:160] or (
            f"{row['us']:8.1f} us  {roof / row['us']:5.2f} TB/s"
            + (f"  x{base / row['us']:5.2f} cuBLAS" if base else "")
            + (f"  err {row['err']:.1e}" if "err" in row else ""))
        print(f"{n:>5}x{k:<5} M={m:<3} {name:52s} {text}", flush=True)
        return row.get("us")

    for n, k in [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]:
        w = torch.randn(n, k, device=dev) * 0.02
        wq, ws = quantize_mxfp8(w)
        wb = w.to(torch.bfloat16)
        packs = {tk: pack_weights(wq, ws, tile=tk) for tk in tks}
        w32 = unpack_weights(*(packs[tks[0]][key] for key in ("marlin_weight", "marlin_scale", "marlin_row_scale")))
        split16 = configs.choose(16, n, k, sms, tile_k=tks[0], wgmma=True).split_k
        # The bare read: the M <= 16 tile's grid (split16) and twice/half its programs.
        for tk in tks if "bare" in parts else ():
            q = packs[tk]["marlin_weight"]
            for bn, bk in ((64, 128), (64, 256), (128, 128)):
                if bk > tk:
                    continue
                for stages in stage_list:
                    for split in sorted({split16, max(1, split16 // 2), split16 * 2}):
                        if k // bk // split < 2:
                            continue
                        for touch in (False, True):
                            record(n, k, 0, f"bare TK{tk} BN{bn} BK{bk} s{stages} SK{split}{' touch' if touch else ''}",
                                   bare(q, n, k, bn, bk, stages, split, touch))
        for m in ms:
            x = torch.randn(m, k, device=dev).to(torch.bfloat16)
            ref = x.float() @ w32.T
            default = f"default {configs.choose(m, n, k, sms, tile_k=tks[0], wgmma=True).describe()}"
            base = record(n, k, m, "cuBLAS bf16", lambda: F.linear(x, wb))
            for tk in tks:
                p = packs[tk]
                args3 = (p["marlin_weight"], p["marlin_scale"], p["marlin_row_scale"])
                if tk == tks[0]:
                    record(n, k, m, default, lambda: run_gemm(x, *args3, None, x.dtype), ref, base)
                for bn in (4, 16) if m <= 4 else ():
                    gemv = replace(configs.GEMV, block_m=configs.gemv_block_m(m), block_n=bn,
                                   block_k=configs.fit_block_k(tk, configs.GEMV.block_k))
                    record(n, k, m, f"TK{tk} {gemv.describe()}",
                           lambda: run_gemm(x, *args3, None, x.dtype, config=gemv), ref, base)
                for stages, bk in itertools.product(stage_list, (128, 64)) if "ws" in parts else ():
                    # One program per SM: split K to about one wave (as configs.pingpong_for does).
                    ws = configs.Config("pingpong", block_m=16, block_n=128, block_k=bk, num_stages=stages)
                    fit = configs.fit_split_k(16, n, k, ws, sms, 1.0, 4)
                    for split in sorted({fit, max(1, fit // 2), fit * 2}):
                        c = replace(ws, split_k=split)
                        record(n, k, m, f"TK{tk} ws {c.describe()}",
                               lambda c=c: _launch_wgmma(_triton, x, *args3, None, x.dtype, c), ref, base)
                for (bn, bk), stages in itertools.product(tiles, stage_list) if "wgmma" in parts else ():
                    if bk > tk:
                        continue
                    over = (("num_stages", stages), ("block_n", bn), ("block_k", bk))
                    cfg = configs.choose(16, n, k, sms, overrides=over, tile_k=tk, wgmma=True)
                    for split in sorted({cfg.split_k, max(1, cfg.split_k // 2), cfg.split_k * 2}):
                        c = replace(cfg, split_k=split)
                        if k // c.block_k // split < 2:
                            continue
                        record(n, k, m, f"TK{tk} {c.describe()}",
                               lambda c=c: _launch_wgmma(_triton, x, *args3, None, x.dtype, c), ref, base)
            p = packs[tks[0]]
            record(n, k, m, default + " (again)",
                   lambda: run_gemm(x, p["marlin_weight"], p["marlin_scale"], p["marlin_row_scale"], None, x.dtype),
                   ref, base)
    timing = f"in a graph of {args.in_graph} calls" if args.in_graph else "replayed alone"
    Path(args.out).write_text(json.dumps({"device": torch.cuda.get_device_name(), "timing": timing, "rows": rows},
                                         indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
