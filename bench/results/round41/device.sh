#!/usr/bin/env bash
# Round 41's device run (bench/notes_marlin.md, round 41): the 128-row tile's term refitted
# with round 40's full waves (configs.TILE128_COST = 0.25, at every fill from half a wave up),
# on launches it was not fitted to. A the table without the term (TILE128_COST=0: the kernel
# at every case), B dequantize + cuBLAS.
#   ab_tile128_all: eighteen launches the term sends to dequantize + cuBLAS (ten at a wave
#     or more, M = 768-4096; eight at 0.55-0.97 of one) and five it keeps near the boundary
#   OUT=dir [STEP_UNTIL=seconds] [STEP_DIR=$OUT/pN] bash bench/results/round41/device.sh COMMIT [PART]
set -uo pipefail
round=round41
source "$(dirname "${BASH_SOURCE[0]}")/../device_steps.sh"
flipped=6144x1024:768,4096x2560:1024,3072x2048:1280,2048x3840:1536,5120x1536:2048,13824x3328:3072,11008x2816:4096,8192x3072:2048,8960x1536:2048,6144x2048:1280,1536x3584:384,3072x1024:512,2048x2304:640,2048x1792:768,2048x3328:1024,1536x3840:1280,1024x1792:2048,2048x3840:640
kept=8192x3072:1024,13824x3328:1024,3072x2048:512,2560x2304:768,4096x3840:768
case "$part" in
1)
    probe 150 ab_tile128_all --a-table "TILE128_COST=0.0" --b-choose --set "strategy='dequant'" --rounds 3 \
        --cases "$flipped,$kept"
    ;;
*) echo "round 41 has no part $part"; exit 2 ;;
esac
pack
