#!/usr/bin/env bash
# The GPU run behind bench/results/h100_run and h200_run: install the repository (no network there),
# run the whole test suite (GPU tests included), the conformance kit on every installed
# kernel, the overhead benchmark and the demo. Logs go to $OUT (default bench/results/gpu_run).
#   bash bench/gpu_run.sh COMMIT [tests|tools|all]    (two parts, each within a 10-minute call)
set -uo pipefail
out=${OUT:-bench/results/gpu_run}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
python3 -m pip install --no-deps --no-build-isolation -q -e . -e plugins/emulation -e plugins/marlin \
    -e plugins/flashinfer_cutlass -e examples/third_party_plugin || exit 1
{
    echo "commit: ${1:-unknown}   date: $(date -u +%FT%TZ)"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    python3 -c "import sys, torch, triton; print('python', sys.version.split()[0], 'torch', torch.__version__, 'triton', triton.__version__)"
} | tee "$out/device.txt"
step() { echo "== $1" | tee -a "$out/summary.txt"; shift; "$@" 2>&1 | tee "$out/$LOG"; echo "   exit ${PIPESTATUS[0]}" | tee -a "$out/summary.txt"; }
part=${2:-all}
if [ "$part" != tools ]; then
    LOG=pytest.txt step "pytest (whole suite, -n 8)" python3 -m pytest -q -n 8 -p no:cacheprovider -rs
fi
if [ "$part" != tests ]; then
    LOG=check.txt step "mxfp8 check (full grid)" mxfp8 check
    LOG=overhead.txt step "bench/overhead.py" python3 bench/overhead.py --device cuda --out "$out/overhead.json"
    LOG=demo.txt step "mxfp8 demo" mxfp8 demo
    LOG=explain.txt step "mxfp8 explain (4096x32 and 4096x4096 here, 4096x4096 planned for sm_100)" \
        bash -c "mxfp8 explain -k 4096 -n 32; mxfp8 explain -k 4096 -n 4096; mxfp8 explain -k 4096 -n 4096 --capability 10.0"
fi
cat "$out/summary.txt"
