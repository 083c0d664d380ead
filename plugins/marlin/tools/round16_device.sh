#!/bin/bash
# One device call for round 16: the Gluon kernel's GPU tests, then the round's sweep.
cd "$(dirname "$0")/../../.." || exit 1
export PYTHONUNBUFFERED=1
python3 -m pip install --no-deps --no-build-isolation -q -e . -e plugins/marlin -e plugins/emulation 2>&1 | tail -3
timeout 200 python3 -m pytest -q -x plugins/marlin/tests/test_gpu.py -k wgmma > "$OUT/round16_tests.txt" 2>&1
echo "tests rc=$?"; tail -5 "$OUT/round16_tests.txt"
t0=$(date +%s)
timeout 330 python3 plugins/marlin/tools/round4.py --round 16 --parts small,mid,large --out "$OUT/round16.json" \
    > "$OUT/round16_log.txt" 2>&1
echo "sweep rc=$? $(( $(date +%s) - t0 ))s"
grep -E "^#|COMPILE|BAD|Error" "$OUT/round16_log.txt" | head -20
