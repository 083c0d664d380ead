#!/usr/bin/env bash
# Round 35's device run (bench/notes_marlin.md, round 35): the table's two new rules against
# shapes they were not fitted to, A the table before them (ab_probe --a-table), B dequantize +
# cuBLAS; the marlin GPU tests; the benchmark if time is left.
#   ab_held_out: launches of less than one wave that configs.PINGPONG_FILL_EXP sends to
#     dequantize + cuBLAS (fill 0.55-0.73, as fitted) and four it keeps near the boundary
#   ab_low_fill: launches under half a wave, which the table leaves to the kernel
#     (configs.PINGPONG_FILL_MIN, below the fitted fills): would dequantize + cuBLAS win there too?
#   ab_tiny_k: M = 129-256 at K = 32-160 (configs.DEQUANT_MIN_K)
#   OUT=dir [STEP_UNTIL=seconds] [STEP_DIR=$OUT/pN] bash bench/results/round35/device.sh COMMIT [PART]
set -uo pipefail
round=round35
source "$(dirname "${BASH_SOURCE[0]}")/../device_steps.sh"
held_out=768x14848:1536,1536x4096:2048,768x10496:4096,1536x7936:768,1024x13056:3072,2048x15360:1280,1024x7424:1536,768x4608:768,1024x10240:1536,3072x11776:768,1536x9984:2048,2048x14336:1536
kept=1536x2560:1024,2048x1280:768,3072x768:384,3072x512:640
low_fill=768x512:192,768x768:129,1024x768:256,1536x512:384,3072x512:512,1536x512:256
tiny_k=2048x32:256,8192x32:256,4096x32:192,4096x64:256,14336x64:129,2048x96:192,8192x96:256,1024x128:192,2048x128:256,8192x160:256,14336x160:256
case "$part" in
1)
    old_table 60 ab_held_out "$held_out,$kept"
    old_table 40 ab_low_fill "$low_fill"
    old_table 40 ab_tiny_k "$tiny_k"
    gpu_tests
    run_bench ""
    ;;
*) echo "round 35 has no part $part"; exit 2 ;;
esac
pack
