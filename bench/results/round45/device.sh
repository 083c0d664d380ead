#!/usr/bin/env bash
# Round 45's device run (bench/notes_marlin.md, round 45): the 256-row pingpong tile whole (no
# split) below 64 K tiles (configs.PINGPONG_WHOLE_MIN_K_TILES=8, K >= 512, against the table's
# 64), where the table runs the 128-row tile or dequantize + cuBLAS. Round 43 measured it at
# eight launches of 1.8-9.8 waves; these are others, from 0.7 waves up, K = 512-3840.
#   ab_whole256: A the table, B the table with the floor at 8 K tiles; round 44's eleven
#     launches that change, and twenty-two more (the 256-row tile at 0.7-1 of a wave,
#     persistent, with a split tail; from dequantize + cuBLAS; K = 512-1024, three of them
#     moving from the 128-row tile to dequantize + cuBLAS)
#   ab_whole256_dq: A the table with the floor at 8, B dequantize + cuBLAS, where the
#     128-row tile gives way to the 256-row one (round 44's eleven and eight more)
#   OUT=dir [STEP_UNTIL=seconds] [STEP_DIR=$OUT/pN] bash bench/results/round45/device.sh COMMIT [PART]
set -uo pipefail
round=round45
source "$(dirname "${BASH_SOURCE[0]}")/../device_steps.sh"
from128=16384x2048:640,16384x2048:768,5120x3072:640,5120x3072:1024,3072x3072:1024,16384x3072:1024,17920x1536:768,22016x2048:640,9216x3072:768,16384x3072:512,22016x2048:512
from128+=,14336x2048:256,8192x2048:512,4096x3072:1024,11008x2048:512,8192x768:1024,12288x512:640,13824x3328:1024,8192x2048:300
fromdq=2048x2048:2048,3072x1536:2048,4096x1536:1280,6144x1024:768,14336x1024:1024,3072x3072:4096,1536x3072:4096
fromdq+=,3072x2560:3072,4096x2048:1280,5120x1024:768,3072x3072:3072
todq=4096x512:640,6144x512:512,3072x768:1024
floor=PINGPONG_WHOLE_MIN_K_TILES=8
case "$part" in
1)
    probe 120 ab_whole256 --b-table "$floor" --rounds 3 --cases "$from128,$fromdq,$todq"
    probe 90 ab_whole256_dq --a-table "$floor" --b-choose --set "strategy='dequant'" --rounds 3 --cases "$from128"
    ;;
*) echo "round 45 has no part $part"; exit 2 ;;
esac
pack
