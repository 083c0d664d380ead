#!/usr/bin/env bash
# Round 39's device run (bench/notes_marlin.md, round 39): a candidate term for the 128-row
# pingpong tile in the fill rule, measured before it goes into the table. A the table at HEAD
# (the kernel at every case), B dequantize + cuBLAS.
#   ab_tile128: fourteen launches of the 128-row tile at 0.5-1 of a wave (K >= 1024) that the
#     term (1 + 0.15 + 220 / K) / fill^0.6 would send to dequantize + cuBLAS, none of them in
#     rounds 34-38's probes, and six it would keep near the boundary
#   OUT=dir [STEP_UNTIL=seconds] [STEP_DIR=$OUT/pN] bash bench/results/round39/device.sh COMMIT [PART]
set -uo pipefail
round=round39
source "$(dirname "${BASH_SOURCE[0]}")/../device_steps.sh"
flipped=1024x4096:2048,1024x2560:2048,2048x4096:640,2048x2048:640,2048x3072:768,1536x5120:1024,1536x3072:1280,768x2048:1280,1024x3072:768,1024x4096:640,768x4096:1024,768x1536:384,1536x1024:384,3072x1536:384
kept=2048x7168:768,1536x6144:1280,3072x2048:384,2048x2048:1024,1536x1024:640,3072x2560:384
case "$part" in
1)
    probe 90 ab_tile128 --b-choose --set "strategy='dequant'" --rounds 3 --cases "$flipped,$kept"
    ;;
*) echo "round 39 has no part $part"; exit 2 ;;
esac
pack
