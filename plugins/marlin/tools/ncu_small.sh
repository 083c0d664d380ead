#!/bin/bash
# One device call: Nsight Compute on the small-M kernels (tools/ncu_small.py).
cd "$(dirname "$0")/../../.." || exit 1
python3 -m pip install --no-deps --no-build-isolation -q -e . -e plugins/marlin 2>&1 | tail -3
ncu --clock-control none -k regex:mx_w8a16 --launch-skip 2 --launch-count 2 \
    --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
    --section MemoryWorkloadAnalysis --section SchedulerStats \
    python3 plugins/marlin/tools/ncu_small.py > "$OUT/ncu_small.txt" 2>&1
echo "ncu rc=$?"
