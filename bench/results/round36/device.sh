#!/usr/bin/env bash
# Round 36's device run (bench/notes_marlin.md, round 36): two questions round 35's run left,
# on shapes it did not measure; A the table before round 35's rules (ab_probe --a-table), B
# dequantize + cuBLAS; then the marlin GPU tests.
#   ab_split256: the 256-row tile splitting K (in two; in four with the shared fix-up) at
#     0.73 of one wave, which configs.PINGPONG_FILL_EXP sends to dequantize + cuBLAS; round
#     34 and 35 measured two such launches, and the kernel won both (8% and 26%)
#   ab_under_half: launches under half a wave (configs.PINGPONG_FILL_MIN keeps the kernel),
#     every kind the table runs there: the 128-row tile whole (K = 256), split in two, in four
#     and in eight (shared); round 35 measured four, dequantize + cuBLAS won all (8-11%)
#   OUT=dir [STEP_UNTIL=seconds] [STEP_DIR=$OUT/pN] bash bench/results/round36/device.sh COMMIT [PART]
set -uo pipefail
round=round36
source "$(dirname "${BASH_SOURCE[0]}")/../device_steps.sh"
split256=768x10240:2048,768x14848:2048,1024x8192:1536,1024x13312:1536,512x13312:3072,512x10240:3072,512x5120:1536,512x8192:1536,512x12800:1536,512x16384:1536
under_half=2048x256:192,4096x256:256,3072x256:129,1024x256:320,1024x512:256,2048x768:192,512x768:640,1024x768:512,768x768:640,256x1024:512,512x1536:256,384x1792:384,256x4096:384,256x16384:512,512x2048:160,256x8192:256
case "$part" in
1)
    old_table 60 ab_split256 "$split256"
    old_table 60 ab_under_half "$under_half"
    gpu_tests
    ;;
*) echo "round 36 has no part $part"; exit 2 ;;
esac
pack
