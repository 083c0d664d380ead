#!/usr/bin/env bash
# Create (or update) the virtual environment .venv with mxfp8-core, every plugin under
# plugins/ and examples/, and the test tools.
#
# PyTorch is installed first and on its own: MXFP8_TORCH (default torch==2.13.0, which
# this workplace serves as a CPU build from local disk) picks the build, so no plugin's
# plain `torch` requirement can pull a multi-GB CUDA build. On a GPU machine, set
# MXFP8_TORCH to the CUDA build you want, or point MXFP8_VENV at an environment that
# already has torch. Set MXFP8_VENV to use another location than .venv.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${MXFP8_VENV:-$root/.venv}
python=${PYTHON:-python3}

[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip() { "$venv/bin/python" -m pip --disable-pip-version-check --quiet "$@"; }

if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
    pip install "${MXFP8_TORCH:-torch==2.13.0}"
fi
# The pins, less Triton's where torch requires its own: its CUDA builds pin the Triton they
# were built with (torch 2.11: Triton 3.6, the release the marlin Gluon kernels run on), which
# another pin would either refuse to install beside or replace.
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
if "$venv/bin/python" -c "import importlib.metadata as m, sys
sys.exit(not any(r.split(';')[0].strip().startswith('triton') for r in m.requires('torch') or []))"; then
    grep -v '^triton==' "$root/scripts/constraints.txt" > "$constraints"
else
    cp "$root/scripts/constraints.txt" "$constraints"
fi
pip install -c "$constraints" "setuptools>=77" "pytest>=8" numpy
packages=(-e "$root")
for dir in "$root"/plugins/*/ "$root"/examples/*/; do
    [ -f "$dir/pyproject.toml" ] && packages+=(-e "$dir")
done
pip install -c "$constraints" --no-build-isolation "${packages[@]}"
echo "mxfp8: environment ready in $venv" >&2
