#!/usr/bin/env bash
# Round 38's device run (bench/notes_marlin.md, round 38): the shipped table checked again.
#   ab_misses: the launches of rounds 34-37 where the table at HEAD chose the slower strategy
#     by 5% or more, and round 37's tie, measured again (A the old table, B dequantize +
#     cuBLAS): do the misses repeat, or were they one run's spread?
#   the whole suite on the GPU (last run at b80e345, round 28)
#   the benchmark with fp16 activations, outputs and baseline (last run at c8cbce8, round 28)
#   OUT=dir [STEP_UNTIL=seconds] [STEP_DIR=$OUT/pN] bash bench/results/round38/device.sh COMMIT [PART]
set -uo pipefail
round=round38
source "$(dirname "${BASH_SOURCE[0]}")/../device_steps.sh"
misses=2048x6656:640,1536x2560:1024,3072x512:512,1536x4096:384,1024x1792:192,256x8192:256
case "$part" in
1)
    old_table 40 ab_misses "$misses"
    suite
    run_bench fp16 --dtype float16
    ;;
*) echo "round 38 has no part $part"; exit 2 ;;
esac
pack
