"""The benchmark's summary (bench/bench_gemm.py's render, CPU): it rebuilds a committed run's
tables from its rows, and keeps rows whose output failed the check out of its figures."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "bench" / "results" / "round50" / "part1_bf46a17_h100" / "marlin_h100.json"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_gemm", ROOT / "bench" / "bench_gemm.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_render_rebuilds_the_committed_tables():
    bench, run = _bench(), json.loads(RUN.read_text())
    names = list(run["info"]["kernels"])
    assert bench.render(run["rows"], names, run["info"]) == run["table"]
    assert bench.render(run["rows"], names, run["info"], "in_graph_us") == run["table_in_graph"]
    assert bench.failed_rows(run["rows"], names) == []


def test_a_row_whose_output_failed_is_named_and_left_out_of_the_figures():
    """A failed row had counted in every geomean: a wrong kernel, twice as fast, had passed."""
    bench, run = _bench(), json.loads(RUN.read_text())
    names = list(run["info"]["kernels"])
    rows = copy.deepcopy(run["rows"])
    for row in rows:
        if row["M"] <= 16:
            row["marlin_ok"], row["marlin_us"] = False, row["marlin_us"] / 2
    rows[-1]["emulation_error"] = "RuntimeError: out of memory"
    del rows[-1]["emulation_us"]
    table = bench.render(rows, names, run["info"])
    assert "FAILED (output off the kernel's bound, or an error; not in the figures): marlin 4096x4096 M=1" in table
    assert f"emulation {rows[-1]['N']}x{rows[-1]['K']} M={rows[-1]['M']}" in table
    assert "marlin M<=16" not in table and "marlin M=64,256: geomean" in table
    assert len(bench.failed_rows(rows, names)) == 13
