#!/usr/bin/env bash
# Round 51's device run (bench/notes_marlin.md, round 51): the 256-row tile whole within one
# wave without PINGPONG_COST's b / K term (configs.ONE_WAVE_K_COST = 0, fitted to rounds
# 34-50: fit_one_wave.py), held out; the 256-row tile below K = 512 past one wave; then the
# marlin GPU tests and the benchmark (both changed in session 35). None of these launches was
# timed before:
#   ab_one_wave: A the table (dequantize + cuBLAS by the fill rule), B the 256-row tile whole
#     (ONE_WAVE_K_COST=0), fifteen launches of 0.55-0.85 of a wave, K = 768-4096
#   ab_one_wave_dq: A the table (dequantize + cuBLAS, which ONE_WAVE_K_COST = 0 keeps too), B
#     the 256-row tile whole (ONE_WAVE_K_COST=0,PINGPONG_FILL_EXP=0.0), six launches where
#     the fit puts dequantize + cuBLAS 1-11% ahead
#   ab_128_one_wave: A the table (dequantize + cuBLAS), B the 128-row tile whole
#     (PINGPONG_FILL_EXP=0.0), six launches of 0.61-0.85 of a wave at K = 512-704
#   ab_k_below_512: A the table (the 128-row tile past one wave), B the 256-row tile whole
#     where configs.fewer_waves_256 gives it (PINGPONG_WAVES_MIN_K_TILES=4), eight launches
#     at K = 256-448
#   OUT=dir [STEP_UNTIL=seconds] [STEP_DIR=$OUT/pN] bash bench/results/round51/device.sh COMMIT [PART]
set -uo pipefail
round=round51
source "$(dirname "${BASH_SOURCE[0]}")/../device_steps.sh"
moved=4096x768:640,4608x768:768,2560x768:896,3584x1024:1024,2560x1024:1152,4608x1024:512
moved+=,3072x1280:1024,2048x1280:1664,2560x1536:1152,3584x1536:768,3072x1792:1024
moved+=,2048x2048:1792,2560x2560:1280,2048x3072:1536,2560x4096:896
kept=2560x768:1024,3072x768:768,2048x1024:1280,1536x1280:1792,2048x1536:1152,1536x2048:1664
tile128=2560x512:640,3584x512:384,2048x640:768,2560x640:512,2048x704:896,1536x704:1024
below512=32768x256:256,65536x256:256,32768x320:256,24576x384:384,32768x384:512
below512+=,16384x448:512,14336x448:640,65536x448:640
case "$part" in
1)
    probe 80 ab_one_wave --b-table "ONE_WAVE_K_COST=0.0" --rounds 3 --cases "$moved"
    probe 40 ab_one_wave_dq --b-table "ONE_WAVE_K_COST=0.0,PINGPONG_FILL_EXP=0.0" --rounds 3 --cases "$kept"
    probe 30 ab_128_one_wave --b-table "PINGPONG_FILL_EXP=0.0" --rounds 3 --cases "$tile128"
    probe 40 ab_k_below_512 --b-table "PINGPONG_WAVES_MIN_K_TILES=4" --rounds 3 --cases "$below512"
    gpu_tests
    run_bench ""
    ;;
*) echo "round 51 has no part $part"; exit 2 ;;
esac
pack
