#!/bin/bash
# Round 2 in one device call (run from anywhere; $OUT collects the results):
# experiment -> decided heuristic table -> GPU tests -> benchmark on the decided table.
cd "$(dirname "$0")/../../.." || exit 1
export PYTHONUNBUFFERED=1
python3 -m pip install --no-deps --no-build-isolation -q -e . -e plugins/marlin -e plugins/emulation 2>&1 | tail -3
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv
t0=$(date +%s)
python3 plugins/marlin/tools/round2.py --reps 25 --out "$OUT/round2.json" > "$OUT/round2_log.txt" 2>&1
echo "round2 rc=$? $(( $(date +%s) - t0 ))s"
python3 plugins/marlin/tools/round2_decide.py "$OUT/round2.json" --write plugins/marlin/mxfp8_marlin/configs.py \
  > "$OUT/decisions.json" 2>&1
echo "decide rc=$?"
cp plugins/marlin/mxfp8_marlin/configs.py "$OUT/configs.py"
grep "round2: " plugins/marlin/mxfp8_marlin/configs.py | cut -c1-160
python3 -m pytest plugins/marlin -v -n 8 -p no:cacheprovider > "$OUT/gpu_tests.txt" 2>&1
echo "tests rc=$? $(( $(date +%s) - t0 ))s"
tail -3 "$OUT/gpu_tests.txt"
python3 bench/bench_gemm.py --kernels marlin --out "$OUT/marlin_h100.json" > "$OUT/bench_log.txt" 2>&1
echo "bench rc=$? $(( $(date +%s) - t0 ))s"
sed -n '/^## summary/,$p' "$OUT/round2_log.txt" | cut -c1-330
tail -12 "$OUT/bench_log.txt"
