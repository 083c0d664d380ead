"""Host-side overhead of the framework, which engines pay on every layer and step.

Measures, in one run:
  1. plugin discovery: loading every installed plugin, beyond ``import torch``
     (fresh processes, median of --runs);
  2. a cached ``select_kernel`` call;
  3. what ``Mxfp8Linear.forward`` adds over the kernel's ``apply_2d`` it ends in, timed
     with a kernel whose work costs nothing, so that only the framework's time remains
     (and, for information, with the kernel selection picks on this device).
Budgets (issue #2): 50 ms, 5 us, 5 us. Writes JSON with --out.

    python bench/overhead.py [--device cpu|cuda] [--out bench/results/overhead_cpu.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import timeit

import torch

import mxfp8_core
from mxfp8_core import Mxfp8Linear, Mxfp8LinearLayerConfig, select_kernel

DISCOVERY = """
import time, torch
start = time.perf_counter()
import mxfp8_core
kernels = mxfp8_core.get_registry().kernels()
elapsed = time.perf_counter() - start
print(elapsed, ",".join(k.name for k in kernels))
"""


def discovery_ms(runs: int) -> tuple[float, list[float], str]:
    # As after a normal install: bytecode cached (a first, untimed run writes it, even
    # where PYTHONDONTWRITEBYTECODE is set, as it is on some CI hosts).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-c", DISCOVERY], capture_output=True, check=True, env=env)
    samples, names = [], ""
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", DISCOVERY], capture_output=True, text=True, check=True,
                             env=env).stdout
        seconds, names = out.split()
        samples.append(float(seconds) * 1e3)
    return statistics.median(samples), samples, names


def per_call_us(fn, number: int, repeat: int = 7) -> float:
    return statistics.median(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


class _FixedOutputKernel(mxfp8_core.Mxfp8LinearKernel):
    """A kernel whose work costs nothing: what remains is the framework's own time."""

    name = "bench_fixed_output"
    priority = -1000
    scheme = "emulated"
    devices = None
    act_dtypes = frozenset({torch.bfloat16})

    def prepare_weights(self, weight, weight_scale):
        self.out = torch.empty(1, self.config.out_features, dtype=self.config.out_dtype, device=weight.device)
        return {}

    def apply_2d(self, layer, x, bias):
        return self.out


def forward_overhead_us(device: str, number: int, kernel_name: str | None) -> dict[str, float | str]:
    """Median time of ``layer(x)`` minus that of ``kernel.apply_2d(layer, x2d, bias)``."""
    torch.manual_seed(0)
    linear = torch.nn.Linear(256, 256).to(device=device, dtype=torch.bfloat16)
    layer = Mxfp8Linear.from_linear(linear, kernels=[kernel_name] if kernel_name else None)
    x = torch.randn(1, 256, device=device, dtype=torch.bfloat16)
    kernel, bias = layer.kernel, layer.bias
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def timed(fn):
        for _ in range(50):
            fn()
        sync()
        value = per_call_us(fn, number)
        sync()
        return value

    # Interleave to cancel drift; the kernel's own work is the same in both.
    direct, full = [], []
    for _ in range(5):
        direct.append(timed(lambda: kernel.apply_2d(layer, x, bias)))
        full.append(timed(lambda: layer(x)))
    direct_us, full_us = statistics.median(direct), statistics.median(full)
    return {"kernel": kernel.name, "apply_2d_us": direct_us, "forward_us": full_us, "added_us": full_us - direct_us}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--runs", type=int, default=9, help="fresh processes for the discovery timing")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()

    disc_ms, disc_samples, kernels = discovery_ms(args.runs)
    config = Mxfp8LinearLayerConfig(4096, 4096)
    target = mxfp8_core.current_target(args.device)
    select_kernel(config, capability=target)
    cached_us = per_call_us(lambda: select_kernel(config, capability=target), 20000)
    select_kernel(config)
    cached_default_us = per_call_us(lambda: select_kernel(config), 20000)
    mxfp8_core.register_plugin(
        type("BenchPlugin", (), {"mxfp8_core_kernels": staticmethod(mxfp8_core.hookimpl(lambda: [_FixedOutputKernel]))}),
        name="bench",
    )
    forward = forward_overhead_us(args.device, 20000, _FixedOutputKernel.name)
    # The same with the kernel selection would really use here (its time includes its work).
    chosen = forward_overhead_us(args.device, 200, None)

    result = {
        "host": platform.node(), "python": platform.python_version(), "torch": torch.__version__,
        "device": args.device, "kernels_installed": kernels.split(","),
        "discovery_ms_median": disc_ms, "discovery_ms_samples": disc_samples,
        "cached_select_us": cached_us, "cached_select_current_device_us": cached_default_us,
        "forward": forward, "forward_with_selected_kernel": chosen,
        "budgets": {"discovery_ms": 50, "cached_select_us": 5, "forward_added_us": 5},
    }
    rows = [
        ("plugin discovery beyond import torch", f"{disc_ms:.1f} ms", "50 ms", disc_ms <= 50),
        ("cached select_kernel (capability given)", f"{cached_us:.2f} us", "5 us", cached_us <= 5),
        ("cached select_kernel (current device)", f"{cached_default_us:.2f} us", "5 us", cached_default_us <= 5),
        ("Mxfp8Linear.forward over the kernel's apply_2d", f"{forward['added_us']:.2f} us", "5 us",
         forward["added_us"] <= 5),
    ]
    print(f"mxfp8 overhead on {args.device} (python {result['python']}, torch {result['torch']}); "
          f"kernels installed: {kernels}")
    for what, value, budget, ok in rows:
        print(f"  {what:<46} {value:>10}   budget {budget:>6}   {'ok' if ok else 'OVER'}")
    print(f"  (with the selected kernel {chosen['kernel']}: apply_2d {chosen['apply_2d_us']:.1f} us, "
          f"forward {chosen['forward_us']:.1f} us)")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
