"""``mxfp8 check [KERNEL ...]``: the conformance suite on installed kernels, from the shell.

Prints each kernel's table of checks (pass/FAIL/skip with reasons) and a summary table;
exits 0 when no check failed, 1 when one did, 2 on a usage error (such as an unknown
kernel name, whose message lists the installed kernels).
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_check_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``check`` subcommand to ``mxfp8``'s subparsers (imports nothing heavy)."""
    p = sub.add_parser(
        "check",
        help="run the conformance suite on installed kernels and print a pass/fail table",
        description="Check that installed kernels keep the MXFP8 kernel contract (the mxfp8_core.testing "
                    "suite): static checks everywhere, runtime checks on every device a kernel supports here.",
    )
    p.add_argument("kernels", nargs="*", metavar="KERNEL", help="kernel names (default: every installed kernel)")
    p.add_argument("--quick", action="store_true", help="the smaller grid of shapes")
    p.add_argument("--device", action="append", choices=("cpu", "cuda"),
                   help="only runtime checks on this device (repeatable; default: every device supported here)")
    p.add_argument("--seed", type=int, help="seed of the random data (default: MXFP8_CONFORMANCE_SEED or fresh)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=run_check)
    return p


def run_check(args: argparse.Namespace) -> int:
    from ..discovery import get_registry
    from .conformance import check_kernel, resolve_seed

    seed = resolve_seed(args.seed)  # one seed for every kernel of the run
    registry = get_registry()
    entries = registry.kernels()
    if args.kernels:
        entries = tuple(registry.get(name) for name in dict.fromkeys(args.kernels))  # UnknownKernelError lists names
    plugin_errors = [info for info in registry.plugins() if info.errors]
    # Checking every kernel, a plugin that failed to load is a failure (its kernels could not
    # be checked); checking named kernels, other plugins' errors are only a warning.
    broken = [] if args.kernels else [info.name for info in plugin_errors]
    reports = [
        (entry, check_kernel(entry.kernel, devices=args.device, quick=args.quick, seed=seed))
        for entry in entries
    ]
    ok = all(report.ok for _, report in reports) and not broken
    if args.json:
        print(json.dumps({
            "ok": ok,
            "kernels": [
                report.to_dict() | {"plugin": entry.plugin.name, "distribution": entry.plugin.distribution,
                                    "version": entry.plugin.version}
                for entry, report in reports
            ],
            "plugin_errors": [info.to_dict() for info in plugin_errors],
        }, indent=2))
        return 0 if ok else 1
    if not reports:
        print("no kernels installed: pip install mxfp8-emulation (or another MXFP8 kernel plugin)")
    for entry, report in reports:
        print(report.format_table())
        print()
    for info in plugin_errors:
        print(f"{'error' if broken else 'warning'}: plugin {info.name} ({info.label}) failed to load, its kernels "
              f"were not checked: {'; '.join(info.errors)}")
    if reports or broken:
        print(_summary(reports, broken))
    return 0 if ok else 1


def _summary(reports: list, broken: list[str]) -> str:
    rows = [("KERNEL", "DISTRIBUTION", "RESULT", "PASS", "FAIL", "SKIP", "RUNTIME CHECKS ON")]
    for entry, report in reports:
        counts = report.counts()
        rows.append((
            report.kernel, entry.plugin.label, "pass" if report.ok else "FAIL",
            str(counts["pass"]), str(counts["fail"]), str(counts["skip"]),
            ", ".join(report.devices) or "none (static checks only)",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    failed = [report.kernel for _, report in reports if not report.ok] + [f"plugin {name} (not loaded)" for name in broken]
    verdict = f"FAILED: {', '.join(failed)}" if failed else "all kernels pass"
    seeds = sorted({report.seed for _, report in reports})
    return "\n".join(lines + [f"{verdict} (seed {', '.join(map(str, seeds))})" if seeds else verdict])
