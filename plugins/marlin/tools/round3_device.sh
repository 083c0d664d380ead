#!/bin/bash
# Round 2, second call: a wider sweep of the CUDA-core kernel at M=1 against the tensor-core
# kernel (same decision rule), then the GPU tests and the benchmark on the final table.
cd "$(dirname "$0")/../../.." || exit 1
export PYTHONUNBUFFERED=1
python3 -m pip install --no-deps --no-build-isolation -q -e . -e plugins/marlin -e plugins/emulation 2>&1 | tail -3
t0=$(date +%s)
python3 plugins/marlin/tools/round2.py --parts gemv,small --ms 1 --reps 25 \
  --gemv 8x2048x8,8x2048x4,8x1024x4,4x2048x4,4x4096x8,4x4096x4,8x4096x8,16x2048x8 \
  --out "$OUT/round3.json" > "$OUT/round3_log.txt" 2>&1
echo "sweep rc=$? $(( $(date +%s) - t0 ))s"
python3 plugins/marlin/tools/round2_decide.py "$OUT/round3.json" --write plugins/marlin/mxfp8_marlin/configs.py \
  > "$OUT/decisions3.json" 2>&1
echo "decide rc=$?"
cp plugins/marlin/mxfp8_marlin/configs.py "$OUT/configs.py"
grep "round2: gemv" plugins/marlin/mxfp8_marlin/configs.py
python3 -m pytest plugins/marlin -v -n 8 -p no:cacheprovider > "$OUT/gpu_tests.txt" 2>&1
echo "tests rc=$? $(( $(date +%s) - t0 ))s"
tail -3 "$OUT/gpu_tests.txt"
python3 bench/bench_gemm.py --out "$OUT/marlin_h100.json" > "$OUT/bench_log.txt" 2>&1
echo "bench rc=$? $(( $(date +%s) - t0 ))s"
sed -n '/^## summary/,$p' "$OUT/round3_log.txt" | cut -c1-300
tail -12 "$OUT/bench_log.txt"
