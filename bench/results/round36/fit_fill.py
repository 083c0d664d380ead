"""Round 36's refit of the fill rule (CPU; a program, not a test), from the committed probe files
of rounds 34-37 (H100; round 37's launches are all under half a wave, outside the fit): every launch of less than one wave that the old table (before rounds
35-36's rules) runs on the pingpong kernel, measured against dequantize + cuBLAS. For each
exponent of ``configs.PINGPONG_FILL_EXP``, over the launches at half a wave or more, with and
without the 256-row tile splitting K left to the kernel (``configs.splits_256``): the sum of
log(chosen / faster) and the launches it gets wrong (by more than 0.5%). Then the table at
HEAD against the old table over every launch, by the probe file.

    .venv/bin/python bench/results/round36/fit_fill.py > bench/results/round36/fit_fill.txt
"""

import json
import math
import statistics
import sys
from pathlib import Path

from mxfp8_marlin import configs, packing

RESULTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(RESULTS.parents[1] / "plugins" / "marlin" / "tools"))
from probe_common import table_constants  # noqa: E402  (the constants ab_probe --a-table sets)

OLD_TABLE = {"PINGPONG_FILL_EXP": 0.0, "DEQUANT_MIN_K": 1 << 30, "UNDER_HALF_DEQUANT_SPLITS": ()}
FILES = [RESULTS / "round34" / "part1_8e9b9c1_h100" / name for name in ("ab_dq_256_h100.json", "ab_dq_128_h100.json")]
FILES += [RESULTS / "round35" / "part1_b8ce428_h100" / name for name in ("ab_held_out_h100.json", "ab_low_fill_h100.json")]
FILES += sorted((RESULTS / "round36").glob("part1_*/ab_*_h100.json"))
FILES += sorted((RESULTS / "round37").glob("part1_*/ab_*_h100.json"))
SMS = 132


def launches():
    """(probe file, m, n, k, kernel us, dequantize us, fill, config) of each launch the table
    before rounds 35-36's rules (``OLD_TABLE``) runs on the pingpong kernel."""
    for path in FILES:
        for r in json.loads(path.read_text())["rows"]:
            m, n, k = r["M"], r["N"], r["K"]
            with table_constants(OLD_TABLE):
                cfg = configs.choose(m, n, k, SMS, tile_k=packing.tile_k(k), wgmma=True)
            if cfg.strategy != "pingpong":
                continue
            med = {tag: statistics.median(us) for tag, us in r["us"].items()}
            yield path, m, n, k, med["A"], med["B"], configs.work_units(m, n, k, cfg) / SMS, cfg


def main():
    data = [row for row in launches() if row[6] < 1]
    print(f"# {len(data)} launches of less than one wave from: " + ", ".join(sorted({row[0].parent.name for row in data})))
    for exempt in (False, True):
        print(f"## fill >= {configs.PINGPONG_FILL_MIN}; the 256-row tile split in K "
              f"{'left to the kernel' if exempt else 'under the rule'}")
        for tenths in range(3, 11):
            exp = tenths / 10
            loss, wrong, count = 0.0, [], 0
            for _, m, n, k, a, b, fill, cfg in data:
                if fill < configs.PINGPONG_FILL_MIN:
                    continue
                count += 1
                with table_constants({"PINGPONG_FILL_EXP": exp}):
                    dequant = not (exempt and configs.splits_256(cfg)) and configs.dequant_faster(m, k, fill)
                chosen = b if dequant else a
                loss += math.log(chosen / min(a, b))
                if chosen > 1.005 * min(a, b):
                    wrong.append(f"{n}x{k}:{m} {chosen / min(a, b):.2f}")
            print(f"exp {exp:.1f}: sum log(chosen / faster) {loss:.3f}, {count - len(wrong)} of {count} "
                  f"the faster; wrong: {', '.join(wrong)}")
    print("## the table at HEAD / the old table (geomean of the time of what each chooses), by probe file")
    for path in FILES:
        rows = [row for row in data if row[0] == path]
        if not rows:
            continue
        ratios, wrong = [], []
        for _, m, n, k, a, b, fill, cfg in rows:
            chosen = b if configs.choose(m, n, k, SMS, tile_k=packing.tile_k(k), wgmma=True).strategy == "dequant" else a
            ratios.append(chosen / a)
            if chosen > 1.005 * min(a, b):
                wrong.append(f"{n}x{k}:{m} {chosen / min(a, b):.2f}")
        geo = math.exp(sum(map(math.log, ratios)) / len(ratios))
        print(f"{path.parent.name}/{path.name}: {len(rows)} launches, geomean {geo:.3f}, "
              f"{len(rows) - len(wrong)} the faster; wrong: {', '.join(wrong)}")


if __name__ == "__main__":
    main()
