#!/usr/bin/env bash
# Round 40's device run (bench/notes_marlin.md, round 40): the 128-row pingpong tile at a
# wave or more (persistent, split tail) against dequantize + cuBLAS. Round 39's term
# (configs.TILE128_COST) is in the fill rule only; pingpong_for's full-wave estimate has none,
# and there the table runs the 128-row tile wherever K is too short for the 256-row one
# (K < 4096: Llama-3.2-1B's 8192x2048, for one). A the table at HEAD (the kernel at every case),
# B dequantize + cuBLAS.
#   ab_full128: ten launches the term would send to dequantize + cuBLAS at a full wave, and
#     four it would keep; then the marlin GPU tests at HEAD (the term in the table)
#   OUT=dir [STEP_UNTIL=seconds] [STEP_DIR=$OUT/pN] bash bench/results/round40/device.sh COMMIT [PART]
set -uo pipefail
round=round40
source "$(dirname "${BASH_SOURCE[0]}")/../device_steps.sh"
flipped=8192x2048:2048,4096x2048:2048,14336x1792:1280,3072x1024:1024,8192x3072:4096,3072x3072:3072,10240x3840:3072,5632x2048:2048,2048x2304:1536,3072x2048:1536
kept=14336x2048:1024,4096x2048:640,14336x3840:1024,12288x3840:1536
case "$part" in
1)
    probe 120 ab_full128 --b-choose --set "strategy='dequant'" --rounds 3 --cases "$flipped,$kept"
    gpu_tests
    ;;
*) echo "round 40 has no part $part"; exit 2 ;;
esac
pack
