#!/usr/bin/env bash
# Round 49's device run (bench/notes_marlin.md, round 49): round 48's split-tail cost held out
# on both sides of its bound, K = 512, and the marlin GPU tests at the new table.
# configs.SPLIT_TAIL_WAVES = (0.4, 0.55) is charged under SPLIT_TAIL_FIT_WAVES = 3 waves of
# tiles (the bound chosen on round 48's data); none of these launches was timed before:
#   ab_tail_fit: A the table (dequantize + cuBLAS by the fitted cost), B the 256-row tile with
#     its tail split (the table before round 48: SPLIT_TAIL_FIT_WAVES=0), ten launches of
#     1.09-2.42 waves
#   ab_tail_bound: A the table (the 256-row tile, its tail split, kept by the bound), B
#     dequantize + cuBLAS (where the fitted cost without the bound sends them), ten launches
#     of 3.03-11.2 waves
# K = 512, where the table runs the 128-row tile past one wave (round 48: the 256-row tile
# 18-24% faster at 32768x512 M = 256 and 512, the same or slower at five others):
#   ab_k512_256b: A the table, B the 256-row tile whole (PINGPONG_WHOLE_MIN_K_TILES=8, and
#     PINGPONG_FILL_EXP=0 so that the fill rule keeps it), nine launches at M = 256-640
#   ab_k512_dqb: A the table, B dequantize + cuBLAS, at the same nine
# then the marlin GPU tests with the table at COMMIT.
#   OUT=dir [STEP_UNTIL=seconds] [STEP_DIR=$OUT/pN] bash bench/results/round49/device.sh COMMIT [PART]
set -uo pipefail
round=round49
source "$(dirname "${BASH_SOURCE[0]}")/../device_steps.sh"
fit=7168x2048:1280,3584x5632:2560,4608x3584:2048,6144x2560:1536,3072x9216:3072,2560x8192:4096
fit+=,4096x3072:2560,1536x11008:3072,2048x5632:2560,3072x2048:2048
bound=5120x5120:2560,4608x6144:3072,3584x5632:4096,7168x2048:2048,8960x2048:2048
bound+=,3072x12288:6144,3584x11008:6144,8960x2560:2560,5120x9216:6144,18944x2048:2560
k512=32768x512:384,32768x512:640,16384x512:512,24576x512:256,24576x512:512,28672x512:256
k512+=,12288x512:512,18432x512:256,65536x512:256
dequant="strategy='dequant'"
case "$part" in
1)
    probe 60 ab_tail_fit --b-table "SPLIT_TAIL_FIT_WAVES=0" --rounds 3 --cases "$fit"
    probe 90 ab_tail_bound --b-choose --set "$dequant" --rounds 3 --cases "$bound"
    probe 30 ab_k512_256b --b-table "PINGPONG_WHOLE_MIN_K_TILES=8,PINGPONG_FILL_EXP=0.0" --rounds 3 --cases "$k512"
    probe 30 ab_k512_dqb --b-choose --set "$dequant" --rounds 3 --cases "$k512"
    gpu_tests
    ;;
*) echo "round 49 has no part $part"; exit 2 ;;
esac
pack
