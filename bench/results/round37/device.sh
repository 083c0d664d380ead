#!/usr/bin/env bash
# Round 37's device run (bench/notes_marlin.md, round 37): configs.UNDER_HALF_DEQUANT_SPLITS on
# launches it was not fitted to; A the table before rounds 35-37's rules (old_table), B
# dequantize + cuBLAS.
#   ab_under_half: twelve launches under half a wave of the 128-row tile split in two or four,
#     which the rule sends to dequantize + cuBLAS (8-64 programs, below round 36's 24), and four
#     it keeps (whole at K = 256, split in eight)
#   then the marlin GPU tests and the benchmark at the commit under test, time allowing
#   OUT=dir [STEP_UNTIL=seconds] [STEP_DIR=$OUT/pN] bash bench/results/round37/device.sh COMMIT [PART]
set -uo pipefail
round=round37
source "$(dirname "${BASH_SOURCE[0]}")/../device_steps.sh"
flipped=640x768:640,256x768:256,256x512:320,640x512:448,256x768:768,256x512:129,640x1280:129,768x1536:160,256x1792:768,384x1280:384,384x1536:160,1024x1792:192
kept=1536x256:256,2048x256:320,384x2048:256,512x4096:192
case "$part" in
1)
    old_table 60 ab_under_half "$flipped,$kept"
    gpu_tests
    run_bench ""
    ;;
*) echo "round 37 has no part $part"; exit 2 ;;
esac
pack
