#!/usr/bin/env bash
# Round 50's device run (bench/notes_marlin.md, round 50): round 49's bound of the split-tail
# cost (configs.SPLIT_TAIL_FIT_WAVES = 2, chosen on round 49's data) held out, then the marlin
# GPU tests and the benchmark at the new table (round 49 also added configs.fewer_waves_256).
# None of these launches was timed before:
#   ab_bound2: A the table (the 256-row tile, its tail split: 1 / split from two waves), B
#     dequantize + cuBLAS (where the bound at three waves sent them), ten launches of 2.12-2.42
#     waves
#   ab_fit145: A the table (dequantize + cuBLAS by the fitted cost), B the 256-row tile, its
#     tail split (SPLIT_TAIL_FIT_WAVES=0), five launches of 1.45 waves
#   OUT=dir [STEP_UNTIL=seconds] [STEP_DIR=$OUT/pN] bash bench/results/round50/device.sh COMMIT [PART]
set -uo pipefail
round=round50
source "$(dirname "${BASH_SOURCE[0]}")/../device_steps.sh"
bound=7168x2304:1280,3584x4608:2560,6144x2304:1536,2304x8192:4096,3072x5632:3072,3072x12288:3072
bound+=,2560x5632:4096,4096x2304:2560,2560x11008:4096,5120x2048:2048
fit=1536x5120:4096,1536x14336:4096,2048x4608:3072,2048x9216:3072,3072x2560:2048
case "$part" in
1)
    probe 60 ab_bound2 --b-choose --set "strategy='dequant'" --rounds 3 --cases "$bound"
    probe 40 ab_fit145 --b-table "SPLIT_TAIL_FIT_WAVES=0" --rounds 3 --cases "$fit"
    gpu_tests
    run_bench ""
    ;;
*) echo "round 50 has no part $part"; exit 2 ;;
esac
pack
