"""Round 23 probe (a program, not a test): the pingpong kernel at M that its activation
tile does not divide. For each case: the table's config (``configs.choose``) with each
``--pads`` value of ``configs.PINGPONG_PAD_MAX_ROWS`` (x copied into zero rows up to whole
tiles where ``configs.padded_rows`` says, the copy timed with the call; 0: never); each
``--alt`` (``choose`` with those overrides, so the split is fitted to that tile); ``run_gemm``'s
own choice with each ``--row-splits`` value of ``configs.ROW_SPLIT_MAX_TILES`` (0: never);
cuBLAS bf16. Every output is checked against the float32 reference. Timing as in
``bench/bench_gemm.py`` (CUDA graph, L2 flushed before each replay, median).

    python plugins/marlin/tools/odd_m_probe.py --cases 14336x4096:300 [--pads 0,64] \\
        [--alt block_m=128] [--rounds 2] [--out f.json]
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from mxfp8_marlin import configs
from mxfp8_marlin.kernel import num_sms, run_gemm
from probe_common import Case, check_rounds, int_list, parse_cases, parse_set, timed_rounds  # tools/


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default="14336x4096:300")
    ap.add_argument("--alt", action="append", default=[], help="overrides for choose(), e.g. block_m=128")
    ap.add_argument("--pads", default="0,64", help="configs.PINGPONG_PAD_MAX_ROWS values for the table's config")
    ap.add_argument("--row-splits", default="", help="configs.ROW_SPLIT_MAX_TILES values: run_gemm's own "
                    "choice (no config given) with each")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", default="odd_m_probe.json")
    args = ap.parse_args()
    cases, alts = parse_cases(args.cases), [parse_set(a, "--alt") for a in args.alt]
    default_pad = configs.PINGPONG_PAD_MAX_ROWS  # the alternatives run with the default
    args.pads, args.row_splits = int_list("--pads", args.pads), int_list("--row-splits", args.row_splits)
    check_rounds(args.rounds)
    torch.manual_seed(0)
    flush = torch.ones(64 << 20, dtype=torch.int32, device="cuda")
    sms = num_sms(torch.device("cuda"))
    print(f"# {torch.cuda.get_device_name()} torch {torch.__version__}", flush=True)
    rows = []
    for n, k, m in cases:
        case = Case.make(n, k, m)
        x, packed, tk = case.x, case.packed, case.tile_k
        table = configs.choose(m, n, k, sms, tile_k=tk, wgmma=True)

        def padded(pad, cfg=table):
            configs.PINGPONG_PAD_MAX_ROWS = pad  # read when the call is captured
            return run_gemm(x, *packed, None, x.dtype, config=cfg)

        variants = {f"table, pad max {pad} {table.describe()}": functools.partial(padded, pad) for pad in args.pads}

        def default(tiles):
            configs.PINGPONG_PAD_MAX_ROWS = default_pad  # whatever a padded variant set before
            configs.ROW_SPLIT_MAX_TILES = tiles  # read when the call is captured
            return run_gemm(x, *packed, None, x.dtype)

        for tiles in args.row_splits:
            variants[f"default, row split up to {tiles} tiles"] = functools.partial(default, tiles)
        for alt in alts:
            cfg = configs.choose(m, n, k, sms, tuple(alt.items()), tile_k=tk, wgmma=True)
            variants[f"alt {cfg.describe()}"] = functools.partial(padded, default_pad, cfg)
        for name, fn in variants.items():
            case.error(fn(), f"{n}x{k} M={m} {name}")
        variants["cuBLAS F.linear bf16"] = lambda: F.linear(x, case.wb)
        times = timed_rounds(variants, args.rounds, flush)
        for name, us in times.items():
            print(f"{n:>5}x{k:<5} M={m:<5} {name:72s} {' '.join(f'{t:7.1f}' for t in us)} us", flush=True)
        rows.append({"N": n, "K": k, "M": m, "us": times})
    Path(args.out).write_text(json.dumps({"device": torch.cuda.get_device_name(), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
