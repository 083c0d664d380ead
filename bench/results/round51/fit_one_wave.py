"""Round 51's fit and predictions (CPU; a program, not a test). From the committed probe files of
rounds 34-50 (H100, medians of three rounds): every launch of the 256-row pingpong tile whole
within one wave (0.5-1 of a wave, ``configs.launch_fill``), its time over cuBLAS bf16's
against the fill estimate ``(1 + a + b / K) / fill ** PINGPONG_FILL_EXP`` with the table's
b (``PINGPONG_COST``) and with b = 0; the least-squares b; the table's choice over every launch
of those rounds with ``ONE_WAVE_K_COST`` at the table's b and at 0 (in-sample); then, for each
launch of round 51's ``device.sh``, the A and B configs its probes will run; where B runs
within one wave, which of the two its estimate with b = 0 puts ahead; and the kind the table
would run with ``ONE_WAVE_K_COST = LEAST_SQUARES_B``.

    .venv/bin/python bench/results/round51/fit_one_wave.py > bench/results/round51/fit_one_wave.txt
"""

import json
import math
import re
import statistics
import sys
from pathlib import Path

from mxfp8_marlin import configs
from mxfp8_marlin.packing import tile_k

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent
sys.path.insert(0, str(RESULTS / "round47"))
sys.path.insert(0, str(RESULTS.parents[1] / "plugins" / "marlin" / "tools"))
from probe_common import parse_constants, table_constants  # noqa: E402  (what ab_probe --b-table sets)
from score import kind, timed  # noqa: E402

SMS = 132
ROUNDS = range(34, 51)
LEAST_SQUARES_B = 50  # over the launches at K <= 2048 (below); 60 over all of them
WHOLE_256 = "pingpong BM256 BN128 BK64 SK1 G8 w4 s4"  # the tile whole, no tail or persistent mode


def one_wave_launches() -> list[dict]:
    """Each (round, N, K, M) whose probes timed the 256-row tile whole within one wave."""
    out = {}
    for r in ROUNDS:
        for path in sorted((RESULTS / f"round{r}").glob("part1_*_h100/ab_*_h100.json")):
            for row in json.loads(path.read_text())["rows"]:
                n, k, m = row["N"], row["K"], row["M"]
                for tag in "AB":
                    if row[tag] != WHOLE_256:
                        continue
                    fill = configs.launch_fill(m, n, k, configs.PINGPONG_256, SMS)
                    if configs.work_units(m, n, k, configs.PINGPONG_256) <= SMS and fill >= configs.PINGPONG_FILL_MIN:
                        out[(r, n, k, m)] = dict(r=r, n=n, k=k, m=m, fill=fill,
                                                 ratio=statistics.median(row["us"][tag]) /
                                                 statistics.median(row["us"]["cuBLAS"]))
    return sorted(out.values(), key=lambda p: (p["k"], p["n"], p["m"], p["r"]))


def estimate(p: dict, b: float) -> float:
    return (1 + configs.PINGPONG_COST[0] + b / p["k"]) / p["fill"] ** configs.PINGPONG_FILL_EXP


def squared_log_error(points: list[dict], b: float) -> float:
    return sum(math.log(estimate(p, b) / p["ratio"]) ** 2 for p in points)


def table_score(times: dict, constants: dict) -> tuple[int, int, float]:
    """Launches timed with two kinds or more whose table choice was timed: how many it picks
    the faster kind at (within 0.5%), of how many, and its time over the faster's (geomean)."""
    right = total = 0
    logs = []
    with table_constants(constants):
        for (r, n, k, m), t in sorted(times.items()):
            kinds = {key: us for key, us in t.items() if key != "cuBLAS"}
            pick = kind(configs.choose(m, n, k, SMS, tile_k=tile_k(k), wgmma=True).describe())
            if len(kinds) < 2 or pick not in kinds:
                continue
            best = min(kinds.values())
            total += 1
            right += kinds[pick] <= 1.005 * best
            logs.append(math.log(kinds[pick] / best))
    return right, total, math.exp(sum(logs) / len(logs))


def device_cases() -> list[tuple[str, str, list[tuple[int, int, int]]]]:
    """(probe name, its --b-table, its cases) for each probe of ``device.sh``."""
    text = (HERE / "device.sh").read_text()
    lists = {}
    for name, op, value in re.findall(r"^(\w+)(\+?=)([0-9x:,]+)$", text, re.M):
        lists[name] = (lists.get(name, "") if op == "+=" else "") + value
    probes = re.findall(r'probe \d+ (\w+) --b-table "([^"]+)" --rounds 3 --cases "\$(\w+)"', text)
    cases = lambda spec: [tuple(map(int, re.split("[x:]", c))) for c in spec.split(",")]  # noqa: E731
    return [(name, constants, cases(lists[var])) for name, constants, var in probes]


def main() -> None:
    points = one_wave_launches()
    b0 = configs.PINGPONG_COST[1]
    print(f"# The 256-row tile whole within one wave ({len(points)} launches of rounds 34-50, H100), "
          f"its time over cuBLAS's and the fill estimate with b = {b0:g} and b = 0")
    print("| round | N x K, M | fill | measured | b = %g | b = 0 |" % b0)
    print("|---|---|---|---|---|---|")
    for p in points:
        print(f"| {p['r']} | {p['n']}x{p['k']}, {p['m']} | {p['fill']:.2f} | {p['ratio']:.2f} | "
              f"{estimate(p, b0):.2f} | {estimate(p, 0):.2f} |")
    fits = sorted((squared_log_error(points, b), b) for b in range(0, 401, 10))
    print(f"# squared log error: b = {b0:g} {squared_log_error(points, b0):.3f}, b = 0 "
          f"{squared_log_error(points, 0):.3f}; least squares over b = 0-400: b = {fits[0][1]} ({fits[0][0]:.3f})")
    small = [p for p in points if p["k"] <= 2048]
    fits = sorted((squared_log_error(small, b), b) for b in range(0, 401, 10))
    print(f"# at K <= 2048 ({len(small)} launches): b = {b0:g} {squared_log_error(small, b0):.3f}, "
          f"b = 0 {squared_log_error(small, 0):.3f}; least squares: b = {fits[0][1]} ({fits[0][0]:.3f})")

    times = timed(ROUNDS)
    print(f"\n# The table over the launches of rounds 34-50 that timed two kinds or more (in-sample)")
    for label, constants in ((f"ONE_WAVE_K_COST = {b0:g} (HEAD)", {}), ("ONE_WAVE_K_COST = 0", {"ONE_WAVE_K_COST": 0.0})):
        right, total, over = table_score(times, constants)
        print(f"{label}: the faster kind at {right} of {total}; time {over:.4f} of the faster's")

    print("\n# Round 51's launches: A the table, B with --b-table; est (where B runs within one wave): B's "
          "fill estimate with b = 0 over dequantize + cuBLAS's (1 + DEQUANT_COST / M), below 1 B is put "
          f"ahead; b = {LEAST_SQUARES_B:g}: the kind the table runs with ONE_WAVE_K_COST = {LEAST_SQUARES_B:g}")
    for name, spec, cases in device_cases():
        print(f"## {name} (--b-table {spec})")
        print(f"| N x K, M | B's fill | A | B | est | b = {LEAST_SQUARES_B:g} |")
        print("|---|---|---|---|---|---|")
        for n, k, m in cases:
            a = configs.choose(m, n, k, SMS, tile_k=tile_k(k), wgmma=True)
            with table_constants(parse_constants(spec, "--b-table")):
                b = configs.choose(m, n, k, SMS, tile_k=tile_k(k), wgmma=True)
            fill = configs.launch_fill(m, n, k, b, SMS)
            est = ""
            if configs.work_units(m, n, k, b) <= SMS:  # B within one wave: its estimate with b = 0
                a128 = configs.TILE128_COST if b.block_m == 128 and k >= configs.TILE128_MIN_K else 0.0
                est = f"{(1 + a128) / fill ** configs.PINGPONG_FILL_EXP / (1 + configs.DEQUANT_COST / m):.3f}"
            with table_constants({"ONE_WAVE_K_COST": float(LEAST_SQUARES_B)}):
                fit = kind(configs.choose(m, n, k, SMS, tile_k=tile_k(k), wgmma=True).describe())
            print(f"| {n}x{k}, {m} | {fill:.2f} | {a.describe()} | {b.describe()} | {est} | {fit} |")


if __name__ == "__main__":
    main()
