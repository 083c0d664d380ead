#!/usr/bin/env bash
# Round 34's device runs (bench/notes_marlin.md, round 34).
#   part 1: the pingpong kernel where its programs fill 0.55-0.73 of one wave (M = 384-4096),
#   against dequantize + cuBLAS (the crossover estimate, PINGPONG_COST / DEQUANT_COST, was
#   measured at full waves), and the 256-row tile there against the 128-row tile as the table
#   would run it (its split, split tail and persistent mode; ab_probe --b-choose); every marlin
#   GPU test at HEAD; the benchmark
#   part 2: M = 129-256 at K <= 160, where configs.pingpong_for estimates dequantize + cuBLAS
#   the faster but the table falls through to the Triton GEMM (_SWAP_256): that against
#   dequantize + cuBLAS
#   part 3: for a short call, part 1's and part 2's comparisons with dequantize + cuBLAS, the tests
# Each step gets what is left of a 560-second call (STEP_UNTIL); results end up in $OUT/round34_PART.tgz.
#   OUT=dir [STEP_UNTIL=seconds] [STEP_DIR=$OUT/pN] bash bench/results/round34/device.sh COMMIT PART
set -uo pipefail
round=round34
source "$(dirname "${BASH_SOURCE[0]}")/../device_steps.sh"
# the 256-row tile, whole or split in two, 48-96 programs
cases_256=1536x12288:1536,1536x8704:1536,768x16384:3072,3072x16384:768,3072x10240:768,2048x12288:1280,768x8192:4096,6144x16384:512,3072x8192:1024,768x12288:2048,3072x16384:512
# the 128-row tile, whole or split, 72-96 programs
cases_128=768x4096:1536,3072x6656:384,1024x2048:1280,2048x6656:640,4096x7168:384,1536x4096:384,768x2048:768,768x8704:384
cases_tinyk=4096x128:256,14336x128:200,4096x160:256,8192x64:192,14336x32:256
dequant() { probe "$1" "$2" --b-choose --set "strategy='dequant'" --rounds 3 --cases "$3"; }
case "$part" in
1)
    dequant 60 ab_dq_256 "$cases_256"
    run_bench ""
    dequant 50 ab_dq_128 "$cases_128"
    gpu_tests
    probe 60 ab_tile128 --b-choose --set "block_m=128" --rounds 3 --cases "$cases_256"
    ;;
2)
    dequant 40 ab_tinyk_dq "$cases_tinyk"
    ;;
3)
    # a short call: part 1's and part 2's comparisons with dequantize + cuBLAS, then the tests
    dequant 60 ab_dq_256 "$cases_256"
    dequant 50 ab_dq_128 "$cases_128"
    dequant 40 ab_tinyk_dq "$cases_tinyk"
    gpu_tests
    ;;
*) echo "round 34 has no part $part"; exit 2 ;;
esac
pack
