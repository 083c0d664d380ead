#!/usr/bin/env bash
# Round 42's device run (bench/notes_marlin.md, round 42): the marlin GPU tests at the table
# with round 41's term (configs.TILE128_COST at every fill).
#   OUT=dir [STEP_UNTIL=seconds] [STEP_DIR=$OUT/pN] bash bench/results/round42/device.sh COMMIT [PART]
set -uo pipefail
round=round42
source "$(dirname "${BASH_SOURCE[0]}")/../device_steps.sh"
case "$part" in
1)
    gpu_tests
    ;;
*) echo "round 42 has no part $part"; exit 2 ;;
esac
pack
