"""MXFP8 linear-layer benchmark: every installed MXFP8 kernel against the baselines.

    python bench/bench_gemm.py [--kernels marlin,emulation] [--shapes 4096x4096,...]
                               [--ms 1,4,16,64,256,1024,4096] [--dtype bfloat16|float16]
                               [--out results.json]

On the current GPU, for each ``N x K`` weight and each ``M``, it times

- every requested MXFP8 kernel by name through the core API (default: every installed
  kernel whose ``is_supported()`` holds on this GPU, found through the
  ``mxfp8_core.plugins`` entry points), weights processed once, then
  ``kernel.apply_weights(layer, x)``;
- ``torch.nn.functional.linear`` in bf16 (cuBLAS) on the MXFP8 weights dequantized to
  bf16 (the same values every kernel multiplies by), the baseline the ratios refer to;
  with ``--dtype float16`` activations, weights, outputs and this baseline are fp16
  instead (the table, the JSON keys and the summary then say fp16);
- the same on the original weights in bf16 (what a bf16 model runs): cuBLAS is 2-3%
  slower on these at M >= 1024 on an H200, whose tensor cores take longer on operands
  with full mantissas than on the four significant bits of dequantized MXFP8 values
  (``bench/baseline_probe.py``); the table shows its time and the summary the kernels'
  speed-up over it, beside the stricter ratios;
- fp8 per-tensor ``torch._scaled_mm`` (activations already quantized: GEMM time only);
- a 1 GiB device-to-device copy, whose bandwidth (bytes read + written) gives the
  MXFP8 weight roofline ``N*K*(1 + 1/32)`` bytes / bandwidth.

Timing: each call is captured in a CUDA graph after a warm-up (so Python launch
overhead is not measured, as in an engine's decode loop) and replayed ``--reps``
times, each replay preceded by a 256 MiB read that flushes the L2 cache (a read, not a
memset: a memset leaves the L2 full of dirty lines, and writing them back costs the next
kernel ~15 us of DRAM time, which halved the apparent bandwidth of every kernel here);
the median of CUDA-event times is reported. A graph replayed alone also pays a fixed cost
that a kernel inside an engine's captured decode step does not (the graph's launch and
the events around it: 3.95 us for a kernel that does nothing on an H200, round 21), so the
run also reports that floor (a one-element fill timed the same way) and, for M up to
``--in-graph-max-m``, each call's cost *in a graph*: one graph of ``--in-graph-calls``
x [flush, call] and one of as many flushes alone, replayed in turn, the difference of
their median times over the call count. Prints a table per timing (median us, speed-up
over cuBLAS, fraction of the roofline; below it the M <= 16 ceiling: the speed-up a kernel
would have that read the MXFP8 weight at the copy bandwidth and cost the floor besides) and
writes everything to ``--out`` as JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from importlib import metadata

import torch
import torch.nn.functional as F

SHAPES = "4096x4096,14336x4096,4096x14336,8192x8192"
DTYPES = {"bfloat16": "bf16", "float16": "fp16"}  # --dtype -> the baseline's label
MS = "1,4,16,64,256,1024,4096"


def flush_l2(flush: torch.Tensor) -> None:
    """Evict the L2 cache by *reading* 256 MiB: it then holds clean lines only. (A memset
    would leave ~50 MB of dirty lines whose write-back lands in the next kernel's time.)"""
    torch.sum(flush)


def graph_time_us(fn, reps: int, flush: torch.Tensor, keep: list | None = None) -> float:
    """``fn``'s median time (us) as a replayed graph, L2 flushed before each replay; ``keep``
    gets the output the replays left (the thing timed, to be checked)."""
    fn()
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = fn()
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    for _ in range(3):  # warm replays
        flush_l2(flush)
        graph.replay()
    for i in range(reps):
        flush_l2(flush)
        starts[i].record()
        graph.replay()
        ends[i].record()
    torch.cuda.synchronize()
    del graph
    if keep is not None:
        keep.append(out)
    return statistics.median(s.elapsed_time(e) for s, e in zip(starts, ends)) * 1e3


def timed_rounds(fns: dict, rounds: int, flush: torch.Tensor, check=None) -> dict[str, list[float]]:
    """Each callable timed as ``graph_time_us`` does (30 replays), once a round, in turn, for
    ``rounds`` rounds (``check(name, fn)`` first, each time, if given): name -> times (us).
    Alternation shows a change's effect beside the run-to-run spread (the probes)."""
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            if check is not None:
                check(name, fn)
            times[name].append(graph_time_us(fn, 30, flush))
    return times


def parse_cases(spec: str) -> list[tuple[int, int, int]]:
    """``NxK:M,...`` -> ``[(N, K, M), ...]``."""
    cases = []
    for case in spec.split(","):
        try:
            nk, m = case.split(":")
            n, k = nk.split("x")
            cases.append((int(n), int(k), int(m)))
        except ValueError:
            raise SystemExit(f"--cases: {case!r} is not NxK:M (e.g. 14336x4096:1024)") from None
    return cases


def check_rounds(rounds: int) -> int:
    if rounds < 1:
        raise SystemExit(f"--rounds must be at least 1 (got {rounds})")
    return rounds


def in_graph_us(fn, reps: int, flush: torch.Tensor, calls: int, keep: list | None = None) -> float:
    """A call's cost inside a captured graph of many calls (as in an engine's decode step,
    where the graph's launch is shared by every kernel in it): graphs of ``calls`` x
    [flush, fn] and of ``calls`` flushes, replayed in turn ``reps`` times; the difference
    of their median times over ``calls``. It still counts one kernel boundary per call.
    ``keep`` gets every call's output as the replays left it."""
    if calls < 1:
        raise ValueError(f"in_graph_us: calls must be at least 1 (got {calls})")
    fn()
    torch.cuda.synchronize()
    both, flushes = torch.cuda.CUDAGraph(), torch.cuda.CUDAGraph()
    outs = []
    with torch.cuda.graph(both):
        for _ in range(calls):
            flush_l2(flush)
            outs.append(fn())
    with torch.cuda.graph(flushes):
        for _ in range(calls):
            flush_l2(flush)
    graphs, times = (both, flushes), ([], [])
    for i in range(reps + 2):  # the first two rounds warm up
        for graph, kept in zip(graphs, times):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            graph.replay()
            end.record()
            end.synchronize()
            if i >= 2:
                kept.append(start.elapsed_time(end))
    del graphs, both, flushes
    if keep is not None:
        keep.extend(outs)
    return (statistics.median(times[0]) - statistics.median(times[1])) / calls * 1e3


def copy_bandwidth(reps: int) -> float:
    """Bytes read + written per second by a 1 GiB device-to-device ``copy_`` (eager: in a
    CUDA graph the copy becomes a copy-engine node, which is slower than the SM kernel)."""
    src = torch.empty(1 << 30, dtype=torch.uint8, device="cuda").random_()
    dst = torch.empty_like(src)
    for _ in range(3):
        dst.copy_(src)
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        dst.copy_(src)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return 2 * src.numel() / (statistics.median(times) * 1e-3)


def installed_kernels() -> dict[str, type]:
    """Name -> kernel class of every installed plugin (through the core's registry when it
    exists, else the entry points directly)."""
    try:
        from mxfp8_core.discovery import get_registry

        return {entry.name: entry.kernel for entry in get_registry().kernels()}
    except ImportError:
        found = {}
        for ep in metadata.entry_points(group="mxfp8_core.plugins"):
            try:
                for cls in ep.load().mxfp8_core_kernels():
                    found[cls.name] = cls
            except Exception as exc:  # noqa: BLE001
                print(f"plugin {ep.name!r} failed to load: {exc}", file=sys.stderr)
        return found


class _Layer(torch.nn.Module):
    pass


def make_layer(weight_fp8: torch.Tensor, scale: torch.Tensor) -> torch.nn.Module:
    layer = _Layer()
    layer.weight = torch.nn.Parameter(weight_fp8.clone(), requires_grad=False)
    layer.weight_scale = torch.nn.Parameter(scale.clone(), requires_grad=False)
    return layer


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kernels", default=None, help="comma-separated kernel names (default: all supported here)")
    ap.add_argument("--shapes", default=SHAPES, help="comma-separated NxK (out x in features)")
    ap.add_argument("--ms", default=MS, help="comma-separated M (tokens)")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="bfloat16",
                    help="activations, outputs and the cuBLAS baseline (default: bfloat16)")
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--out", default="bench_gemm.json")
    ap.add_argument("--no-baselines", action="store_true", help="skip the fp8 _scaled_mm baseline")
    ap.add_argument("--in-graph-max-m", type=int, default=256,
                    help="also time each call in a graph of many calls for M up to this (-1: never)")
    ap.add_argument("--in-graph-calls", type=int, default=10, help="calls in each such graph")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("bench_gemm needs a CUDA GPU", file=sys.stderr)
        return 2

    from mxfp8_core import Mxfp8LinearLayerConfig, dequantize_mxfp8, quantize_mxfp8

    torch.manual_seed(0)
    dtype = getattr(torch, args.dtype)
    base = DTYPES[args.dtype]  # the baseline's label in the table, the log and the JSON keys
    shapes = [tuple(int(v) for v in s.lower().split("x")) for s in args.shapes.split(",")]
    ms = [int(v) for v in args.ms.split(",")]
    capability = torch.cuda.get_device_capability()
    kernels = installed_kernels()
    if args.kernels:
        names = [n.strip() for n in args.kernels.split(",") if n.strip()]
        missing = [n for n in names if n not in kernels]
        if missing:
            print(f"unknown kernel(s) {missing}; installed: {sorted(kernels)}", file=sys.stderr)
            return 2
    else:
        names = sorted(n for n, cls in kernels.items() if cls.is_supported(capability).ok)
    skipped = {n: cls.is_supported(capability).reason for n, cls in kernels.items() if n not in names}
    flush = torch.ones(64 << 20, dtype=torch.int32, device="cuda")  # 256 MiB, read to flush L2
    bw = copy_bandwidth(args.reps)
    sink = torch.zeros(1, device="cuda")
    floor = {"alone": graph_time_us(sink.zero_, args.reps, flush),
             "in_graph": in_graph_us(sink.zero_, args.reps, flush, args.in_graph_calls)}
    info = {
        "device": torch.cuda.get_device_name(),
        "capability": list(capability),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "kernels": names,
        "kernels_skipped": skipped,
        "dtype": args.dtype,
        "baseline": base,
        "copy_bandwidth_bytes_per_s": bw,
        "timing": f"CUDA graph replay, L2 flushed (a 256 MiB read) before each, median of {args.reps}",
        "timing_in_graph": f"M <= {args.in_graph_max_m}: graphs of {args.in_graph_calls} x [flush, call] and of "
                           f"{args.in_graph_calls} flushes replayed in turn, difference of medians / calls",
        "floor_us": floor,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    for pkg in ("triton", "mxfp8-core", "mxfp8-marlin", "mxfp8-emulation", "flashinfer-python"):
        try:
            info[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    print(f"# {info['device']} sm_{capability[0]}{capability[1]}, torch {info['torch']}, "
          f"triton {info.get('triton')}; {args.dtype}; copy bandwidth {bw / 1e12:.2f} TB/s; kernels: {', '.join(names)}")
    print(f"# floor (a one-element fill): {floor['alone']:.2f} us replayed alone, {floor['in_graph']:.2f} us in a graph")
    if skipped:
        print("# not supported here: " + "; ".join(f"{n} ({r})" for n, r in sorted(skipped.items())))

    rows = []
    for n, k in shapes:
        w = torch.randn(n, k, device="cuda") * 0.02
        q, s = quantize_mxfp8(w)
        w_deq = dequantize_mxfp8(q, s, dtype)
        w_orig = w.to(dtype)
        w_fp8 = q  # per-tensor baseline: the same e4m3 values with scale 1
        roofline_us = n * k * (1 + 1 / 32) / bw * 1e6
        layers = {}
        for name in names:
            cls = kernels[name]
            config = Mxfp8LinearLayerConfig(k, n, dtype)
            support = cls.can_implement(config)
            if not support.ok:
                print(f"# {name} cannot implement {n}x{k}: {support.reason}")
                continue
            kernel = cls(config)
            layer = make_layer(q, s)
            kernel.process_weights_after_loading(layer)
            layers[name] = (kernel, layer)
        for m in ms:
            x = torch.randn(m, k, device="cuda").to(dtype)
            ref = x.float() @ w_deq.float().T
            row = {"N": n, "K": k, "M": m, "roofline_us": roofline_us, "flop": 2 * m * n * k}
            in_graph = m <= args.in_graph_max_m
            row[f"{base}_us"] = graph_time_us(lambda: F.linear(x, w_deq), args.reps, flush)
            row[f"{base}_orig_us"] = graph_time_us(lambda: F.linear(x, w_orig), args.reps, flush)
            if in_graph:
                row[f"{base}_in_graph_us"] = in_graph_us(lambda: F.linear(x, w_deq), args.reps, flush,
                                                         args.in_graph_calls)
            if not args.no_baselines:
                try:
                    x8 = x.to(torch.float8_e4m3fn)
                    one = torch.ones((), device="cuda")
                    row["fp8_scaled_mm_us"] = graph_time_us(
                        lambda: torch._scaled_mm(x8, w_fp8.t(), one, one, out_dtype=dtype), args.reps, flush
                    )
                except Exception as exc:  # noqa: BLE001
                    row["fp8_scaled_mm_error"] = str(exc)[:200]
            for name, (kernel, layer) in layers.items():
                try:
                    # checked: the eager call and every output the timed replays left
                    outs = [kernel.apply_weights(layer, x)]
                    row[f"{name}_us"] = graph_time_us(lambda: kernel.apply_weights(layer, x), args.reps, flush,
                                                      outs)
                    if in_graph:
                        row[f"{name}_in_graph_us"] = in_graph_us(lambda: kernel.apply_weights(layer, x), args.reps,
                                                                 flush, args.in_graph_calls, outs)
                    err = max(float((y.float() - ref).norm() / ref.norm()) for y in outs)
                    row[f"{name}_err"] = err
                    row[f"{name}_ok"] = err <= kernel.tolerance(kernel.config)  # NaN fails too
                    del outs
                except Exception as exc:  # noqa: BLE001
                    row[f"{name}_error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
            rows.append(row)
            print(format_row(row, names, base), flush=True)
            del x, ref
        del layers, w, q, s, w_deq, w_orig
        torch.cuda.empty_cache()

    table = render(rows, names, info)
    table_in_graph = render(rows, names, info, "in_graph_us")
    print()
    print(table)
    print(f"\nIn a graph of {args.in_graph_calls} calls (M <= {args.in_graph_max_m}):\n")
    print(table_in_graph)
    with open(args.out, "w") as f:
        json.dump({"info": info, "rows": rows, "table": table, "table_in_graph": table_in_graph}, f, indent=1)
    return 1 if failed_rows(rows, names) else 0


def failed_rows(rows: list[dict], names: list[str]) -> list[str]:
    """``kernel NxK M=m`` for each row a kernel failed: an output off its bound, or an error."""
    return [f"{name} {r['N']}x{r['K']} M={r['M']}" for r in rows for name in names
            if f"{name}_error" in r or r.get(f"{name}_ok") is False]


def format_row(row: dict, names: list[str], base: str) -> str:
    parts = [f"{row['N']}x{row['K']} M={row['M']}: {base} {row[f'{base}_us']:.1f}us (original weights "
             f"{row[f'{base}_orig_us']:.1f}us)"]
    for name in names:
        if f"{name}_us" in row:
            parts.append(f"{name} {row[f'{name}_us']:.1f}us (x{row[f'{base}_us'] / row[f'{name}_us']:.2f})")
            if f"{name}_in_graph_us" in row:
                ref = row[f"{base}_in_graph_us"]
                parts.append(f"in a graph: {base} {ref:.1f}us, {name} "
                             f"{row[f'{name}_in_graph_us']:.1f}us (x{ref / row[f'{name}_in_graph_us']:.2f})")
        elif f"{name}_error" in row:
            parts.append(f"{name} ERROR {row[f'{name}_error']}")
    return "  ".join(parts)


def geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def render(rows: list[dict], names: list[str], info: dict, timing: str = "us") -> str:
    """A markdown table of the rows timed by ``timing`` (``us``: each call replayed alone;
    ``in_graph_us``: in a graph of many calls): median us, speed-up over cuBLAS (x), fraction
    of the roofline, and the geomean of the speed-up per M regime. The baseline is cuBLAS in
    ``info["baseline"]``'s dtype (bf16 in runs that predate the option)."""
    b = info.get("baseline", "bf16")
    rows = [r for r in rows if f"{b}_{timing}" in r]
    head = ["N x K", "M", f"{b} us"] + ([f"{b} orig us", "fp8 pt us"] if timing == "us" else [])
    for name in names:
        head += [f"{name} us", f"{name} x", f"{name} roof"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        base = r[f"{b}_{timing}"]
        cells = [f"{r['N']}x{r['K']}", str(r["M"]), f"{base:.1f}"]
        if timing == "us":
            cells.append(f"{r.get(f'{b}_orig_us', float('nan')):.1f}")
            cells.append(f"{r.get('fp8_scaled_mm_us', float('nan')):.1f}")
        for name in names:
            us = r.get(f"{name}_{timing}")
            if us is None:
                cells += ["err" if f"{name}_error" in r else "-", "", ""]
            else:
                flag = "" if r.get(f"{name}_ok", True) else " (ERR)"
                cells += [f"{us:.1f}{flag}", f"{base / us:.2f}", f"{r['roofline_us'] / us:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    summary = []
    # The original weights' baseline is timed alone only.
    baselines = [(f"{b}_{timing}", b)] + ([(f"{b}_orig_us", f"{b} on the original weights")]
                                          if timing == "us" else [])
    failed = failed_rows(rows, names)
    if failed:  # left out of every figure below: a wrong output's time proves nothing
        summary.append(f"FAILED (output off the kernel's bound, or an error; not in the figures): {', '.join(failed)}")
    for name in names:
        timed = [r for r in rows if f"{name}_{timing}" in r and r.get(f"{name}_ok", True)]
        for label, sel in (("M<=16", lambda m: m <= 16), ("M=64,256", lambda m: m in (64, 256)),
                           ("M>=1024", lambda m: m >= 1024)):
            for key, against in baselines:
                sp = [r[key] / r[f"{name}_{timing}"] for r in timed if sel(r["M"]) and key in r]
                if sp:
                    summary.append(f"{name} {label}: geomean x{geomean(sp):.2f} over {against}, min x{min(sp):.2f}")
        roof = [r["roofline_us"] / r[f"{name}_{timing}"] for r in timed if r["M"] <= 16]
        if roof:
            summary.append(f"{name} M<=16: time / roofline worst {1 / min(roof):.2f} (target <= 1.4)")
    # The most any MXFP8 kernel can gain at M <= 16 under this timing: the weight read at
    # the copy bandwidth, plus what an empty kernel costs (the floor).
    floor = info["floor_us"]["alone" if timing == "us" else "in_graph"]
    ceiling = [r[f"{b}_{timing}"] / (r["roofline_us"] + floor) for r in rows if r["M"] <= 16]
    if ceiling:
        summary.append(f"M<=16 ceiling (the MXFP8 roofline + the {floor:.2f} us floor): geomean x{geomean(ceiling):.2f} "
                       f"over {b}, min x{min(ceiling):.2f}")
    bw = info["copy_bandwidth_bytes_per_s"]
    return "\n".join(lines) + f"\n\ncopy bandwidth {bw / 1e12:.2f} TB/s (read + write); roof = MXFP8 weight " \
        "roofline time / measured time\n" + "\n".join(summary)


if __name__ == "__main__":
    sys.exit(main())
