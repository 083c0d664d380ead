"""Round 35's fit of configs.PINGPONG_FILL_EXP to round 34 part 1 (CPU; a program, not a test).
For each exponent, over the 19 partly filled launches: the sum of log(chosen / faster) where the
table chooses dequantize + cuBLAS at (1 + 220/K) / fill**exp >= 1 + 330/M, and the launches it
gets wrong; then the table at HEAD against the table before the rule (geomean of new / old).

    .venv/bin/python bench/results/round35/fit_fill_exp.py > bench/results/round35/fit_fill_exp.txt
"""

import json
import math
import statistics
from pathlib import Path

from mxfp8_marlin import configs, packing

RUN = Path(__file__).resolve().parents[1] / "round34" / "part1_8e9b9c1_h100"
SMS = 132


def rows():
    for name in ("ab_dq_256_h100.json", "ab_dq_128_h100.json"):
        for r in json.loads((RUN / name).read_text())["rows"]:
            med = {tag: statistics.median(us) for tag, us in r["us"].items()}
            yield r["M"], r["N"], r["K"], med["A"], med["B"]  # A: the table's pingpong config; B: dequantize


def main():
    data = list(rows())
    fills = []  # of the launch measured as A: the table's with the rule off
    saved = configs.PINGPONG_FILL_EXP
    configs.PINGPONG_FILL_EXP = 0.0
    configs.choose.cache_clear()
    for m, n, k, _, _ in data:
        cfg = configs.choose(m, n, k, SMS, tile_k=packing.tile_k(k), wgmma=True)
        fills.append(configs.work_units(m, n, k, cfg) / SMS)
    configs.PINGPONG_FILL_EXP = saved
    configs.choose.cache_clear()
    print(f"# {len(data)} launches of round 34 part 1, fill {min(fills):.2f}-{max(fills):.2f}")
    for tenths in range(13):
        exp = tenths / 10
        loss, wrong = 0.0, []
        for (m, n, k, a, b), fill in zip(data, fills):
            chosen = b if (1 + 220 / k) / fill ** exp >= 1 + 330 / m else a
            loss += math.log(chosen / min(a, b))
            if chosen > min(a, b):
                wrong.append(f"{n}x{k}:{m} {chosen / min(a, b):.2f}")
        print(f"exp {exp:.1f}: sum log(chosen / faster) {loss:.3f}, {len(data) - len(wrong)} of {len(data)} "
              f"the faster; wrong: {', '.join(wrong)}")
    ratios = []
    for m, n, k, a, b in data:
        cfg = configs.choose(m, n, k, SMS, tile_k=packing.tile_k(k), wgmma=True)
        ratios.append((b if cfg.strategy == "dequant" else a) / a)
    geo = math.exp(sum(map(math.log, ratios)) / len(ratios))
    print(f"# the table at HEAD / before the rule: geomean {geo:.3f}; "
          f"{sum(r < 0.9999 for r in ratios)} faster ({min(ratios):.2f}-{max(r for r in ratios if r < 0.9999):.2f}), "
          f"{sum(abs(r - 1) < 1e-4 for r in ratios)} the same, {sum(r > 1.0001 for r in ratios)} slower "
          f"({max(ratios):.2f})")


if __name__ == "__main__":
    main()
