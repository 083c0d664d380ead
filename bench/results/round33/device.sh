#!/usr/bin/env bash
# Round 33's device runs (bench/notes_marlin.md, round 33).
#   part 1: the pingpong kernel (one program per SM) split past one wave, as the table has it
#   (fit_split_k's nearest wave in log scale: 1.1-1.4 waves, so a second round of programs),
#   against the largest split that fits one wave: split 2 -> none, 4 -> 2 (skew 2), 8 -> 4
#   (shared); every marlin GPU test at HEAD; the benchmark
#   part 2: the table at 6c7d8a0 (pingpong splits within one wave) against the splits before
#   it: the 256-row tile (split 2 -> none, 4 -> 2), the 128-row tile at an odd K (4 -> 2); the
#   256-row tile against the 128-row one where both run whole in one wave (pingpong_for keeps
#   judging the 256-row tile by the split nearest one wave); the GPU tests of the table and
#   the split-K paths; the 128-row tile with six and eight stages (24 KB each) at 4096x4096,
#   M = 256 (round 21 had more stages no faster for the M <= 16 kernel, not this one);
#   dequantize + cuBLAS against the table at part 1's small weights (M = 384-1536, where the
#   pingpong kernel stayed 1.3-1.7x slower than cuBLAS with its split fixed)
#   part 3: the 128-row tile where it fills one wave and the 256-row tile's split would not
#   fit one (configs.pingpong_for at HEAD) against the 256-row tile the table chose before; the
#   GPU tests of the table and the split-K paths at HEAD
# Each step gets what is left of a 560-second call; results end up in $OUT/round33_PART.tgz.
#   OUT=dir bash bench/results/round33/device.sh COMMIT PART
set -uo pipefail
round=round33
source "$(dirname "${BASH_SOURCE[0]}")/../device_steps.sh"
case "$part" in
1)
    probe 40 ab_wave2 --set "split_k=1,split_skew=0" --rounds 3 \
        --cases 2048x1024:640,2048x4096:640,1536x4096:768,3072x4096:384
    probe 40 ab_wave4 --set "split_k=2,split_skew=2" --rounds 3 \
        --cases 1024x1024:640,1024x4096:640,1536x4096:384,384x4096:1536
    probe 40 ab_wave8 --set "split_k=4,shared_fixup=True" --rounds 3 \
        --cases 384x2048:768,512x4096:640,384x7168:768
    step 150 "tests_$card" python3 -m pytest -q -n 8 -p no:cacheprovider plugins/marlin/tests/test_gpu.py
    tail -2 "$work/tests_$card.txt"
    run_bench ""
    ;;
2)
    probe 40 ab_wave256 --set "split_k=2,split_skew=4" --rounds 3 \
        --cases 3072x8192:640,3072x14336:768,1536x12288:1536
    step 120 "tests_$card" python3 -m pytest -q -n 8 -p no:cacheprovider plugins/marlin/tests/test_gpu.py \
        -k "table or shared_fixup or split"
    tail -2 "$work/tests_$card.txt"
    probe 30 ab_wave256_4 --set "split_k=4,split_skew=0" --rounds 3 --cases 1536x16384:640
    probe 30 ab_wave128_odd --set "split_k=4,split_skew=0" --rounds 3 --cases 1024x544:640,1536x544:384
    probe 30 ab_tile256 --set "block_m=256" --rounds 3 --cases 3072x4096:640,3072x5120:640
    probe 30 ab_stages6 --set "num_stages=6" --rounds 3 --cases 4096x4096:256,4096x4096:200,2048x4096:256
    probe 30 ab_stages8 --set "num_stages=8" --rounds 3 --cases 4096x4096:256
    probe 40 ab_dequant_small --set "strategy='dequant',split_k=1,split_skew=0,shared_fixup=False" --rounds 3 \
        --cases 2048x1024:640,1024x1024:640,384x2048:768,512x4096:640,1024x4096:640,1536x4096:384
    ;;
3)
    probe 30 ab_tile128_rule --set "block_m=256" --rounds 3 --cases 3072x10240:640,3072x12288:640,3072x16384:640
    probe 20 ab_tile128_rule2 --set "block_m=256,split_skew=4" --rounds 3 --cases 1536x16384:640
    step 120 "tests_$card" python3 -m pytest -q -n 8 -p no:cacheprovider plugins/marlin/tests/test_gpu.py \
        -k "table or shared_fixup or split"
    tail -2 "$work/tests_$card.txt"
    ;;
*) echo "round 33 has no part $part"; exit 2 ;;
esac
pack
