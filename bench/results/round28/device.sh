#!/usr/bin/env bash
# Round 28's device runs (bench/notes_marlin.md, round 28): the shipped HEAD measured again.
#   part 1: the benchmark with bf16 activations (the issue's table), then with fp16 ones
#           (bench_gemm.py --dtype float16: fp16 activations, outputs and cuBLAS baseline);
#   part 2: the whole suite, then A/B probes of the table's config against: split-K halved
#           and doubled at 4096x4096, M = 4 and 16; the 256-row tile split in four at
#           M = 256 (4096x4096, 4096x14336), and split in two (4096x4096);
#   part 3: split-K halved for the 64-row wgmma tile (M = 64 to 128), then the benchmark
#           (bf16).
#   part 4: the split-K skew at M = 256: one or two K tiles for the 128-row tile (none in
#           the table), two for the 256-row tile at 8192x8192 (four in the table).
#   part 5: after the 128-row tile's skew of two went into the table: the marlin GPU tests,
#           then the benchmark (bf16).
# Each step gets what is left of a 560-second call; results end up in $OUT/round28_PART.tgz
# (the device tool returns at most 8 files).
#   OUT=dir bash bench/results/round28/device.sh COMMIT PART
set -uo pipefail
out=${OUT:-round28}
work=$(mktemp -d)/r28
mkdir -p "$out" "$work"
part=${2:-1}
source "$(dirname "${BASH_SOURCE[0]}")/../device_steps.sh"
case "$part" in
1)
    run_bench ""
    run_bench fp16 --dtype float16 ;;
2)
    step 300 "suite_$card" python3 -m pytest -q -n 8 -p no:cacheprovider -rs
    tail -3 "$work/suite_$card.txt"
    probe 90 ab_split2 --cases 4096x4096:4,4096x4096:16 --set split_k=2 --rounds 3
    probe 90 ab_split8 --cases 4096x4096:4,4096x4096:16 --set split_k=8 --rounds 3
    probe 90 ab_bm256_sk4 --cases 4096x4096:256,4096x14336:256 --set block_m=256,split_k=4 --rounds 3
    probe 90 ab_bm256_sk2 --cases 4096x4096:256 --set block_m=256,split_k=2 --rounds 3 ;;
3)
    probe 60 ab_m64_split2 --cases 4096x4096:64,4096x14336:64,1024x4096:64 --set split_k=2 --rounds 3
    probe 60 ab_m64_split1 --cases 8192x8192:64,4096x4096:96,4096x4096:128,4096x14336:128 --set split_k=1 --rounds 3
    run_bench "" ;;
4)
    probe 60 ab_skew1_128 --cases 4096x4096:256,4096x14336:256 --set split_skew=1 --rounds 3
    probe 60 ab_skew2_128 --cases 4096x4096:256,4096x14336:256 --set split_skew=2 --rounds 3
    probe 60 ab_skew2_256 --cases 8192x8192:256 --set split_skew=2 --rounds 3 ;;
5)
    step 200 "tests_$card" python3 -m pytest -q -n 8 -p no:cacheprovider plugins/marlin/tests/test_gpu.py
    tail -2 "$work/tests_$card.txt"
    run_bench "" ;;
esac
tar -C "$(dirname "$work")" -czf "$out/round28_$part.tgz" r28
