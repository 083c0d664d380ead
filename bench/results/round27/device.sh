#!/usr/bin/env bash
# Round 27's device runs (bench/notes_marlin.md, round 27): the wide weight loads shipped
# (each MX block's bytes stored in the order the Hopper decode reads them, packing.K_BITS).
#   part 1: the benchmark at the commit under test; the marlin kernel of 61cd38b (the
#           previous packing, exported to build/base and carried) timed on the same card;
#           the marlin tests (GPU ones included);
#   part 2: the whole suite.
# Each step gets what is left of a 560-second call; results end up in $OUT/round27_PART.tgz
# (the device tool returns at most 8 files).
#   git archive 61cd38b plugins/marlin/mxfp8_marlin | tar -x -C build/base   (here, first)
#   OUT=dir bash bench/results/round27/device.sh COMMIT PART
set -uo pipefail
out=${OUT:-round27}
work=$(mktemp -d)/r27
mkdir -p "$out" "$work"
part=${2:-1}
source "$(dirname "${BASH_SOURCE[0]}")/../device_steps.sh"
case "$part" in
1)
    step 200 "bench_$card" bash -c "cd bench && python3 bench_gemm.py --out $work/marlin_$card.json"
    grep -v "^#" "$work/bench_$card.txt" | tail -12
    base=$PWD/build/base/plugins/marlin
    step 150 "base_$card" bash -c "cd bench && PYTHONPATH=$base python3 -c 'import mxfp8_marlin; print(mxfp8_marlin.__file__)' \
        && PYTHONPATH=$base python3 bench_gemm.py --kernels marlin --no-baselines --out $work/base_$card.json"
    head -3 "$work/base_$card.txt"
    step 250 "tests_$card" python3 -m pytest -q -n 8 -p no:cacheprovider -rs plugins/marlin/tests
    tail -3 "$work/tests_$card.txt" ;;
2)
    step 300 "suite_$card" python3 -m pytest -q -n 8 -p no:cacheprovider -rs
    tail -3 "$work/suite_$card.txt" ;;
esac
tar -C "$(dirname "$work")" -czf "$out/round27_$part.tgz" r27
