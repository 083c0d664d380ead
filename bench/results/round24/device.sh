#!/usr/bin/env bash
# Round 24's device runs (bench/notes_marlin.md, round 24), kept as the record of the
# commands; it ran from plugins/marlin/tools/ on a tree at 50cfb74 with, applied:
#   loop_in_one_pass.patch (the kernels timed as A; part a ran it with _retire refilling tile
#     i - 1's stage and STAGES - 1 tiles loaded first, as 50cfb74 does), one_consumer_allowed.patch,
#   plugins/marlin/tools/_gluon_50cfb74.py = git show 50cfb74:plugins/marlin/mxfp8_marlin/_gluon.py
#   plugins/marlin/tools/_gluon_v3.py = that file with refill_one_stage_earlier.patch.
#   OUT=dir bash plugins/marlin/tools/round24_device.sh PART      (PART: a or b)
set -uo pipefail
out=${OUT:-round24}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
python3 -m pip install --no-deps --no-build-isolation -q -e . -e plugins/emulation -e plugins/marlin \
    -e plugins/flashinfer_cutlass -e examples/third_party_plugin || exit 1
tools=plugins/marlin/tools
shapes="4096x4096 14336x4096 4096x14336 8192x8192"
cases() { local c=""; for s in $shapes; do for m in "$@"; do c="$c,$s:$m"; done; done; echo "${c#,}"; }
case "${1:-a}" in
a)  # validation of the new loop, then new (A) against 50cfb74's kernels (B), the table's configs
    timeout 150 python3 $tools/gluon_validate.py --repeats 3 --only "16,64,128,4,4;32,64,128,4,4;64,64,128,4,4" \
        --ms 1,17,64,300 > "$out/a_validate_wgmma.txt" 2>&1; tail -1 "$out/a_validate_wgmma.txt"
    timeout 200 python3 $tools/pingpong_probe.py --validate-only --repeats 3 --splits 1,2,3 --both-bias \
        --configs "256,64,64,4;persistent:256,64,64,4;256,128,64,4;128,128,64,4" > "$out/a_validate_pingpong.txt" 2>&1
    tail -1 "$out/a_validate_pingpong.txt"
    timeout 200 python3 $tools/ab_probe.py --cases "$(cases 4 16 64 256 1024)" --b-gluon $tools/_gluon_50cfb74.py \
        --out "$out/a_ab_old.json" > "$out/a_ab_old.txt" 2>&1; cat "$out/a_ab_old.txt" ;;
b)  # the M <= 128 kernel with its refill one stage earlier (all STAGES tiles in flight):
    # against 50cfb74's, and against 50cfb74's loop (no overlap) with that refill (_gluon_v3.py);
    # then the one-consumer 256x64 tile against the table (both with the new loop)
    timeout 150 python3 $tools/ab_probe.py --cases "$(cases 4 16 64)" --b-gluon $tools/_gluon_50cfb74.py \
        --out "$out/b_ab_old.json" > "$out/b_ab_old.txt" 2>&1; cat "$out/b_ab_old.txt"
    timeout 150 python3 $tools/ab_probe.py --cases "$(cases 4 16 64)" --b-gluon $tools/_gluon_v3.py \
        --out "$out/b_ab_v3.json" > "$out/b_ab_v3.txt" 2>&1; cat "$out/b_ab_v3.txt"
    timeout 200 python3 $tools/ab_probe.py --cases "$(cases 256 512 1024)" --set block_m=256,block_n=64 \
        --out "$out/b_bn64.json" > "$out/b_bn64.txt" 2>&1; cat "$out/b_bn64.txt" ;;
esac
