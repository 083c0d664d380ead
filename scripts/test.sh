#!/usr/bin/env bash
# Set up the environment (scripts/setup.sh), then run the whole test suite.
# Extra arguments go to pytest. A run that collects no test fails.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${MXFP8_VENV:-$root/.venv}
bash "$root/scripts/setup.sh" || exit $?
cd "$root"
"$venv/bin/python" -m pytest "$@"
status=$?
if [ "$status" -eq 5 ]; then
    echo "error: pytest collected no tests" >&2
    exit 1
fi
exit "$status"
