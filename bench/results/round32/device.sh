#!/usr/bin/env bash
# Round 32's device runs (bench/notes_marlin.md, round 32).
#   part 1: round 31's part 2, which found no device, with the launch's split in the shared
#   fix-up's rule (configs.launch_split): every marlin GPU test (the stress test's new 128x1056 case: the 128-row tile split in eight,
#   which the launch makes seven); the table's round-31 rules (A) against the previous table's
#   configs (B); where the launch splits in fewer than asked (33 K tiles in eight: seven, no
#   shared fix-up), the split that keeps its count, shared; the benchmark
#   part 2: the table choosing only splits the launch keeps (configs.fit_split_k), against the
#   splits it chose before; the 256-row tile with x padded (M = 160) split in four, shared,
#   against the 128-row tile in two at 32-56 K tiles a split (part 1: 32 lost); the GPU tests
#   of the table and the split-K paths
#   part 3: the pingpong kernel alone keeping whole splits (the wgmma kernel lost with them in
#   part 2), where the launch would split in 15 with 5-15 K tiles each: in eight, shared (the
#   table) against 16 (15); the GPU tests of the table and the shared fix-up
#   part 4: the 128-row tile split in 16 (whole, no shared fix-up: shares of 8 columns) against
#   eight, shared
#   part 5: the GPU tests of the table, the split-K paths and the shared fix-up at the final rules
# Each step gets what is left of a 560-second call; results end up in $OUT/round32_PART.tgz.
#   OUT=dir bash bench/results/round32/device.sh COMMIT PART
set -uo pipefail
round=round32
source "$(dirname "${BASH_SOURCE[0]}")/../device_steps.sh"
case "$part" in
1)
    step 150 "tests_$card" python3 -m pytest -q -n 8 -p no:cacheprovider plugins/marlin/tests/test_gpu.py
    tail -2 "$work/tests_$card.txt"
    probe 50 ab_new_256x4 --set "block_m=128,split_k=2,split_skew=2,shared_fixup=False" --rounds 3 \
        --cases 4096x5120:256,3072x6144:256,4096x6144:200,4096x8192:160
    probe 30 ab_new_256x8 --set "block_m=128,split_k=4,shared_fixup=False" --rounds 3 \
        --cases 2048x10240:256,2048x12288:256
    probe 30 ab_new_128 --set shared_fixup=False --rounds 3 --cases 2048x4096:256,2048x8192:256,1024x8192:256
    probe 30 ab_fewer --set "split_k=4,shared_fixup=True" --rounds 3 --cases 1024x1056:256,128x1056:256
    run_bench ""
    ;;
2)
    step 120 "tests_$card" python3 -m pytest -q -n 8 -p no:cacheprovider plugins/marlin/tests/test_gpu.py \
        -k "table or shared_fixup or split"
    tail -2 "$work/tests_$card.txt"
    probe 40 ab_padded --a-set "block_m=256,split_k=4,split_skew=0,shared_fixup=True" \
        --set "block_m=128,split_k=2,split_skew=2,shared_fixup=False" --rounds 3 \
        --cases 4096x8192:160,4096x10240:160,4096x12288:160,4096x14336:160
    probe 30 ab_keep8 --set "split_k=8,shared_fixup=False" --rounds 3 --cases 1024x1056:256,128x1056:256
    probe 30 ab_keep16 --set "split_k=16,shared_fixup=False" --rounds 3 --cases 512x2080:256,1024x1056:16,1024x15360:16,384x15360:16
    probe 30 ab_keep_tile --set "block_m=128,split_k=16,shared_fixup=False" --rounds 3 --cases 384x14400:256
    ;;
3)
    probe 40 ab_keep15 --set "split_k=16,shared_fixup=False" --rounds 3 \
        --cases 384x14400:256,384x10560:256,384x7680:256,384x4800:256,1024x7680:256
    step 90 "tests_$card" python3 -m pytest -q -n 8 -p no:cacheprovider plugins/marlin/tests/test_gpu.py \
        -k "under_stress or shared_fixup"
    tail -2 "$work/tests_$card.txt"
    ;;
4)
    probe 40 ab_16_8 --set "split_k=8,shared_fixup=True" --rounds 3 \
        --cases 512x16384:256,384x8192:256,512x8192:256,256x4096:256
    ;;
5)
    step 120 "tests_$card" python3 -m pytest -q -n 8 -p no:cacheprovider plugins/marlin/tests/test_gpu.py \
        -k "table or shared_fixup or split"
    tail -2 "$work/tests_$card.txt"
    ;;
esac
pack
