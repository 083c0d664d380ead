"""The ``mxfp8`` command line: ``plugins``, ``explain``, ``demo``."""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from collections.abc import Sequence

from .config import DTYPE_NAMES, Mxfp8LinearLayerConfig
from .discovery import get_registry
from .errors import Mxfp8Error, NoKernelAvailable
from .hookspecs import ENTRY_POINT_GROUP
from .platform import CPU_TARGET, current_target, resolve_target
from .selection import argument_names, ask, select_kernel
from .testing.cli import add_check_parser

DTYPES = {name: dtype for dtype, name in DTYPE_NAMES.items()}


def _plugins(args: argparse.Namespace) -> int:
    registry = get_registry()
    infos = registry.plugins()
    target = current_target()
    kernels = [
        {
            "name": entry.name,
            "plugin": entry.plugin.name,
            "priority": entry.kernel.priority,
            "scheme": entry.kernel.scheme,
            "supported_here": not (reasons := ask(entry.kernel, "is_supported", target)),
            "reasons_here": list(reasons),
        }
        for entry in registry.kernels()
    ]
    if args.json:
        print(json.dumps({
            "entry_point_group": ENTRY_POINT_GROUP,
            "autoload": registry.autoload,
            "strict": registry.strict,
            "target": str(target),
            "plugins": [info.to_dict() for info in infos],
            "kernels": kernels,
        }, indent=2))
        return 0
    print(f"Plugins (entry-point group {ENTRY_POINT_GROUP}; autoload {'on' if registry.autoload else 'off'}, "
          f"strict {'on' if registry.strict else 'off'})")
    if not infos:
        print("  none found: pip install mxfp8-emulation (or mxfp8-marlin, mxfp8-flashinfer-cutlass)")
    for info in infos:
        status = "ok" if info.ok else "FAILED"
        print(f"  {info.name:<20} {info.label:<34} {status:<6} kernels: {', '.join(info.kernels) or '-'}")
        for error in info.errors:
            print(f"  {'':<20} error: {error}")
    print(f"\nKernels on this machine ({target})")
    for k in sorted(kernels, key=lambda k: (-k["priority"], k["name"])):
        here = "available" if k["supported_here"] else "unavailable: " + "; ".join(k["reasons_here"])
        print(f"  {k['name']:<20} priority {k['priority']:>4}  {k['scheme']:<8}  {here}")
    return 0


def _explain(args: argparse.Namespace) -> int:
    config = Mxfp8LinearLayerConfig(
        args.in_features, args.out_features, DTYPES[args.dtype],
        DTYPES[args.out_dtype] if args.out_dtype else None, has_bias=args.bias,
    )
    capability = CPU_TARGET if args.cpu else (resolve_target(args.capability) if args.capability else None)
    try:
        selection = select_kernel(config, capability=capability, kernels=args.kernels, disabled=args.disabled)
    except NoKernelAvailable as error:
        if args.json:
            print(json.dumps({
                "selected": None,
                "error": str(error),  # whole: its first line can end in "install at least one of:"
                "config": config.to_dict(),
                "target": {"name": str(error.target)} | error.target.to_dict(),
                "candidates": [c.to_dict() for c in error.candidates],
            }, indent=2))
        else:
            print(error)
        return 1
    if args.json:
        print(json.dumps(selection.to_dict(), indent=2))
    else:
        print(selection.explain())
        print(f"\nchosen: {selection.name}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import format_demo, run_demo

    try:
        result = run_demo(device=args.device, tokens=args.tokens, kernels=args.kernels, disabled=args.disabled)
    except NoKernelAvailable as error:  # as explain: 1 when no kernel can run, 2 on bad arguments
        print(f"mxfp8 demo: {error}", file=sys.stderr)
        return 1
    broken = [key for key in ("relative_error", "max_abs_error") if not math.isfinite(result[key])]
    if args.json:
        print(json.dumps(result | dict.fromkeys(broken), indent=2, allow_nan=False))  # JSON has no NaN: null
    else:
        print(format_demo(result))
    if broken:
        print("mxfp8 demo: error: the MXFP8 model's output is not finite (a kernel computed NaN or inf)",
              file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mxfp8", description="MXFP8 linear kernels: plugins, selection, demo.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("plugins", help="list discovered plugins, their kernels and load errors")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_plugins)

    p = sub.add_parser("explain", help="rank the kernels for a layer and say why each is chosen or not")
    p.add_argument("--in-features", "-k", type=int, required=True, help="K")
    p.add_argument("--out-features", "-n", type=int, required=True, help="N")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="bf16", help="activation dtype (default bf16)")
    p.add_argument("--out-dtype", choices=sorted(DTYPES), help="output dtype (default: the activation dtype)")
    p.add_argument("--bias", action="store_true", help="the layer has a bias")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--capability", help="plan for this CUDA capability, e.g. 9.0 or sm_100 (default: this machine)")
    where.add_argument("--cpu", action="store_true", help="plan for a CPU-only host")
    _overrides(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_explain)

    p = sub.add_parser("demo", help="quantize a small MLP, run it with the kernels chosen here, compare with bf16")
    p.add_argument("--device", help="cpu or cuda (default: cuda if available)")
    p.add_argument("--tokens", type=int, default=16, help="batch of tokens (default 16)")
    _overrides(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_demo)

    add_check_parser(sub)  # mxfp8 check: the conformance kit
    return parser


def _overrides(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kernels", help="only these kernels, in this order (comma list; overrides MXFP8_KERNELS)")
    p.add_argument("--disabled", help="never these kernels (comma list; overrides MXFP8_DISABLED_KERNELS)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # These commands print plugin load errors themselves; don't log each one again.
    logging.getLogger("mxfp8_core").setLevel(logging.ERROR if args.command in ("plugins", "explain") else logging.WARNING)
    try:
        with argument_names("--kernels", "--disabled"):  # messages name the options typed
            status = args.run(args)
        sys.stdout.flush()  # here, so that a reader gone (`mxfp8 check --json | head`) is caught below
        return status
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 141  # 128 + SIGPIPE: what a shell reports for a writer whose reader left
    except (Mxfp8Error, ValueError, TypeError) as error:
        print(f"mxfp8 {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
