#!/usr/bin/env bash
# Round 48's device run (bench/notes_marlin.md, round 48): round 47's rule held out, and K = 512.
# Round 47 measured sixteen launches of the class where pingpong_for now judges the 256-row tile
# by its split within one wave; these are others the rule moved, none measured before (B is the
# 128-row tile the table ran before: its config with block_m=128, checked on the CPU to equal
# the old table's):
#   ab_held256: A the table (the 256-row tile whole), B the 128-row tile, ten launches at
#     M = 320-1024, K = 1024-7680 (three with a tail split in four before)
#   ab_held256_dq: A the table, B dequantize + cuBLAS, at the seven of them from M = 640
#   ab_helddq: A the table (dequantize + cuBLAS by the fill rule), B the 128-row tile, eight
#     launches at M = 640-1024, K = 768-7680
#   ab_helddq_256: A the 256-row tile whole (the table with PINGPONG_FILL_EXP=0), B dequantize
#     + cuBLAS, at the same eight
# K = 512, where the 256-row tile has too few K tiles (PINGPONG_WHOLE_MIN_K_TILES) and the
# table runs the 128-row tile past one wave, persistent (DeepSeek-V3's kv_b_proj is 32768x512):
#   ab_k512_dq: A the table, B dequantize + cuBLAS, eight launches at M = 192-640
#   ab_k512_256: A the table, B the 256-row tile whole (PINGPONG_WHOLE_MIN_K_TILES=8, and
#     PINGPONG_FILL_EXP=0 so that the fill rule keeps it), at the same eight
# Split tails, past one wave: launch_fill charges the last wave's split tiles 1 / split of a
# wave; rounds 45-46 fit 0.4 + 0.55 / split (configs.SPLIT_TAIL_WAVES, results/round48/README.md):
#   ab_tail_dq: A the table (the 256-row tile with its last wave split in two, four or eight),
#     B dequantize + cuBLAS, ten launches of 1.09-10.2 waves that the fitted cost sends to
#     dequantize + cuBLAS and the table keeps
# then the marlin GPU tests with the table at COMMIT.
#   OUT=dir [STEP_UNTIL=seconds] [STEP_DIR=$OUT/pN] bash bench/results/round48/device.sh COMMIT [PART]
set -uo pipefail
round=round48
source "$(dirname "${BASH_SOURCE[0]}")/../device_steps.sh"
whole=5888x1024:320,5888x4096:384,5888x7680:384
whole_large=3584x1792:640,3584x4096:640,3840x7680:640,3328x5632:768,3840x7680:768,3584x7168:768,2816x7168:1024
dq=3584x1024:640,3840x768:640,3072x1280:768,3584x1280:768,2560x7680:1024,2304x6144:1024,2816x5632:1024
dq+=,2560x3584:1024
k512=32768x512:256,32768x512:512,16384x512:384,24576x512:192,14336x512:320,7168x512:640,10240x512:512
k512+=,20480x512:256
tail=1536x8960:3072,2560x5376:2048,3072x4864:1536,3072x6912:3072,3584x2816:1536,4096x2816:1280
tail+=,4608x3840:1024,5120x2304:2048,8704x2304:2048,14336x2816:3072
dequant="strategy='dequant'"
case "$part" in
1)
    probe 40 ab_held256 --b-choose --set "block_m=128" --rounds 3 --cases "$whole,$whole_large"
    probe 30 ab_held256_dq --b-choose --set "$dequant" --rounds 3 --cases "$whole_large"
    probe 30 ab_helddq --b-choose --set "block_m=128" --rounds 3 --cases "$dq"
    probe 30 ab_helddq_256 --a-table "PINGPONG_FILL_EXP=0.0" --b-choose --set "$dequant" --rounds 3 --cases "$dq"
    probe 30 ab_k512_dq --b-choose --set "$dequant" --rounds 3 --cases "$k512"
    probe 30 ab_k512_256 --b-table "PINGPONG_WHOLE_MIN_K_TILES=8,PINGPONG_FILL_EXP=0.0" --rounds 3 --cases "$k512"
    probe 50 ab_tail_dq --b-choose --set "$dequant" --rounds 3 --cases "$tail"
    gpu_tests
    ;;
*) echo "round 48 has no part $part"; exit 2 ;;
esac
pack
