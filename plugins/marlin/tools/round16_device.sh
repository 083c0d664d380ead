#!/bin/bash
# One device call for round 16 or 16b: the Gluon kernel's GPU tests, then the round's sweep.
cd "$(dirname "$0")/../../.." || exit 1
export PYTHONUNBUFFERED=1
python3 -m pip install --no-deps --no-build-isolation -q -e . -e plugins/marlin -e plugins/emulation 2>&1 | tail -3
timeout 200 python3 -m pytest -q -x plugins/marlin/tests/test_gpu.py plugins/marlin/tests/test_kernels.py -k wgmma > "$OUT/round${1:-16}_tests.txt" 2>&1
echo "tests rc=$?"; tail -5 "$OUT/round${1:-16}_tests.txt"
t0=$(date +%s)
timeout 330 python3 plugins/marlin/tools/round4.py --round "${1:-16}" --parts small,mid,large --out "$OUT/round${1:-16}.json" \
    > "$OUT/round${1:-16}_log.txt" 2>&1
echo "sweep rc=$? $(( $(date +%s) - t0 ))s"
grep -E "^#|COMPILE|BAD|Error" "$OUT/round${1:-16}_log.txt" | head -20
