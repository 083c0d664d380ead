#!/usr/bin/env bash
# Round 29's device runs (bench/notes_marlin.md, round 29).
#   part 1: the marlin GPU tests and the benchmark (bf16) at the shipped HEAD, then what
#           bounds M <= 16 on the H100 (round 21 measured it on the H200 only): a bare TMA
#           read of the packed weight (tools/stream_probe.py --parts bare), timed alone and
#           in a graph of ten calls, as the benchmark's two tables are.
#   part 2: the split-K fix-up taken apart (tools/fixup_probe.py: the shipped kernel against
#           copies without the partial's store, the wait, the load, or the whole fix-up) at
#           the three M = 256 points split in two.
#   part 3: the split-K partials stored in the accumulator's register order (16-byte
#           accesses, each warp's side by side): the marlin GPU tests; A/B against the
#           previous _gluon.py at split points of both Gluon kernels; the fix-up taken
#           apart again; the benchmark (bf16). The previous kernels are written here first
#           (the device gets no git history):
#             git show 2a238ce:plugins/marlin/mxfp8_marlin/_gluon.py > plugins/marlin/tools/_gluon_2a238ce.py
#   part 4: with the cheaper partials, the split-K skew again (the table's against less), and
#           the whole suite.
#   part 5: the register-order partials give the previous kernels' outputs bit for bit
#           (ab_probe.py --same, the previous _gluon.py as in part 3); the benchmark again.
# Each step gets what is left of a 560-second call; results end up in $OUT/round29_PART.tgz
# (the device tool returns at most 8 files).
#   OUT=dir bash bench/results/round29/device.sh COMMIT PART
set -uo pipefail
out=${OUT:-round29}
work=$(mktemp -d)/r29
mkdir -p "$out" "$work"
part=${2:-1}
source "$(dirname "${BASH_SOURCE[0]}")/../device_steps.sh"
old=$tools/_gluon_2a238ce.py  # parts 3 and 5: the previous kernels (written first, see above)
case "$part" in
1)
    step 150 "tests_$card" python3 -m pytest -q -n 8 -p no:cacheprovider plugins/marlin/tests/test_gpu.py
    tail -2 "$work/tests_$card.txt"
    run_bench ""
    step 90 "bare_alone_$card" python3 $tools/stream_probe.py --parts bare --tks 512 --stages 4,6 --ms 1 \
        --out "$work/bare_alone_$card.json"
    step 90 "bare_graph_$card" python3 $tools/stream_probe.py --parts bare --tks 512 --stages 4,6 --ms 1 \
        --in-graph 10 --out "$work/bare_graph_$card.json"
    grep -h "floor\|default\|cuBLAS" "$work"/bare_*_$card.txt ;;
2)
    step 300 "fixup_$card" python3 $tools/fixup_probe.py --cases 8192x8192:256,4096x4096:256,4096x14336:256 \
        --rounds 3 --out "$work/fixup_$card.json"
    cat "$work/fixup_$card.txt" ;;
3)
    [ -f "$old" ] || { echo "$old: write it first (see the top of this script)"; exit 1; }
    step 150 "tests_$card" python3 -m pytest -q -n 8 -p no:cacheprovider plugins/marlin/tests/test_gpu.py
    tail -2 "$work/tests_$card.txt"
    probe 150 ab_fragments --b-gluon "$old" --rounds 3 \
        --cases 8192x8192:256,4096x4096:256,4096x14336:256,4096x4096:16,4096x4096:64,8192x8192:16,14336x4096:1024
    step 90 "fixup_$card" python3 $tools/fixup_probe.py --cases 8192x8192:256,4096x4096:256,4096x14336:256 \
        --rounds 3 --out "$work/fixup_$card.json"
    cat "$work/fixup_$card.txt"
    run_bench "" ;;
4)
    probe 60 ab_skew0_128 --cases 4096x4096:256,4096x14336:256 --set split_skew=0 --rounds 3
    probe 60 ab_skew1_128 --cases 4096x4096:256,4096x14336:256 --set split_skew=1 --rounds 3
    # a persistent launch takes only skews of whole stage passes: 14336x4096 at M = 1024 gets 0 only
    probe 60 ab_skew0_256 --cases 8192x8192:256,14336x4096:1024 --set split_skew=0 --rounds 3
    probe 60 ab_skew2_256 --cases 8192x8192:256 --set split_skew=2 --rounds 3
    step 250 "suite_$card" python3 -m pytest -q -n 8 -p no:cacheprovider -rs
    tail -3 "$work/suite_$card.txt" ;;
5)
    [ -f "$old" ] || { echo "$old: write it first (see the top of this script)"; exit 1; }
    probe 120 ab_same --b-gluon "$old" --same --rounds 1 \
        --cases 8192x8192:256,4096x4096:256,4096x14336:256,4096x4096:4,4096x4096:64,4096x14336:64,14336x4096:1024
    run_bench "" ;;
esac
tar -C "$(dirname "$work")" -czf "$out/round29_$part.tgz" r29
