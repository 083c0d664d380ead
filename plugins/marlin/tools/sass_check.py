"""Offline check of the Gluon kernels' machine code (a program, not a test; no GPU needed,
only Triton 3.6 with its bundled ptxas): compiles ``_gluon.mx_w8a16_wgmma`` and
``mx_w8a16_wgmma_ws`` (also persistent) for sm_90a in the configurations the table uses,
prints ptxas's register and spill report, and checks the SASS for the hazard behind round 16's wrong
outputs: between a wgmma (HGMMA) and the wait that retires it (``WARPGROUP.DEPBAR.LE
gsb0, 0x0``), on any path of the control flow, no instruction may write the registers the
wgmma reads its A operand from, nor touch its accumulator registers. ptxas does not
guarantee that when the wait lies across a loop's back edge (bench/notes_marlin.md,
round 18), so every compiled variant is checked.

    python plugins/marlin/tools/sass_check.py [--keep DIR]   # exit status 1 on a hazard
"""

from __future__ import annotations

import argparse
import itertools
import re
import subprocess
import sys
import tempfile
from pathlib import Path

# The SASS analysis (parse, hazards) needs nothing else; compiling needs Triton 3.6, imported
# where it is used so that the analysis is testable anywhere (tests/test_sass_check.py).
INSTR = re.compile(r"/\*([0-9a-f]{4,})\*/\s+(@!?U?P\w+\s+)?([A-Z][A-Za-z0-9_.]*)\s*([^;]*);")
WIDTH = {".64": 2, ".128": 4, ".WIDE": 2}
NO_DEST = ("ST", "STS", "STG", "STL", "RED", "BAR", "BRA", "EXIT", "SYNCS", "WARPGROUP", "UTMA", "MEMBAR",
           "FENCE", "NOP", "ERRBAR", "CCTL", "RET", "CALL", "WARPSYNC", "BSYNC", "BSSY", "DEPBAR", "ARRIVES")


def parse(sass: str) -> dict[int, tuple[str, list[str], bool]]:
    """Address -> (opcode, operands, predicated)."""
    code = {}
    for m in INSTR.finditer(sass):
        ops = [o.strip() for o in m.group(4).split(",")] if m.group(4).strip() else []
        code[int(m.group(1), 16)] = (m.group(3), ops, bool(m.group(2)))
    return code


def regs(op: str, count: int = 1) -> set[int]:
    m = re.fullmatch(r"-?\|?R(\d+)(\.\w+)*\|?", op)
    return set(range(int(m.group(1)), int(m.group(1)) + count)) if m else set()


def written(opcode: str, ops: list[str]) -> set[int]:
    """General registers an instruction writes (its first operand, widened by the opcode)."""
    if not ops or opcode.split(".")[0] in NO_DEST or opcode.startswith("HGMMA"):
        return set()
    width = max([n for suffix, n in WIDTH.items() if suffix in opcode] or [1])
    return regs(ops[0], width)


def read(ops: list[str]) -> set[int]:
    out = set()
    for op in ops:
        for m in re.finditer(r"\bR(\d+)\b", op):
            out.add(int(m.group(1)))
    return out


def successors(addr: int, opcode: str, ops: list[str], predicated: bool) -> list[int]:
    if opcode == "EXIT" and not predicated:
        return []
    if opcode == "BRA":
        target = int(ops[-1], 16)
        return [target, addr + 16] if predicated else [target]
    return [addr + 16]


def hazards(code: dict) -> list[str]:
    """For each HGMMA with its A operand in registers, every path to the wait that retires it."""
    found = []
    for addr, (opcode, ops, _) in code.items():
        if not opcode.startswith("HGMMA") or len(ops) < 2 or not ops[1].startswith("R"):
            continue
        n = int(re.search(r"x(\d+)x", opcode).group(1))
        a_regs = regs(ops[1], 4)
        acc = regs(ops[0], n // 2)
        seen, todo = set(), [addr + 16]
        while todo:
            at = todo.pop()
            if at in seen or at not in code:
                continue
            seen.add(at)
            op2, ops2, pred2 = code[at]
            if op2 == "WARPGROUP.DEPBAR.LE" and ops2[-1] == "0x0":
                continue
            if not op2.startswith("HGMMA"):
                bad = (written(op2, ops2) & a_regs) | (read(ops2) & acc) | (written(op2, ops2) & acc)
                if bad:
                    found.append(f"HGMMA at {addr:#x} (A R{min(a_regs)}): {op2} {', '.join(ops2)} at {at:#x} "
                                 f"touches R{min(bad)} before the wait")
            todo.extend(successors(at, op2, ops2, pred2))
    return found


def compile_sass(kernel, signature: dict, constants: dict, num_warps: int, out: Path, tag: str) -> tuple[str, str]:
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.experimental.gluon._runtime import GluonASTSource

    bin_dir = Path(triton.__file__).parent / "backends" / "nvidia" / "bin"
    attrs = {(i,): [["tt.divisibility", 16]] for i, name in enumerate(signature)
             if name.endswith("_ptr") or name in ("N", "K", "NP", "stride_ym")}
    src = GluonASTSource(kernel, signature, constants, attrs)
    compiled = triton.compile(src, target=GPUTarget("cuda", 90, 32), options={"num_warps": num_warps})
    ptx = out / f"{tag}.ptx"
    ptx.write_text(compiled.asm["ptx"])
    cubin = out / f"{tag}.cubin"
    report = subprocess.run([str(bin_dir / "ptxas"), "-arch=sm_90a", "-v", str(ptx), "-o", str(cubin)],
                            capture_output=True, text=True, check=True).stderr
    sass = subprocess.run([str(bin_dir / "cuobjdump"), "-sass", str(cubin)], capture_output=True, text=True,
                          check=True).stdout
    (out / f"{tag}.sass").write_text(sass)
    usage = " ".join(line.split(":", 1)[-1].strip() for line in report.splitlines()
                     if "Used" in line or "spill" in line or "C75" in line)
    return sass, usage


POINTERS = {"rs_ptr": "*fp32", "bias_ptr": "*bf16", "y_ptr": "*bf16", "ws_ptr": "*fp32", "cnt_ptr": "*i32"}


def signature(kernel, consts: dict, dt: str, bm: int, rows: int, bk: int) -> dict:
    """Argument types in ``kernel``'s order: the three TMA descriptors (``rows`` weight rows a
    box), the pointers, ``consts`` as constexprs, every other argument an i32."""
    from mxfp8_marlin import _gluon

    xl, wl, dl = _gluon.shared_layouts(bm, rows, bk, "torch.bfloat16" if dt == "bf16" else "torch.float16")
    descs = {"x_desc": f"tensordesc<{dt}[{bm}, {bk}],{xl!r}>", "w_desc": f"tensordesc<u8[{rows}, {bk}],{wl!r}>",
             "d_desc": f"tensordesc<u8[8, {rows}],{dl!r}>"}
    return {name: descs.get(name) or POINTERS.get(name) or ("constexpr" if name in consts else "i32")
            for name in kernel.arg_names}


def variants():
    """(tag, kernel, signature, constants) for the table's tiles, both activation dtypes,
    with and without bias."""
    from triton.experimental.gluon import language as gl

    from mxfp8_marlin import _gluon, configs

    wgmma = [cfg for _, cfg, _ in configs.WGMMA_TABLE.values()]
    for (dt, dot), bias in itertools.product((("bf16", gl.bfloat16), ("fp16", gl.float16)), (False, True)):
        for cfg in wgmma + [configs.PINGPONG_128, configs.PINGPONG_256]:
            consts = {"HAS_BIAS": bias, "TK": 512, "BLOCK_M": cfg.block_m, "BLOCK_K": cfg.block_k, "GROUP_N": 8,
                      "STAGES": cfg.num_stages, "num_warps": 4}
            tag = f"{cfg.strategy}_{cfg.block_m}x{cfg.block_n}x{cfg.block_k}_{dt}_bias{int(bias)}"
            if cfg.strategy == "wgmma":
                consts.update(BLOCK_N=cfg.block_n, DOT=dot)
                kernel, rows = _gluon.mx_w8a16_wgmma, cfg.block_n
            else:
                rows = _gluon.PINGPONG_ROWS
                consts.update(CONSUMERS=cfg.block_n // rows, CONSUMER_REGS=232, PERSISTENT=False, SHARES=0)
                kernel = _gluon.mx_w8a16_wgmma_ws
                persistent = dict(consts, PERSISTENT=True)
                yield (f"{tag}_persistent", kernel, signature(kernel, persistent, dt, cfg.block_m, rows, cfg.block_k),
                       persistent)
                shared = dict(consts, SHARES=4)  # the shared split-K fix-up (configs.Config.shared_fixup)
                yield f"{tag}_shared4", kernel, signature(kernel, shared, dt, cfg.block_m, rows, cfg.block_k), shared
            yield tag, kernel, signature(kernel, consts, dt, cfg.block_m, rows, cfg.block_k), consts


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keep", default="", help="a directory for the PTX, cubin and SASS files")
    args = ap.parse_args()
    import triton

    if not triton.__version__.startswith("3.6."):
        print(f"needs Triton 3.6 (the Gluon kernels' release); found {triton.__version__}")
        return 2
    out = Path(args.keep or tempfile.mkdtemp())
    out.mkdir(parents=True, exist_ok=True)
    bad = 0
    for tag, kernel, sig, consts in variants():
        sass, usage = compile_sass(kernel, sig, consts, consts["num_warps"], out, tag)
        found = hazards(parse(sass))
        bad += bool(found)
        print(f"{'HAZARD' if found else 'ok    '} {tag:32s} {usage}")
        for line in found[:5]:
            print(f"    {line}")
    print(f"# {bad} variants with hazards")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
