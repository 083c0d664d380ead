#!/usr/bin/env bash
# Round 30's device runs (bench/notes_marlin.md, round 30).
#   part 1: the shared split-K fix-up (configs.Config.shared_fixup: in a cooperative launch,
#           every split of a tile sums a 1/split share of it once all have stored their
#           partials). Its GPU tests; its outputs against the last-split fix-up's, bit for
#           bit, with the time of each (the 256-row tile split in four, where the last split
#           alone reads three 128 KB partials); then against the table's configs at the
#           M = 200-512 points where the 128-row tile or a split is used.
#   part 2: the table's rule for it (configs.PINGPONG_SHARED_MIN_K_TILES), all GPU tests, the
#           benchmark (part 1's files were not kept: its figures are not cited)
# Each step gets what is left of a 560-second call; results end up in $OUT/round30_PART.tgz
# (the device tool returns at most 8 files).
#   OUT=dir bash bench/results/round30/device.sh COMMIT PART
set -uo pipefail
out=${OUT:-round30}
work=$(mktemp -d)/r30
mkdir -p "$out" "$work"
part=${2:-1}
source "$(dirname "${BASH_SOURCE[0]}")/../device_steps.sh"
case "$part" in
1)
    step 150 "tests_shared_$card" python3 -m pytest -q -n 8 -p no:cacheprovider plugins/marlin/tests/test_gpu.py \
        -k "shared_fixup or split_skew or persistent"
    tail -2 "$work/tests_shared_$card.txt"
    probe 90 ab_shared_same --a-set "block_m=256,split_k=4,split_skew=0" --set shared_fixup=True --same --rounds 3 \
        --cases 4096x4096:256,4096x4096:200,4096x14336:256
    probe 90 ab_shared_256x4 --set "block_m=256,split_k=4,split_skew=0,shared_fixup=True" --rounds 3 \
        --cases 4096x4096:256,4096x4096:200,4096x14336:256,2048x4096:256
    probe 60 ab_shared_table --set shared_fixup=True --rounds 3 \
        --cases 4096x4096:256,8192x8192:256,4096x14336:256
    ;;
2)
    # the table's shared fix-up (configs.pingpong_for, PINGPONG_SHARED_MIN_K_TILES): every
    # marlin GPU test; the new table (A) against the previous rule's 128-row tile split in
    # two (B) where the rule changes; below its threshold; bit for bit against the last
    # split; the benchmark
    step 150 "tests_$card" python3 -m pytest -q -n 8 -p no:cacheprovider plugins/marlin/tests/test_gpu.py
    tail -2 "$work/tests_$card.txt"
    probe 80 ab_table_vs_old --set "block_m=128,split_k=2,split_skew=2,shared_fixup=False" --rounds 3 \
        --cases 4096x14336:256,4096x14336:160,4096x12288:256,4096x8192:256,3072x8192:256
    probe 50 ab_below --set "block_m=256,split_k=4,split_skew=0,shared_fixup=True" --rounds 3 \
        --cases 4096x4096:256,4096x6144:256
    probe 40 ab_same --a-set "block_m=256,split_k=4,split_skew=0" --set shared_fixup=True --same --rounds 2 \
        --cases 4096x14336:256,4096x4096:200
    run_bench ""
    ;;
esac
tar -C "$(dirname "$work")" -czf "$out/round30_$part.tgz" r30
