#!/usr/bin/env bash
# Round 25's device run (bench/notes_marlin.md, round 25): the M <= 64 configs retuned on the
# H200 (the table's were measured on the H100). Each line: the table's config (A) against one
# change (B), tools/ab_probe.py, two alternating rounds with cuBLAS.
#   OUT=dir bash bench/results/round25/device.sh         (first call: split-K and the CUDA-core kernel)
#   OUT=dir bash bench/results/round25/device.sh bk256   (second call: 256-wide K tiles)
#   OUT=dir bash bench/results/round25/device.sh wide    (third call: the wide weight loads)
set -uo pipefail
out=${OUT:-round25}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
python3 -m pip install --no-deps --no-build-isolation -q -e . -e plugins/emulation -e plugins/marlin \
    -e plugins/flashinfer_cutlass -e examples/third_party_plugin || exit 1
ab() { local name=$1; shift; timeout 120 python3 plugins/marlin/tools/ab_probe.py --out "$out/$name.json" "$@" \
    > "$out/$name.txt" 2>&1; echo "== $name: exit $?"; grep -v "^#" "$out/$name.txt"; }
if [ -z "${1:-}" ]; then
# split-K of the wgmma tiles: twice the table's split (more programs per SM)
ab split2_14336x4096 --cases 14336x4096:4,14336x4096:16,14336x4096:64 --set split_k=2
ab split4_8192x8192 --cases 8192x8192:4,8192x8192:16,8192x8192:64 --set split_k=4
ab split8_4096x4096 --cases 4096x4096:4,4096x4096:16 --set split_k=8
ab split8_4096x14336 --cases 4096x14336:4,4096x14336:16 --set split_k=8
# M = 4 on the CUDA-core kernel (four rows a program) instead of the tensor cores
ab gemv_m4 --cases 4096x4096:4,14336x4096:4,4096x14336:4,8192x8192:4 \
    --set "strategy='gemv',block_m=4,block_n=4,block_k=512,num_stages=1,split_k=1"
# M = 1: eight or two weight rows a program instead of four
ab gemv_bn8 --cases 4096x4096:1,14336x4096:1,4096x14336:1,8192x8192:1 --set block_n=8
ab gemv_bn2 --cases 4096x4096:1,14336x4096:1,4096x14336:1,8192x8192:1 --set block_n=2
fi
# (second call) the wgmma tiles with 256-wide K tiles: half the per-tile chain (wait, barrier,
# refill) per weight byte, twice the shared memory a stage
if [ "${1:-}" = bk256 ]; then
ab bk256 --cases "$(for s in 4096x4096 14336x4096 4096x14336 8192x8192; do for m in 4 16 64; do printf '%s:%s,' $s $m; done; done | sed 's/,$//')" --set block_k=256
fi
# (third call) the wide weight loads (round 25): both Gluon kernels of _gluon.py with
# wide_loads.patch applied (the activations' K permuted to match, in its descriptors()) as B
if [ "${1:-}" = wide ]; then
wide=$(mktemp -d)/_gluon_wide.py
patch -s -p1 -o "$wide" plugins/marlin/mxfp8_marlin/_gluon.py < bench/results/round25/wide_loads.patch || exit 1
cases() { for s in 4096x4096 14336x4096 4096x14336 8192x8192; do for m in "$@"; do printf '%s:%s,' $s $m; done; done \
    | sed 's/,$//'; }
ab wide_small --cases "$(cases 4 16 32 64)" --b-gluon "$wide" --rounds 3
ab wide_large --cases "$(cases 256 1024)" --b-gluon "$wide" --rounds 3
fi
