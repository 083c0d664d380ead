#!/usr/bin/env bash
# Round 26's device runs (bench/notes_marlin.md, round 26): the benchmark and the whole suite at
# the commit under test on whichever Hopper card comes (the issue's targets name the H100; the
# last H100 benchmark is round 20's), then round 25's wide weight loads timed (its device.sh wide).
# Each step gets what is left of a 560-second call; results end up in $OUT/round26_PART.tgz
# (the device tool returns at most 8 files).
#   OUT=dir bash bench/results/round26/device.sh COMMIT PART     (PART: bench | rest)
set -uo pipefail
out=${OUT:-round26}
work=$(mktemp -d)/r26
mkdir -p "$out" "$work"
part=${2:-bench}
source "$(dirname "${BASH_SOURCE[0]}")/../device_steps.sh"
case "$part" in
bench)
    step 420 "bench_$card" bash -c "cd bench && python3 bench_gemm.py --out $work/marlin_$card.json"
    grep -v "^#" "$work/bench_$card.txt" | tail -12 ;;
rest)
    step 240 "suite_$card" python3 -m pytest -q -n 8 -p no:cacheprovider -rs
    tail -3 "$work/suite_$card.txt"
    wide=$(mktemp -d)/_gluon_wide.py
    patch -s -p1 -o "$wide" plugins/marlin/mxfp8_marlin/_gluon.py < bench/results/round25/wide_loads.patch || exit 1
    cases() { for s in 4096x4096 14336x4096 4096x14336 8192x8192; do for m in "$@"; do printf '%s:%s,' $s $m; done; done \
        | sed 's/,$//'; }
    for w in "wide_small 4,16,32,64" "wide_large 256,1024"; do
        set -- $w
        step 130 "${1}_$card" python3 plugins/marlin/tools/ab_probe.py --out "$work/${1}_$card.json" \
            --cases "$(cases ${2//,/ })" --b-gluon "$wide" --rounds 3
        grep -v "^#" "$work/${1}_$card.txt"
    done ;;
esac
tar -C "$(dirname "$work")" -czf "$out/round26_$part.tgz" r26
