"""The Gluon kernels (``strategy="pingpong"``, the warp-specialized one, unless a config
says ``wgmma:``; ``persistent:`` its persistent mode) on an sm_90 GPU, in one device call
(a program, not a test): first a validation sweep (every output written, within the error
bound of the float32 reference, bit-identical over repeats), then its speed on the
benchmark's four shapes against cuBLAS bf16, the default (``run_gemm`` without a config),
the default made persistent, the table without the Gluon kernels, and dequantize +
cuBLAS; a config without split-K whose last wave is partial is also timed with that wave
split (``split_tail``), and a config split in K with a split skew (4 and 8 K tiles for
pingpong, 2 and 4 for wgmma).
Timing as in ``bench/bench_gemm.py``.

    python plugins/marlin/tools/pingpong_probe.py [--configs 256,128,64,4;...] [--skip-validate] > probe.txt
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

from mxfp8_marlin import configs
from mxfp8_marlin.kernel import num_sms, run_gemm

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
from bench_gemm import graph_time_us  # noqa: E402  (the benchmark's timing, shared)
from gluon_validate import bound, case_weights, check_case  # noqa: E402  (tools/: this script's own directory)
from probe_common import int_list  # noqa: E402

SHAPES = [(4096, 4096), (14336, 4096), (4096, 14336), (8192, 8192)]  # (N, K)
# One consumer (BN 64) is left out: its machine code has round 16's hazard (round 23).
CONFIGS = "256,128,64,4;256,128,64,3;128,128,64,4;128,128,64,6"


def parse(spec: str) -> configs.Config:
    """``[strategy:]BM,BN,BK,stages[,group_n]`` (strategy ``pingpong`` unless given, e.g.
    ``wgmma``, or ``persistent``: the pingpong kernel, persistent)."""
    strategy, _, sizes = spec.rpartition(":")
    bm, bn, bk, stages, *group_n = (int(v) for v in sizes.split(","))
    return configs.Config("pingpong" if strategy in ("", "persistent") else strategy, block_m=bm, block_n=bn,
                          block_k=bk, group_n=group_n[0] if group_n else 8, num_warps=4, num_stages=stages,
                          persistent=strategy == "persistent")


def validate(cfgs, repeats: int, splits=(1, 3), both_bias: bool = False) -> int:
    torch.manual_seed(0)
    bad = 0
    for (n, k), act in itertools.product(((4096, 4096), (4993, 320), (1000, 4096)), (torch.bfloat16, torch.float16)):
        p, w32 = case_weights(torch.randn(n, k, device="cuda") * 0.02)
        bias = torch.randn(n, device="cuda").to(act)
        tol = bound(act, n, k)
        for cfg0, m, split, bias_turn in itertools.product(cfgs, (1, 17, 256, 300, 1024), splits,
                                                           (False, True) if both_bias else (None,)):
            # As run_gemm does: a K tile within one packed column block (check_case launches directly).
            cfg = replace(cfg0, split_k=split, block_k=configs.fit_block_k(p["marlin_weight"].shape[2], cfg0.block_k))
            if cfg.persistent:  # splits of K that suit its stage ring (persistent_fits), where K has one
                k_tiles = k // cfg.block_k
                fits = [s for s in (split, 2, 1) if configs.persistent_fits(k_tiles, s, cfg.num_stages)]
                cfg = replace(cfg, split_k=fits[0] if fits else 0)
                if not cfg.split_k:
                    continue
            x = torch.randn(m, k, device="cuda").to(act)
            with_bias = split == 3 if bias_turn is None else bias_turn
            problems = check_case(x, p, w32, bias if with_bias else None, cfg, repeats, tol)
            bad += bool(problems)
            print(f"{'BAD ' if problems else 'ok  '}N={n} K={k} {str(act)[6:]} M={m} bias={with_bias} "
                  f"{cfg.describe()} {'; '.join(sorted(set(problems)))}", flush=True)
    print(f"# validation: {bad} bad", flush=True)
    return bad


def speed(cfgs, out: str, ms: tuple[int, ...], waves_list: tuple[float, ...], shapes=SHAPES) -> None:
    torch.manual_seed(0)
    flush = torch.ones(64 << 20, dtype=torch.int32, device="cuda")
    sms = num_sms(torch.device("cuda"))
    rows = []
    for n, k in shapes:
        w = torch.randn(n, k, device="cuda") * 0.02
        p, w32 = case_weights(w)
        args = (p["marlin_weight"], p["marlin_scale"], p["marlin_row_scale"])
        wb = w.to(torch.bfloat16)
        tol = bound(torch.bfloat16, n, k)
        for m in ms:
            x = torch.randn(m, k, device="cuda").to(torch.bfloat16)
            ref = x.float() @ w32.T
            base = graph_time_us(lambda: F.linear(x, wb), 30, flush)
            tk = args[0].shape[2]
            new, old = (configs.choose(m, n, k, sms, tile_k=tk, wgmma=g) for g in (True, False))
            cands = [("default " + new.describe(), None), ("Triton table " + old.describe(), old),
                     ("dequant+cublas", configs.Config("dequant"))]
            if (new.strategy == "pingpong" and not new.persistent
                    and configs.persistent_fits(k // new.block_k, new.split_k, new.num_stages, new.split_skew)):
                cands.append(("default, persistent " + new.describe(), replace(new, persistent=True)))
            for cfg0, waves in itertools.product(cfgs, waves_list):
                cfg = replace(cfg0, split_k=configs.fit_split_k(m, n, k, cfg0, sms, waves, 4))
                cands.append((f"{cfg.describe()} waves{waves:g}", cfg))
                tiles = configs.output_tiles(m, n, cfg)
                if cfg.split_k == 1 and (tail := configs.tail_split(tiles, k // cfg.block_k, sms)) > 1:
                    cands.append((replace(cfg, split_k=tail, split_tail=True).describe(),
                                  replace(cfg, split_k=tail, split_tail=True)))
            for name, cfg in list(cands):  # the split-K fix-up with the first split handing K tiles to the second
                c = new if cfg is None else cfg
                if c.strategy in ("wgmma", "pingpong") and c.split_k >= 2 and not c.split_skew:
                    for skew in (4, 8) if c.strategy == "pingpong" else (2, 4):
                        cands.append((f"{replace(c, split_skew=skew).describe()}", replace(c, split_skew=skew)))
            seen = set()
            for name, cfg in cands:
                if name.split(" waves")[0] in seen:
                    continue
                seen.add(name.split(" waves")[0])
                fn = lambda cfg=cfg: run_gemm(x, *args, None, x.dtype, config=cfg)  # noqa: E731
                row = {"N": n, "K": k, "M": m, "variant": name, "cublas_us": base}
                try:
                    y = fn()
                    row["err"] = float((y.float() - ref).norm() / ref.norm())
                    row["us"] = graph_time_us(fn, 30, flush)
                    flag = "" if row["err"] <= tol else " BAD"
                    print(f"{n:>5}x{k:<5} M={m:<5} {name:58s} {row['us']:8.1f} us  x{base / row['us']:5.2f}  "
                          f"(cuBLAS {base:7.1f})  err={row['err']:.1e}{flag}", flush=True)
                except Exception as exc:  # noqa: BLE001
                    row["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
                    print(f"{n:>5}x{k:<5} M={m:<5} {name:58s} {row['error'][:200]}", flush=True)
                rows.append(row)
    Path(out).write_text(json.dumps({"device": torch.cuda.get_device_name(), "rows": rows}, indent=1))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", default=CONFIGS, help="[strategy:]BM,BN,BK,stages[,group_n] separated by ';'")
    ap.add_argument("--ms", default="256,1024,4096")
    ap.add_argument("--waves", default="1")
    ap.add_argument("--shapes", default=",".join(f"{n}x{k}" for n, k in SHAPES), help="NxK,...")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-validate", action="store_true")
    ap.add_argument("--validate-only", action="store_true")
    ap.add_argument("--splits", default="1,3", help="split-K values of the validation sweep")
    ap.add_argument("--both-bias", action="store_true",
                    help="validate every case with and without a bias (default: a bias with split 3 only)")
    ap.add_argument("--out", default="pingpong_probe.json")
    args = ap.parse_args()
    cfgs = [parse(c) for c in args.configs.split(";")]
    splits = tuple(int_list("--splits", args.splits))
    print(f"# {torch.cuda.get_device_name()} torch {torch.__version__}", flush=True)
    if not args.skip_validate:
        validate(cfgs, args.repeats, splits, args.both_bias)
    if not args.validate_only:
        speed(cfgs, args.out, tuple(int(v) for v in args.ms.split(",")), tuple(float(v) for v in args.waves.split(",")),
              [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
