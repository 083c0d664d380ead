"""Turn a ``round2.py`` result into the heuristic table (a program, not a test).

    python plugins/marlin/tools/round2_decide.py round2.json [--write plugins/marlin/mxfp8_marlin/configs.py]

The rules were fixed before the measurements (bench/notes_marlin.md, round 2); each
compares geometric means over the four benchmark shapes of ``time(current) / time(new)``:

- gemv: the CUDA-core config with the best M=1 geomean against the tensor-core default;
  adopted for M = 1 if that geomean is > 1.03 and no shape is more than 3% slower, and
  for M <= 4 if the same holds at M = 4 too.
- M <= 128 bucket: the (config, waves) rule with the best M=64 geomean; adopted if > 1.02.
- M <= 512 bucket: the best of fused (current), whole dequant and the chunked variants
  at M=256; adopted if > 1.02 over the current.
- M <= 2048 and M > 2048 buckets: the best chunked variant at M=1024 (resp. 4096)
  against the whole-weight dequantization; adopted if > 1.02.

Writes the decisions as JSON to stdout; with ``--write`` it rewrites the configs.py
lines marked ``# round2: <name>``.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys

SHAPES = [(4096, 4096), (14336, 4096), (4096, 14336), (8192, 8192)]


def geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("result")
    ap.add_argument("--write", default=None)
    args = ap.parse_args()
    rows = json.load(open(args.result))["rows"]
    good = [r for r in rows if "us" in r and not r.get("bad") and "error" not in r]

    def times(part, m, pred):
        """{shape: best time} of the variants of ``part`` at ``m`` whose name satisfies pred."""
        out = {}
        for r in good:
            if r["part"] == part and r["M"] == m and pred(r["variant"]):
                key = (r["N"], r["K"])
                out[key] = min(out.get(key, float("inf")), r["us"])
        return out

    def compare(base, new):
        """(geomean of base/new, worst base/new) over the shapes both have (all four)."""
        if not all(s in base and s in new for s in SHAPES):
            return float("nan"), float("nan")
        ratios = [base[s] / new[s] for s in SHAPES]
        return geomean(ratios), min(ratios)

    decisions = {}
    # ---- gemv
    names = sorted({r["variant"] for r in good if r["part"] == "gemv" and r["variant"].endswith(" cvt")})
    tc1 = times("tc", 1, lambda v: v.startswith("default"))
    tc4 = times("tc", 4, lambda v: v.startswith("default"))
    scored = []
    for name in names:
        g1, w1 = compare(tc1, times("gemv", 1, lambda v, name=name: v == name))
        g4, w4 = compare(tc4, times("gemv", 4, lambda v, name=name: v == name))
        scored.append((g1, w1, g4, w4, name))
    scored = [s for s in scored if not math.isnan(s[0])]
    scored.sort(reverse=True)
    decisions["gemv_scores"] = scored
    gemv_max_m = 0
    gemv_cfg = None
    if scored:
        g1, w1, g4, w4, name = scored[0]
        bn, bk, warps = (int(v) for v in re.match(r"gemv BN(\d+) BK(\d+) w(\d+)", name).groups())
        gemv_cfg = f'Config("gemv", block_m=1, block_n={bn}, block_k={bk}, num_warps={warps}, num_stages=1)'
        if g1 > 1.03 and w1 >= 0.97:
            gemv_max_m = 1
            if g4 > 1.03 and w4 >= 0.97:
                gemv_max_m = 4
    decisions["gemv_max_m"] = gemv_max_m
    decisions["gemv"] = gemv_cfg

    # ---- M <= 128 bucket (rules measured at M=64)
    rules = next((r["rules"] for r in rows if r["part"] == "mid_rules"), None)
    mid = None
    if rules:
        base = times("mid", 64, lambda v: v.startswith("rule0 "))
        best = (1.0, 0)
        for i in range(1, len(rules)):
            g, w = compare(base, times("mid", 64, lambda v, i=i: v.startswith(f"rule{i} ")))
            decisions[f"mid_rule{i}"] = (g, w, rules[i])
            if g > best[0]:
                best = (g, i)
        if best[0] > 1.02:
            cfg_repr, waves = rules[best[1]]
            mid = (waves, cfg_repr)
    decisions["mid"] = mid

    # ---- dequant buckets
    def chunk_choice(m, current_pred):
        base = times("chunk", m, current_pred)
        pat = re.compile(r"(serial|overlap) (\d+)MB")
        cands = sorted({pat.match(r["variant"]).groups() for r in good
                        if r["part"] == "chunk" and r["M"] == m and pat.match(r["variant"])})
        scored = []
        for mode, mb in cands:
            g, w = compare(base, times("chunk", m, lambda v, mode=mode, mb=mb: v.startswith(f"{mode} {mb}MB")))
            if not math.isnan(g):
                scored.append((g, w, mode, int(mb)))
        scored.sort(reverse=True)
        return scored

    m256 = chunk_choice(256, lambda v: v.startswith("current"))
    whole = compare(times("chunk", 256, lambda v: v.startswith("current")),
                    times("chunk", 256, lambda v: v.startswith("whole")))
    decisions["m512_scores"] = {"chunks": m256, "whole": whole}
    m512 = None
    if m256 and m256[0][0] > 1.02 and m256[0][0] >= whole[0]:
        g, w, mode, mb = m256[0]
        m512 = f'Config("dequant", chunk_mb={mb}, overlap={mode == "overlap"})'
    elif whole[0] > 1.02:
        m512 = 'Config("dequant")'
    decisions["m512"] = m512
    for m, name in ((1024, "m2048"), (4096, "mbig")):
        sc = chunk_choice(m, lambda v: v.startswith("current"))
        decisions[name + "_scores"] = sc
        decisions[name] = None
        if sc and sc[0][0] > 1.02:
            g, w, mode, mb = sc[0]
            decisions[name] = f'Config("dequant", chunk_mb={mb}, overlap={mode == "overlap"})'

    print(json.dumps(decisions, indent=1))
    if args.write:
        text = open(args.write).read()

        def sub(tag, line):
            nonlocal text
            pat = re.compile(rf"^.*# round2: {tag}$", re.M)
            assert len(pat.findall(text)) == 1, tag
            text = pat.sub(lambda _: line + f"  # round2: {tag}", text)

        if decisions["gemv"]:
            sub("gemv", f"GEMV = {decisions['gemv']}")
        sub("gemv_max_m", f"GEMV_MAX_M = {decisions['gemv_max_m']}")
        if mid:
            waves, cfg_repr = mid
            sub("mid", f"    (128, {waves}, {cfg_repr}),")
        if m512:
            sub("m512", f"    (512, 0.0, {m512}),")
        for name, bound in (("m2048", "2048"), ("mbig", "1 << 62")):
            if decisions[name]:
                sub(name, f"    ({bound}, 0.0, {decisions[name]}),")
        open(args.write, "w").write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
