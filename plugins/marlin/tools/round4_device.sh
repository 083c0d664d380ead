#!/bin/bash
# Round 4, one device call: the tiled-layout sweep (tools/round4.py).
cd "$(dirname "$0")/../../.." || exit 1
export PYTHONUNBUFFERED=1
python3 -m pip install --no-deps --no-build-isolation -q -e . -e plugins/marlin -e plugins/emulation 2>&1 | tail -3
t0=$(date +%s)
python3 plugins/marlin/tools/round4.py --round 6 --out "$OUT/round6.json" > "$OUT/round6_log.txt" 2>&1
echo "sweep rc=$? $(( $(date +%s) - t0 ))s"
grep -E "^#|COMPILE|BAD|Error" "$OUT/round6_log.txt" | head -20
