"""The fill rule's fits (CPU; a program, not a test), from the committed probe files of rounds
34-41 and 44 (H100): every launch that the old table (before rounds 35-45's rules) runs on the
pingpong kernel, measured against dequantize + cuBLAS (round 37's are all under half a wave,
outside the fits). Over the launches at half a wave or more, the sum of log(chosen / faster)
and the launches each rule gets wrong (by more than 0.5%): for each exponent of
``configs.PINGPONG_FILL_EXP`` over the launches of less than one wave (round 36), with and
without the 256-row tile splitting K left to the kernel (``configs.splits_256``); then for
each value of the 128-row tile's term ``configs.TILE128_COST``, under one wave and at a wave
or more (rounds 39-41). Then the table at HEAD against the old table over every launch, by
the probe file.

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
from probe_common import OLD_TABLE, table_constants  # noqa: E402  (what ab_probe --a-table sets)
FILES = [RESULTS / "round34" / "part1_8e9b9c1_h100" / name for name in ("ab_dq_256_h100.json", "ab_dq_128_h100.json")]
FILES += [RESULTS / "round35" / "part1_b8ce428_h100" / name for name in ("ab_held_out_h100.json", "ab_low_fill_h100.json")]
FILES += sorted((RESULTS / "round36").glob("part1_*/ab_*_h100.json"))
FILES += [path for r in (37, 38, 39, 40, 41, 44) for path in sorted((RESULTS / f"round{r}").glob("part1_*/ab_*_h100.json"))]
SMS = 132


def launches():
    """(probe file, m, n, k, kernel us, dequantize us, fill, config) of each launch the table
    before rounds 35-45's rules (``OLD_TABLE``) runs on the pingpong kernel (fill: its work
    units over the SMs, over 1 past one wave)."""
    for path in FILES:
        for r in json.loads(path.read_text())["rows"]:
            m, n, k = r["M"], r["N"], r["K"]
            with table_constants(OLD_TABLE):
                cfg = configs.choose(m, n, k, SMS, tile_k=packing.tile_k(k), wgmma=True)
            if cfg.strategy != "pingpong":
                continue
            med = {tag: statistics.median(us) for tag, us in r["us"].items()}
            yield path, m, n, k, med["A"], med["B"], configs.work_units(m, n, k, cfg) / SMS, cfg


def score(data, dequant) -> str:
    """Over ``data``'s launches at half a wave or more, with ``dequant(m, k, fill, cfg)``
    choosing dequantize + cuBLAS (``fill`` at most 1): the sum of log(chosen / faster) and the
    misses."""
    loss, wrong, count = 0.0, [], 0
    for _, m, n, k, a, b, fill, cfg in data:
        if fill < configs.PINGPONG_FILL_MIN:
            continue
        count += 1
        chosen = b if dequant(m, k, min(fill, 1.0), cfg) else a
        loss += math.log(chosen / min(a, b))
        if chosen > 1.005 * min(a, b):
            wrong.append(f"{n}x{k}:{m} {chosen / min(a, b):.2f}")
    return f"sum log(chosen / faster) {loss:.3f}, {count - len(wrong)} of {count} the faster; wrong: {', '.join(wrong)}"


def main():
    every = list(launches())
    data = [row for row in every if row[6] < 1]
    print(f"# {len(every)} launches from: " + ", ".join(sorted({row[0].parent.name for row in every}))
          + f"; {len(data)} of less than one wave")
    for exempt in (False, True):
        print(f"## fill >= {configs.PINGPONG_FILL_MIN}; the 256-row tile split in K "
              f"{'left to the kernel' if exempt else 'under the rule'}; no 128-row tile term")
        for tenths in range(3, 11):
            with table_constants({"PINGPONG_FILL_EXP": tenths / 10}):
                print(f"exp {tenths / 10:.1f}: " + score(data, lambda m, k, fill, cfg: not (
                    exempt and configs.splits_256(cfg)) and configs.dequant_faster(m, k, fill)))

    def with_term(m, k, fill, cfg):
        return not configs.splits_256(cfg) and configs.dequant_faster(m, k, fill, cfg.block_m)

    for name, rows in (("less than one wave", data), ("a wave or more", [row for row in every if row[6] >= 1])):
        print(f"## the 128-row tile's term from K = {configs.TILE128_MIN_K}, {name}; exp "
              f"{configs.PINGPONG_FILL_EXP}, the 256-row tile split in K left to the kernel")
        for twentieths in range(11):
            with table_constants({"TILE128_COST": twentieths / 20}):
                print(f"TILE128_COST {twentieths / 20:.2f}: " + score(rows, with_term))
    print(f"## each exponent with the term at HEAD's TILE128_COST ({configs.TILE128_COST}), less than one wave")
    for tenths in range(3, 11):
        with table_constants({"PINGPONG_FILL_EXP": tenths / 10}):
            print(f"exp {tenths / 10:.1f}: " + score(data, with_term))
    print("## the table at HEAD / the old table (geomean of the time of what each chooses), by probe file")
    for path in FILES:
        rows = [row for row in every if row[0] == path]
        if not rows:
            continue
        ratios, wrong, other = [], [], 0
        for _, m, n, k, a, b, fill, cfg in rows:
            head = configs.choose(m, n, k, SMS, tile_k=packing.tile_k(k), wgmma=True)
            if head.strategy != "dequant" and head != cfg:  # e.g. the 256-row tile (round 45): not in this file
                other += 1
                continue
            chosen = b if head.strategy == "dequant" else a
            ratios.append(chosen / a)
            if chosen > 1.005 * min(a, b):
                wrong.append(f"{n}x{k}:{m} {chosen / min(a, b):.2f}")
        geo = math.exp(sum(map(math.log, ratios)) / len(ratios)) if ratios else float("nan")
        print(f"{path.parent.name}/{path.name}: {len(ratios)} launches, geomean {geo:.3f}, "
              f"{len(ratios) - len(wrong)} the faster; wrong: {', '.join(wrong)}"
              + (f"; {other} more where HEAD runs a config this file did not time" if other else ""))


if __name__ == "__main__":
    main()
