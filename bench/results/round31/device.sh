#!/usr/bin/env bash
# Round 31's device runs (bench/notes_marlin.md, round 31).
#   part 1: every marlin GPU test (round 30's split-16 test fix had not run on a GPU); the
#           shared split-K fix-up below the table's threshold (configs.PINGPONG_SHARED_MIN_K_TILES,
#           32 K tiles a split): the 256-row tile split in four or eight with it against the
#           table's 128-row tile; the 128-row tile's own splits in four and eight with it (the
#           table has them sum at the last split); the benchmark
#   part 2 (never ran: no device) moved to round32/device.sh part 1, which ran it
# Each step gets what is left of a 560-second call; results end up in $OUT/round31_1.tgz.
#   OUT=dir bash bench/results/round31/device.sh COMMIT 1
set -uo pipefail
round=round31
source "$(dirname "${BASH_SOURCE[0]}")/../device_steps.sh"
case "$part" in
1)
    step 150 "tests_$card" python3 -m pytest -q -n 8 -p no:cacheprovider plugins/marlin/tests/test_gpu.py
    tail -2 "$work/tests_$card.txt"
    # 16-24 K tiles a split for the 256-row tile in four (4096x4096 is the one measured slower)
    probe 80 ab_below4 --set "block_m=256,split_k=4,split_skew=0,shared_fixup=True" --rounds 3 \
        --cases 4096x4096:256,4096x5120:256,4096x6144:256,3072x5120:256,3072x6144:256,4096x5120:200,4096x6144:200,4096x6144:160,2048x6144:512
    # the same in eight, where the table splits the 128-row tile in four
    probe 50 ab_below8 --set "block_m=256,split_k=8,split_skew=0,shared_fixup=True" --rounds 3 \
        --cases 2048x8192:256,2048x10240:256,2048x12288:256
    # the 128-row tile split in four or eight: its last split reads 3 or 7 partials of 64 KB
    probe 60 ab_shared128 --set shared_fixup=True --rounds 3 \
        --cases 2048x4096:256,2048x8192:256,2048x12288:256,1024x8192:256,1024x16384:256,2048x8192:200,1024x8192:160
    run_bench ""
    ;;
*)
    echo "round31: part $part is not here (part 2 became round32/device.sh part 1)" >&2
    exit 2
    ;;
esac
pack
