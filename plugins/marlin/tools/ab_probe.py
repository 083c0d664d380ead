"""A/B of one config change, or of two versions of the Gluon kernels, on an sm_90 GPU
(round 22; a program, not a test): for each case, the table's config (``configs.choose``)
against the same with ``--set`` applied and/or with ``_gluon.py`` taken from another file
(``--b-gluon``, e.g. an earlier commit's: ``git show HEAD~1:plugins/marlin/mxfp8_marlin/_gluon.py``), in
alternating rounds with cuBLAS bf16 timed in each, every output checked against the
float32 reference. Alternation and repeats show a change's effect beside the run-to-run
spread of both (at 14336x4096, M = 1024, cuBLAS alone moved between 147 and 154 us).
``--same``: B's outputs must also equal A's bit for bit (exit status 1 otherwise), for a
change meant to keep every sum and its order. ``--a-set``: A is the table's config with
these fields (B then starts from that A). ``--a-table``: A is chosen with these constants of
``configs`` (e.g. ``PINGPONG_FILL_EXP=0``: the table before a rule; ``old``: before rounds 35-45's
rules; B is chosen without them).
``--b-table``: B is chosen with these constants (and A's and B's fields as overrides): a rule
measured before the table takes it.

Timing as in ``bench/bench_gemm.py`` (CUDA graph, L2 flushed before each replay, median).

    python plugins/marlin/tools/ab_probe.py --cases 14336x4096:1024,8192x8192:4096 \\
        --set split_skew=0 [--b-gluon old_gluon.py] [--rounds 2] [--out ab.json] > ab.txt
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import sys
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F

import mxfp8_marlin
from mxfp8_marlin import configs
from mxfp8_marlin.kernel import num_sms, run_gemm
from probe_common import (Case, check_rounds, parse_cases, parse_constants, parse_set, table_constants,
                          timed_rounds)  # tools/: this script's directory


def load_gluon(path: str):
    """``path`` loaded as the plugin's ``_gluon`` module (its relative imports resolve in
    the installed package)."""
    spec = importlib.util.spec_from_file_location("mxfp8_marlin._gluon_b", path)
    if spec is None:
        raise SystemExit(f"--b-gluon: {path!r} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def gluon_module(module):
    """``kernel._launch_wgmma`` imports ``_gluon`` from the package at each call: point it at
    ``module`` meanwhile (``None``: leave it)."""
    if module is None:
        yield
        return
    from mxfp8_marlin import _gluon
    sys.modules["mxfp8_marlin._gluon"] = mxfp8_marlin._gluon = module
    try:
        yield
    finally:
        sys.modules["mxfp8_marlin._gluon"] = mxfp8_marlin._gluon = _gluon


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default="14336x4096:1024", help="NxK:M,...")
    ap.add_argument("--set", default="", help="the B config: A's with these fields, e.g. split_skew=0")
    ap.add_argument("--a-set", default="", help="the A config: the table's with these fields (default: the table's)")
    ap.add_argument("--a-table", default="",
                    help="A is chosen with these constants of configs, e.g. PINGPONG_FILL_EXP=0; "
                         "old: the table before rounds 35-45's rules (probe_common.OLD_TABLE)")
    ap.add_argument("--b-table", default="",
                    help="B is chosen with these constants of configs (and --set's fields), e.g. PINGPONG_FILL_EXP=0.5")
    ap.add_argument("--b-gluon", default="", help="B runs the Gluon kernels of this file (a _gluon.py)")
    ap.add_argument("--b-choose", action="store_true",
                    help="B is configs.choose with A's and B's fields as overrides, not A with B's fields")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--same", action="store_true",
                    help="also require B's outputs to equal A's bit for bit (a change that keeps every sum)")
    ap.add_argument("--out", default="ab_probe.json")
    args = ap.parse_args()
    if not args.set and not args.b_gluon and not args.b_table:
        raise SystemExit("give --set, --b-table, --b-gluon or more: B must differ from A")
    if args.b_choose and not args.set:
        raise SystemExit("--b-choose needs --set: the fields the table chooses B's config with")
    change = parse_set(args.set) if args.set else {}
    a_change = parse_set(args.a_set, "--a-set") if args.a_set else {}
    a_table = parse_constants(args.a_table, "--a-table") if args.a_table else {}
    b_table = parse_constants(args.b_table, "--b-table") if args.b_table else {}
    b_gluon = load_gluon(args.b_gluon) if args.b_gluon else None
    cases = parse_cases(args.cases)
    check_rounds(args.rounds)
    torch.manual_seed(0)
    flush = torch.ones(64 << 20, dtype=torch.int32, device="cuda")
    sms = num_sms(torch.device("cuda"))
    print(f"# {torch.cuda.get_device_name()} torch {torch.__version__}; A = the table's config"
          f"{f' (the table with {a_table})' if a_table else ''}{f' with {a_change}' if a_change else ''}; B = "
          f"{f'the table with {b_table}, chosen with' if b_table else ''}"
          f"{'' if b_table else 'the table chosen with' if args.b_choose else 'A with'} {change}"
          f"{f', the Gluon kernels of {args.b_gluon}' if args.b_gluon else ''}", flush=True)
    rows = []
    for n, k, m in cases:
        case = Case.make(n, k, m)
        with table_constants(a_table):
            a = replace(configs.choose(m, n, k, sms, tile_k=case.tile_k, wgmma=True), **a_change)
        with table_constants(b_table):
            b = (configs.choose(m, n, k, sms, tuple({**a_change, **change}.items()), tile_k=case.tile_k, wgmma=True)
                 if args.b_choose or b_table else replace(a, **change))
        variants = {"A": a, "B": b}
        # A config given to run_gemm runs whole; the table's own call would split off the last
        # rows past whole 256-row tiles (configs.row_split): say so rather than time it as the table's.
        one_launch = [tag for tag, cfg in variants.items() if configs.row_split(m, cfg) < m]
        if one_launch:
            print(f"# {n}x{k} M={m}: {' and '.join(one_launch)} timed as one launch; the table's call splits "
                  f"off the last {m - m // 256 * 256} rows (configs.row_split)", flush=True)

        def call(tag):
            def fn():
                with gluon_module(b_gluon if tag == "B" else None):
                    return run_gemm(case.x, *case.packed, None, case.x.dtype, config=variants[tag])
            return fn

        fns = {tag: call(tag) for tag in variants}
        fns["cuBLAS"] = lambda: F.linear(case.x, case.wb)

        def check(tag, fn):  # every round, before the variant is timed
            if tag in variants:
                case.error(fn(), f"{n}x{k} M={m} {variants[tag].describe()}")

        if args.same:
            same = torch.equal(fns["A"](), fns["B"]())
            print(f"{n:>5}x{k:<5} M={m:<5} B's output {'equals' if same else 'DIFFERS FROM'} A's bit for bit",
                  flush=True)
            if not same:
                return 1
        times = timed_rounds(fns, args.rounds, flush, check)
        for tag, us in times.items():
            name = variants[tag].describe() if tag in variants else "F.linear bf16"
            print(f"{n:>5}x{k:<5} M={m:<5} {tag:6s} {name:70s} {' '.join(f'{t:7.1f}' for t in us)} us", flush=True)
        rows.append({"N": n, "K": k, "M": m, "A": a.describe(), "B": variants["B"].describe(), "us": times,
                     "one_launch": one_launch})
    Path(args.out).write_text(json.dumps({"device": torch.cuda.get_device_name(), "a_set": args.a_set,
                                          "a_table": args.a_table, "b_table": args.b_table, "set": args.set,
                                          "b_choose": args.b_choose, "b_gluon": args.b_gluon, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
