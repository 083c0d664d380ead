#!/usr/bin/env bash
# Round 46's device run (bench/notes_marlin.md, round 46): configs.launch_fill, fitted to
# rounds 43-45, held out. Past one wave it scales the 256-row tile's estimate where its tiles
# fill a second wave partly (w / 2) or its last wave runs split (w / (whole waves + 1 / split)).
#   ab_wave_fill: A the 256-row tile (the table with PINGPONG_FILL_EXP=0: the full-wave
#     estimate past one wave, which keeps the kernel at all sixteen), B dequantize + cuBLAS;
#     twelve launches launch_fill sends to dequantize + cuBLAS (two with a tail split in four,
#     K >= 4096) and six near the boundary it keeps
#   then the marlin GPU tests with the table at COMMIT
#   OUT=dir [STEP_UNTIL=seconds] [STEP_DIR=$OUT/pN] bash bench/results/round46/device.sh COMMIT [PART]
set -uo pipefail
round=round46
source "$(dirname "${BASH_SOURCE[0]}")/../device_steps.sh"
flipped=8960x1536:512,2560x2048:2048,5120x3072:1280,3072x3072:1536,4096x1024:1280,7168x1536:768,3584x2048:2048
flipped+=,4608x2304:1536,4608x2304:2048,2304x2304:3072,1536x4096:3072,1536x6144:3072
kept=6144x2048:1536,5632x2048:1280,2048x5504:4096,7168x1536:1024,8960x1536:768,6144x2048:768
case "$part" in
1)
    probe 90 ab_wave_fill --a-table "PINGPONG_FILL_EXP=0.0" --b-choose --set "strategy='dequant'" --rounds 3 \
        --cases "$flipped,$kept"
    gpu_tests
    ;;
*) echo "round 46 has no part $part"; exit 2 ;;
esac
pack
