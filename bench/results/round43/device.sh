#!/usr/bin/env bash
# Round 43's device run (bench/notes_marlin.md, round 43): at K < 4096 past one wave the table
# ran the 128-row tile (PINGPONG_MIN_K_TILES: the 256-row tile wants 64 K tiles a program),
# which lost to dequantize + cuBLAS at every launch of rounds 40-41. Would the 256-row tile,
# which decodes each weight half as often, win those back? A the 128-row tile (the table with
# --a-table TILE128_COST=0.0), B the same config with 256 rows; rounds 40-41 measured
# dequantize + cuBLAS at the same launches.
#   OUT=dir [STEP_UNTIL=seconds] [STEP_DIR=$OUT/pN] bash bench/results/round43/device.sh COMMIT [PART]
set -uo pipefail
round=round43
source "$(dirname "${BASH_SOURCE[0]}")/../device_steps.sh"
cases=8192x2048:2048,4096x2048:2048,8192x3072:4096,10240x3840:3072,8960x1536:2048,13824x3328:3072,8192x3072:2048,6144x2048:1280
case "$part" in
1)
    probe 90 ab_rows256 --a-table "TILE128_COST=0.0" --set block_m=256 --rounds 3 --cases "$cases"
    ;;
*) echo "round 43 has no part $part"; exit 2 ;;
esac
pack
