"""Where the split-K fix-up of the warp-specialized kernel spends its time (round 29; a
program, not a test; sm_90). Round 20d put the fix-up of a tile split in two at about 9 us
(256-row tile) and 4-5 us (128-row) by comparing shapes of equal work; this probe takes the
fix-up apart on the same shape instead. For each case, the table's config runs with the
shipped ``_gluon.py`` (A, its output checked against the float32 reference) and with copies
whose ``_split_k_fixup`` leaves out one part (timing only: their outputs are wrong):

- ``no_store``: the first split does not store its partial (it still releases it);
- ``no_wait``: the last split does not spin until the partial is released;
- ``no_load``: the last split waits but does not read the partial (its own sum is stored);
- ``none``: no fix-up at all: every split runs the epilogue on its own partial.

Alternating rounds, timed as ``bench/bench_gemm.py`` times (CUDA graph, L2 flushed, median).

    python plugins/marlin/tools/fixup_probe.py --cases 8192x8192:256,4096x4096:256 > fixup.txt
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

from mxfp8_marlin import configs
from mxfp8_marlin.kernel import num_sms, run_gemm
from ab_probe import gluon_module, load_gluon  # tools/: this script's directory
from probe_common import Case, check_rounds, parse_cases, timed_rounds

SOURCE = Path(__file__).resolve().parents[1] / "mxfp8_marlin" / "_gluon.py"
# variant -> (text in _split_k_fixup, its replacement); each must occur exactly once
EDITS = {
    "no_store": ("        if arrived == 0:\n            gl.store(own, part)\n",
                 "        if arrived == 0:\n"),
    "no_wait": ("            while stored == 0:\n", "            while stored < 0:\n"),
    "no_load": ("            total = acc + _tile_of(other, BLOCK_N, BLOCK_M, mma)\n",
                "            total = acc\n"),
    "none": ("def _split_k_fixup(", "def _split_k_fixup_shipped("),
}
NO_FIXUP = '''

@gluon.jit
def _split_k_fixup(acc, slot, pid_k, SPLIT_K, ws_ptr, cnt_ptr, rs, shift, y_ptr, n0, m0, M, N, stride_ym,
                   HAS_BIAS: gl.constexpr, BLOCK_N: gl.constexpr, BLOCK_M: gl.constexpr, mma: gl.constexpr,
                   WARPS: gl.constexpr):
    _epilogue(acc, rs, shift, y_ptr, n0, m0, M, N, stride_ym, HAS_BIAS, WARPS)
'''


def variant_source(name: str) -> str:
    text = SOURCE.read_text()
    old, new = EDITS[name]
    if text.count(old) != 1:
        raise SystemExit(f"{name}: the text to replace occurs {text.count(old)} times in {SOURCE}, not once")
    text = text.replace(old, new)
    return text + NO_FIXUP if name == "none" else text


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default="8192x8192:256,4096x4096:256,4096x14336:256")
    ap.add_argument("--variants", default=",".join(EDITS))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default="fixup_probe.json")
    args = ap.parse_args()
    check_rounds(args.rounds)
    tmp = Path(tempfile.mkdtemp())
    modules = {}
    for name in args.variants.split(","):
        if name not in EDITS:
            raise SystemExit(f"--variants: {name!r} is not one of {', '.join(EDITS)}")
        path = tmp / f"_gluon_{name}.py"
        path.write_text(variant_source(name))
        modules[name] = load_gluon(str(path))
    torch.manual_seed(0)
    flush = torch.ones(64 << 20, dtype=torch.int32, device="cuda")
    sms = num_sms(torch.device("cuda"))
    print(f"# {torch.cuda.get_device_name()} torch {torch.__version__}; the fix-up taken apart "
          f"(only A's outputs are right)", flush=True)
    rows = []
    for n, k, m in parse_cases(args.cases):
        case = Case.make(n, k, m)
        cfg = configs.choose(m, n, k, sms, tile_k=case.tile_k, wgmma=True)

        def call(module):
            def fn():
                with gluon_module(module):
                    return run_gemm(case.x, *case.packed, None, case.x.dtype, config=cfg)
            return fn

        fns = {"A": call(None), **{name: call(module) for name, module in modules.items()}}

        def check(tag, fn):
            if tag == "A":
                case.error(fn(), f"{n}x{k} M={m} {cfg.describe()}")

        times = timed_rounds(fns, args.rounds, flush, check)
        for tag, us in times.items():
            print(f"{n:>5}x{k:<5} M={m:<5} {cfg.describe():52s} {tag:9s} {' '.join(f'{t:7.1f}' for t in us)} us",
                  flush=True)
        rows.append({"N": n, "K": k, "M": m, "config": cfg.describe(), "us": times})
    Path(args.out).write_text(json.dumps({"device": torch.cuda.get_device_name(), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
