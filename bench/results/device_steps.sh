# Sourced by the rounds' device.sh (26 on): installs the repository's distributions, names the
# card ($card: h100, h200 or gpu), starts $work/device.txt, and defines `step`. Expects $work
# (a fresh directory; or $round, below) and the commit under test as $1 of the sourcing script. Also defines
# `run_bench`, `probe`, `old_table`, `gpu_tests` and `suite` (the benchmark, an A/B probe, one against
# the table before rounds 35-45's rules, the marlin GPU tests and the whole suite as one step each).
# A script that sets only $round (e.g. round31) gets $out ($OUT), $work and $part ($2) from here,
# and `pack` to end with ($out/${round}_$part.tgz). STEP_DIR (default a temporary directory)
# holds $work: put it under $OUT so that a call cut off at its limit still returns the steps done.
if [ -n "${round:-}" ] && [ -z "${work:-}" ]; then
    out=${OUT:-$round} work=${STEP_DIR:-$(mktemp -d)}/$round part=${2:-1}
    mkdir -p "$out" "$work"
fi
pack() { tar -C "$(dirname "$work")" -czf "$out/${round}_$part.tgz" "$round"; }
export PYTHONUNBUFFERED=1
python3 -m pip install --no-deps --no-build-isolation -q -e . -e plugins/emulation -e plugins/marlin \
    -e plugins/flashinfer_cutlass -e examples/third_party_plugin || exit 1
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
case "$gpu" in *H100*) card=h100 ;; *H200*) card=h200 ;; *) card=gpu ;; esac
echo "commit ${1:-unknown} on $gpu ($card), $(date -u +%FT%TZ)" | tee "$work/device.txt"
# step CAP NAME CMD...: run CMD with at most CAP seconds and never past second $STEP_UNTIL (560)
# of the call (lower it where less device time is left: the results are packed at the end; see STEP_DIR)
step() {
    local cap=$1 name=$2; shift 2
    local left=$((${STEP_UNTIL:-560} - SECONDS))
    [ "$left" -lt 30 ] && { echo "== $name: skipped (${left} s left)" | tee -a "$work/device.txt"; return; }
    [ "$cap" -gt "$left" ] && cap=$left
    local t0=$SECONDS
    timeout "$cap" "$@" > "$work/$name.txt" 2>&1
    echo "== $name: exit $? in $((SECONDS - t0)) s (cap $cap)" | tee -a "$work/device.txt"
}
tools=plugins/marlin/tools
# run_bench TAG [ARGS...]: bench_gemm.py with ARGS into marlin_[TAG_]$card.json, its summary printed
run_bench() {
    local tag=${1:+$1_}; shift
    step 200 "bench_$tag$card" bash -c "cd bench && python3 bench_gemm.py ${*:+$* }--out $work/marlin_$tag$card.json"
    grep -v "^#" "$work/bench_$tag$card.txt" | tail -12
}
# probe CAP NAME ARGS...: tools/ab_probe.py with ARGS into NAME_$card.json, its table printed
probe() {
    local cap=$1 name=$2_$card; shift 2
    step "$cap" "$name" python3 $tools/ab_probe.py "$@" --out "$work/$name.json"
    cat "$work/$name.txt"
}
# old_table CAP NAME CASES: A the table before rounds 35-45's rules (tools/probe_common.py's
# OLD_TABLE), B dequantize + cuBLAS, three rounds (rounds 35-38)
old_table() {
    probe "$1" "$2" --a-table old --b-choose --set "strategy='dequant'" --rounds 3 --cases "$3"
}
# gpu_tests: every marlin GPU test, its summary printed
gpu_tests() {
    step 150 "tests_$card" python3 -m pytest -q -n 8 -p no:cacheprovider plugins/marlin/tests/test_gpu.py
    tail -2 "$work/tests_$card.txt"
}
# suite: the whole test suite (every distribution's tests, GPU tests included), its summary printed
suite() {
    step 200 "suite_$card" python3 -m pytest -q -n 8 -p no:cacheprovider -rs
    tail -3 "$work/suite_$card.txt"
}
