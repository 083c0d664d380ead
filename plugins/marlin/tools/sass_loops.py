"""The main loop of each kept SASS file (``sass_check.py --keep DIR``): its instruction count
and mix, for comparing two versions of a kernel offline (round 25; a program, not a test).
The main loop is the innermost backward branch's range that holds an HGMMA.

    python plugins/marlin/tools/sass_loops.py DIR [DIR2]   # DIR2: the same files, side by side
"""

from __future__ import annotations

import collections
import sys
from pathlib import Path

from sass_check import parse  # tools/: this script's directory


def main_loop(sass: str) -> collections.Counter:
    """Opcode (without modifiers) -> count over the smallest loop that issues an HGMMA."""
    code = parse(sass)
    best = None
    for addr, (opcode, ops, _) in code.items():
        if opcode.startswith("BRA") and ops:
            target = int(ops[-1], 16)
            body = [code[a][0] for a in sorted(code) if target <= a <= addr]
            if target < addr and any(op.startswith("HGMMA") for op in body) and (best is None or len(body) < len(best)):
                best = body
    return collections.Counter(op.split(".")[0] for op in best or [])


def summary(loop: collections.Counter) -> str:
    return f"{sum(loop.values()):4d} instr, LDS {loop['LDS']:3d}"


def main() -> int:
    dirs = [Path(d) for d in sys.argv[1:3]]
    if not dirs:
        print(__doc__)
        return 2
    for f in sorted(dirs[0].glob("*.sass")):
        cols = [summary(main_loop(f.read_text()))]
        if len(dirs) > 1 and (dirs[1] / f.name).exists():
            cols.append(summary(main_loop((dirs[1] / f.name).read_text())))
        print(f"{f.stem:44s} " + "   |   ".join(cols))
    return 0


if __name__ == "__main__":
    sys.exit(main())
