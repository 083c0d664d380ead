#!/bin/bash
# One device call: Nsight Compute's full set on the cases below (tools/ncu_case.py), each
# exported as the details page (all cases in $OUT/ncu_details.txt) and the per-instruction
# SASS page with its stall samples ($OUT/ncu_sass_<case>.csv).
cd "$(dirname "$0")/../../.." || exit 1
python3 -m pip install --no-deps --no-build-isolation -q -e . -e plugins/marlin 2>&1 | tail -3
T=plugins/marlin/tools/ncu_case.py
ncu --version | tail -1
run() {  # name kernel-regex args...
    local name=$1 kre=$2; shift 2
    echo "== $name: $*" | tee -a "$OUT/ncu_details.txt"
    ncu --set full --import-source no -k "regex:$kre" --launch-skip 1 --launch-count 1 -f -o "/tmp/$name" \
        python3 $T "$@" 2>&1 | grep -v "^==PROF==" | tail -5
    ncu -i "/tmp/$name.ncu-rep" --page details >> "$OUT/ncu_details.txt" 2>&1
    ncu -i "/tmp/$name.ncu-rep" --page source --csv --print-source sass > "$OUT/ncu_sass_$name.csv" 2>&1
}
run pp1024 mx_w8a16 4096 14336 1024
run pp256 mx_w8a16 4096 4096 256
run cublas1024 "nvjet|gemm|Kernel" 4096 14336 1024 --cublas
run cublas256 "nvjet|gemm|Kernel" 4096 4096 256 --cublas
ls -la "$OUT"
