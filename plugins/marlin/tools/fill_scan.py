"""How full a wave the table's pingpong launches leave the GPU (round 34; CPU only, a program,
not a test). The pingpong kernel runs one program per SM; where a launch fits one wave (no
persistent mode, no split tail), its programs over the SMs are the share of the GPU it uses.
The crossover estimate against dequantize + cuBLAS (``configs.PINGPONG_COST`` and
``DEQUANT_COST``) was measured at full waves, and is scaled for launches of 0.5-1 of one wave
by ``configs.PINGPONG_FILL_EXP`` (round 35; the 128-row tile's estimate, at any fill, adds
``TILE128_COST``, rounds 39-41); this lists where the table runs less than one, by tile and
split, with the shapes to measure.

    python plugins/marlin/tools/fill_scan.py [--sms 132] > fill_scan.txt
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict

from mxfp8_marlin import configs
from mxfp8_marlin.packing import tile_k

NS = (768, 1024, 1536, 2048, 3072, 4096, 5120, 6144, 8192, 10240, 12288, 14336)
MS = (129, 192, 256, 320, 384, 512, 640, 768, 1024, 1280, 1536, 2048, 3072, 4096)
KS = range(512, 16385, 256)
FILLS = (0.25, 0.5, 0.6, 0.75, 0.9, 1.0)  # upper bounds of the share-of-a-wave bins
LISTED = 0.75  # classes filling at most this share of a wave are listed with their shapes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sms", type=int, default=132)
    sms = ap.parse_args().sms
    if sms < 1:
        ap.error(f"--sms must be at least 1 (got {sms})")
    total = past = 0
    bins = Counter()
    classes = defaultdict(list)  # (tile rows, split, programs) -> shapes
    for n in NS:
        for k in KS:
            for m in MS:
                cfg = configs.choose(m, n, k, sms, tile_k=tile_k(k), wgmma=True)
                if cfg.strategy != "pingpong":
                    continue
                total += 1
                units = configs.work_units(m, n, k, cfg)
                if units > sms:
                    past += 1
                    continue
                fill = units / sms
                bins[next(b for b in FILLS if fill <= b)] += 1
                if fill <= LISTED:
                    classes[cfg.block_m, cfg.split_k, units].append((n, k, m))
    print(f"# configs.choose at {sms} SMs: N in {NS}, K = {KS.start}-{KS.stop - 1} by {KS.step}, M in {MS}")
    print(f"# {total} pingpong configs: {past} past one wave (persistent or split tail), {total - past} in one")
    low = 0.0
    for b in FILLS:
        print(f"programs / SMs in ({low:.2f}, {b:.2f}]: {bins[b]}")
        low = b
    print(f"# at most {LISTED} of a wave, by tile rows, split and programs (count, first and last shapes NxK:M)")
    for (rows, split, programs), shapes in sorted(classes.items(), key=lambda kv: -len(kv[1])):
        first, last = (f"{n}x{k}:{m}" for n, k, m in (shapes[0], shapes[-1]))
        print(f"{rows:>4} rows, split {split:>2}, {programs:>3} programs: {len(shapes):>5}  {first} .. {last}")


if __name__ == "__main__":
    main()
