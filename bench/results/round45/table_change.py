"""Round 45's table change against the table before it (CPU; a program, not a test).

1. Over the launches of rounds 43-45 where both the 256-row tile and dequantize + cuBLAS were
   timed (H100): how often the table before (BASE's configs.py), HEAD without ``launch_fill``
   past one wave (``PINGPONG_FILL_EXP=0`` there) and HEAD choose the faster of what was timed.
2. The benchmark's four shapes at M = 1-4096: configs that differ between BASE and HEAD.
3. ``tools/fill_scan.py``'s grid: launches whose config kind (dequantize, 128 or 256 rows) moves.

    .venv/bin/python bench/results/round45/table_change.py [--base 6bbf489] > bench/results/round45/table_change.txt
"""

import argparse
import glob
import importlib.util
import json
import math
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from mxfp8_marlin import configs
from mxfp8_marlin.packing import tile_k

RESULTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(RESULTS.parents[1] / "plugins" / "marlin" / "tools"))
from fill_scan import KS, MS, NS  # noqa: E402
from probe_common import table_constants  # noqa: E402

SMS = 132


def kind(cfg) -> str:
    return "dq" if cfg.strategy == "dequant" else f"{cfg.strategy}{cfg.block_m if cfg.strategy == 'pingpong' else ''}"


def base_configs(commit: str):
    """BASE's ``configs`` module, loaded beside HEAD's."""
    text = subprocess.run(["git", "show", f"{commit}:plugins/marlin/mxfp8_marlin/configs.py"], check=True,
                          capture_output=True, text=True, cwd=RESULTS).stdout
    path = Path(tempfile.mkdtemp()) / "base_configs.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("base_configs", path)
    module = sys.modules["base_configs"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def timed() -> dict:
    """(n, k, m) -> {kind: median us} over rounds 40-45's probe files."""
    times = {}
    for path in sorted(glob.glob(str(RESULTS / "round4[0-5]" / "part1_*_h100" / "ab_*_h100.json"))):
        for r in json.loads(Path(path).read_text())["rows"]:
            for tag in "AB":
                name = r[tag]
                key = "dq" if name.startswith("dequant") else "pingpong256" if "BM256" in name else "pingpong128"
                times.setdefault((r["N"], r["K"], r["M"]), {})[key] = statistics.median(r["us"][tag])
    return {key: t for key, t in times.items() if "pingpong256" in t and "dq" in t}


def score(name: str, times: dict, pick) -> None:
    loss, wrong = 0.0, []
    for (n, k, m), t in sorted(times.items()):
        chosen = t.get(pick(m, n, k))
        if chosen is None:
            wrong.append(f"{n}x{k}:{m} untimed {pick(m, n, k)}")
            continue
        loss += math.log(chosen / min(t.values()))
        if chosen > 1.005 * min(t.values()):
            wrong.append(f"{n}x{k}:{m} {chosen / min(t.values()):.2f}")
    print(f"{name}: {len(times) - len(wrong)} of {len(times)} the faster, sum log(chosen / faster) {loss:.3f}; "
          f"wrong: {', '.join(wrong)}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default="6bbf489")
    base = base_configs(ap.parse_args().base)

    def head(m, n, k, module=configs):
        return module.choose(m, n, k, SMS, tile_k=tile_k(k), wgmma=True)

    times = timed()
    print(f"## 1. {len(times)} launches of rounds 43-45 with the 256-row tile and dequantize + cuBLAS timed")
    score("BASE", times, lambda m, n, k: kind(head(m, n, k, base)))

    def without_launch_fill(m, n, k):
        with table_constants({"PINGPONG_FILL_EXP": 0.0}):
            return kind(head(m, n, k))

    score("HEAD without launch_fill past one wave", times, without_launch_fill)
    score("HEAD", times, lambda m, n, k: kind(head(m, n, k)))
    differ = sum(head(m, n, k, base).describe() != head(m, n, k).describe()
                 for n, k in ((4096, 4096), (14336, 4096), (4096, 14336), (8192, 8192)) for m in range(1, 4097))
    print(f"## 2. benchmark shapes, M = 1-4096: {differ} configs differ")
    moves = Counter()
    for n in NS:
        for k in KS:
            for m in MS:
                old, new = kind(head(m, n, k, base)), kind(head(m, n, k))
                if old != new:
                    moves[old, new, "K >= 4096" if k >= 4096 else "K < 4096"] += 1
    print("## 3. fill_scan's grid, launches that move (from, to, K)")
    for move, count in sorted(moves.items()):
        print(f"{' -> '.join(move[:2])}, {move[2]}: {count}")


if __name__ == "__main__":
    main()
