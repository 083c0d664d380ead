"""Rounds scored (CPU; a program, not a test): for each launch their probes timed (H100,
medians of three rounds, us), the kinds timed (the 128-row tile, the 256-row tile, dequantize +
cuBLAS, and cuBLAS bf16), what the table at HEAD chooses and whether that is the faster kind
timed (within 0.5%). The rounds are its arguments (default 46 47).

    .venv/bin/python bench/results/round47/score.py > bench/results/round47/score.txt
    .venv/bin/python bench/results/round47/score.py 48 > bench/results/round48/score.txt
"""

import json
import statistics
import sys
from pathlib import Path

from mxfp8_marlin import configs
from mxfp8_marlin.packing import tile_k

RESULTS = Path(__file__).resolve().parents[1]
SMS = 132


def kind(name: str) -> str:
    """A probe's config name (or a Config's ``describe()``) as the kind of launch."""
    return "dq" if name.startswith("dequant") else "256" if "BM256" in name else "128" if "BM128" in name else name


def timed(rounds) -> dict:
    """{(round, n, k, m): {kind: median us}} over the rounds' probe files, cuBLAS included."""
    times = {}
    for r in rounds:
        for path in sorted((RESULTS / f"round{r}").glob("part1_*_h100/ab_*_h100.json")):
            for row in json.loads(path.read_text())["rows"]:
                t = times.setdefault((r, row["N"], row["K"], row["M"]), {})
                for tag in "AB":
                    t[kind(row[tag])] = statistics.median(row["us"][tag])
                t.setdefault("cuBLAS", statistics.median(row["us"]["cuBLAS"]))
    return times


def main() -> None:
    times = timed(tuple(int(r) for r in sys.argv[1:]) or (46, 47))
    print(f"# {len(times)} launches; us; HEAD: the table's choice now (configs.choose, {SMS} SMs)")
    print("| round | N x K, M | 128 rows | 256 rows | dequantize + cuBLAS | cuBLAS | HEAD | the faster? |")
    print("|---|---|---|---|---|---|---|---|")
    right = 0
    for (r, n, k, m), t in sorted(times.items()):
        head = configs.choose(m, n, k, SMS, tile_k=tile_k(k), wgmma=True)
        pick = kind(head.describe())
        kinds = {key: us for key, us in t.items() if key != "cuBLAS"}
        best = min(kinds.values())
        ok = pick in kinds and kinds[pick] <= 1.005 * best
        right += ok
        cells = [f"{t[key]:.1f}" if key in t else "" for key in ("128", "256", "dq", "cuBLAS")]
        verdict = "yes" if ok else ("untimed" if pick not in kinds else f"no ({kinds[pick] / best:.2f}x)")
        print(f"| {r} | {n}x{k}, {m} | " + " | ".join(cells) + f" | {pick} | {verdict} |")
    print(f"# HEAD chose the faster kind timed at {right} of {len(times)}")


if __name__ == "__main__":
    main()
