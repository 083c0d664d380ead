#!/usr/bin/env bash
# Round 44's device run (bench/notes_marlin.md, round 44): at a wave or more, rounds 34-41 fit
# the 128-row tile's term best at 0.45, not the table's 0.25 (round36/fit_fill.txt), but 0.45
# was fitted after round 41's check. Held out here: A the table (the kernel, 128 rows), B
# dequantize + cuBLAS.
#   ab_term45: ten small-model launches at 1.5-11.6 waves (Llama-3.2-1B/3B, Qwen2.5-1.5B/3B,
#     Phi-3-mini, Gemma-2B; M = 640-1024) that 0.45 sends to dequantize + cuBLAS and 0.25
#     keeps, and two that both keep (M = 512)
#   OUT=dir [STEP_UNTIL=seconds] [STEP_DIR=$OUT/pN] bash bench/results/round44/device.sh COMMIT [PART]
set -uo pipefail
round=round44
source "$(dirname "${BASH_SOURCE[0]}")/../device_steps.sh"
flipped=3072x2048:768,16384x2048:640,16384x2048:768,5120x3072:640,5120x3072:1024,3072x3072:1024,16384x3072:1024,17920x1536:768,22016x2048:640,9216x3072:768
kept=16384x3072:512,22016x2048:512
case "$part" in
1)
    probe 150 ab_term45 --b-choose --set "strategy='dequant'" --rounds 3 --cases "$flipped,$kept"
    ;;
*) echo "round 44 has no part $part"; exit 2 ;;
esac
pack
