#!/usr/bin/env bash
# Round 47's device run (bench/notes_marlin.md, round 47): launches where the table runs the
# 128-row pingpong tile past one wave (1.06-1.30 waves of 128-row tiles, whole or with a split
# tail) because the 256-row tile's split nearest one wave (in two, 1.06-1.30 waves) leaves it
# under 64 K tiles a run, while choose would not take that split anyway (one wave) and the
# 256-row tile whole fills 0.53-0.65 of one. Never measured.
#   ab_one_wave256: A the table (the 128-row tile), B the 256-row tile whole (the table with
#     PINGPONG_MIN_K_TILES=4 and PINGPONG_FILL_EXP=0: the floor and the fill rule out of its
#     way), sixteen launches at M = 129-1024 (Qwen2.5-1.5B/3B, Phi-3-mini, Llama-2-7B,
#     Phi-2, Qwen2.5-7B and Llama-3.2-3B layers among them)
#   ab_one_wave256_dq: A the 256-row tile whole, B dequantize + cuBLAS, at the six of them
#     from M = 512 (below, 1 + 330 / M puts dequantize + cuBLAS far behind)
#   OUT=dir [STEP_UNTIL=seconds] [STEP_DIR=$OUT/pN] bash bench/results/round47/device.sh COMMIT [PART]
set -uo pipefail
round=round47
source "$(dirname "${BASH_SOURCE[0]}")/../device_steps.sh"
small=8960x1536:256,8960x1536:192,11008x2048:256,11008x2048:160,9216x3072:256,9216x3072:129
small+=,11008x4096:256,11008x4096:200,10240x2560:192,10240x7168:256
large=4608x3584:512,5120x3072:512,3072x2048:768,3072x3072:768,2304x3072:1024,2304x4096:1024
whole256="PINGPONG_MIN_K_TILES=4,PINGPONG_FILL_EXP=0.0"
case "$part" in
1)
    probe 100 ab_one_wave256 --b-table "$whole256" --rounds 3 --cases "$small,$large"
    probe 60 ab_one_wave256_dq --a-table "$whole256" --b-choose --set "strategy='dequant'" --rounds 3 --cases "$large"
    ;;
*) echo "round 47 has no part $part"; exit 2 ;;
esac
pack
