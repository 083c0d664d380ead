#!/bin/bash
# One device call: one variant set of tools/round4.py (bash round4_device.sh 6).
cd "$(dirname "$0")/../../.." || exit 1
export PYTHONUNBUFFERED=1
python3 -m pip install --no-deps --no-build-isolation -q -e . -e plugins/marlin -e plugins/emulation 2>&1 | tail -3
t0=$(date +%s)
python3 plugins/marlin/tools/round4.py --round "${1:-6}" --out "$OUT/round${1:-6}.json" > "$OUT/round${1:-6}_log.txt" 2>&1
echo "sweep rc=$? $(( $(date +%s) - t0 ))s"
grep -E "^#|COMPILE|BAD|Error" "$OUT/round${1:-6}_log.txt" | head -20
