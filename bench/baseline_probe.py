"""Does cuBLAS's bf16 time depend on the weight *values*? (A program, not a test.)

``bench_gemm.py`` gives ``F.linear`` the MXFP8 weights dequantized to bf16: values of at
most four significant bits. A bf16 model runs its original weights, whose mantissas are
full. Tensor-core power, and so the clock the GPU holds under load, depends on how many
operand bits toggle; this times ``F.linear`` on both weights (the same activations), in
alternating rounds, and samples the SM clock and power while each runs.

    python bench/baseline_probe.py [--cases 14336x4096:1024,...] [--rounds 3] [--out f.json]
"""

from __future__ import annotations

import argparse
import functools
import json
import subprocess
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_gemm import check_rounds, flush_l2, parse_cases, timed_rounds  # noqa: E402


def clocks_during(fn, seconds: float = 1.0) -> tuple[float, float]:
    """Median SM clock (MHz) and power (W) that ``nvidia-smi`` reports while ``fn`` runs
    back to back for about ``seconds`` (each call after an L2 flush, as timed)."""
    flush = torch.ones(64 << 20, dtype=torch.int32, device="cuda")
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    end.synchronize()
    calls = max(1, int(seconds * 1e3 / max(start.elapsed_time(end), 1e-3)))
    smi = subprocess.Popen(["nvidia-smi", "--query-gpu=clocks.sm,power.draw", "--format=csv,noheader,nounits",
                            "-lms", "50"], stdout=subprocess.PIPE, text=True)
    for _ in range(calls):
        flush_l2(flush)
        fn()
    torch.cuda.synchronize()
    smi.terminate()
    samples = [line.split(",") for line in smi.communicate()[0].splitlines() if "," in line]
    samples = samples[len(samples) // 4:] or samples  # skip the ramp-up
    if not samples:
        return float("nan"), float("nan")
    clock = sorted(float(c) for c, _ in samples)[len(samples) // 2]
    power = sorted(float(p) for _, p in samples)[len(samples) // 2]
    return clock, power


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default="14336x4096:1024")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default="baseline_probe.json")
    args = ap.parse_args()
    cases = parse_cases(args.cases)
    check_rounds(args.rounds)
    from mxfp8_core import dequantize_mxfp8, quantize_mxfp8

    torch.manual_seed(0)
    flush = torch.ones(64 << 20, dtype=torch.int32, device="cuda")
    print(f"# {torch.cuda.get_device_name()} torch {torch.__version__}", flush=True)
    rows = []
    for n, k, m in cases:
        w = torch.randn(n, k, device="cuda") * 0.02
        q, s = quantize_mxfp8(w)
        weights = {"dequantized": dequantize_mxfp8(q, s, torch.bfloat16), "original": w.to(torch.bfloat16)}
        x = torch.randn(m, k, device="cuda").to(torch.bfloat16)
        times = timed_rounds({tag: functools.partial(F.linear, x, wb) for tag, wb in weights.items()}, args.rounds,
                             flush)
        sampled = {tag: clocks_during(lambda wb=wb: F.linear(x, wb)) for tag, wb in weights.items()}
        line = "  ".join(f"{tag} {' '.join(f'{t:7.1f}' for t in us)} us ({sampled[tag][0]:.0f} MHz, "
                         f"{sampled[tag][1]:.0f} W)" for tag, us in times.items())
        print(f"{n:>5}x{k:<5} M={m:<5} {line}", flush=True)
        rows.append({"N": n, "K": k, "M": m, "us": times, "clock_mhz_power_w": sampled})
    Path(args.out).write_text(json.dumps({"device": torch.cuda.get_device_name(), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
