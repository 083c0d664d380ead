"""The SASS hazard analysis of ``tools/sass_check.py`` (the guard for the Gluon kernels'
in-flight wgmma registers, bench/notes_marlin.md round 18), on small hand-written SASS in
``cuobjdump`` format: what it must flag and what it must pass."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("sass_check", Path(__file__).parents[1] / "tools" / "sass_check.py")
sass_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sass_check)


def sass(*lines: str) -> str:
    """cuobjdump lines, one instruction each at 0x0, 0x10, ..., with encoding comments."""
    return "\n".join(f"        /*{16 * i:04x}*/                   {line} ;   /* 0x000fe20000000f00 */"
                     for i, line in enumerate(lines))


def found(*lines: str) -> list[str]:
    return sass_check.hazards(sass_check.parse(sass(*lines)))


HGMMA = "HGMMA.64x64x16.F32.BF16 R24, R56, gdesc[UR4], R24, gsb0"  # A in R56..R59, acc R24..R55


def test_parse_reads_opcode_operands_and_predicate():
    code = sass_check.parse(sass(HGMMA, "@!P1 BRA 0x40"))
    assert code[0] == ("HGMMA.64x64x16.F32.BF16", ["R24", "R56", "gdesc[UR4]", "R24", "gsb0"], False)
    assert code[16] == ("BRA", ["0x40"], True)


def test_a_write_to_the_operand_registers_before_the_wait_is_flagged():
    hits = found(HGMMA, "LOP3.LUT R57, R2, 0x7fff7fff, RZ, 0xc0, !PT", "WARPGROUP.DEPBAR.LE gsb0, 0x0")
    assert len(hits) == 1 and "R57" in hits[0] and "0x10" in hits[0]


def test_writes_after_the_wait_or_to_other_registers_pass():
    assert found(HGMMA, "LOP3.LUT R60, R2, 0x7fff7fff, RZ, 0xc0, !PT", "WARPGROUP.DEPBAR.LE gsb0, 0x0",
                 "LOP3.LUT R57, R2, 0x7fff7fff, RZ, 0xc0, !PT", "EXIT") == []


def test_a_wide_load_that_reaches_an_operand_register_is_flagged():
    # LDS.64 into R54 writes R54 and R55 (the accumulator's last) ; LDS.128 into R52 reaches R56.
    assert found(HGMMA, "LDS.64 R54, [R3]", "WARPGROUP.DEPBAR.LE gsb0, 0x0")
    assert found(HGMMA, "LDS.128 R52, [R3]", "WARPGROUP.DEPBAR.LE gsb0, 0x0")
    assert found(HGMMA, "LDS.64 R60, [R3]", "WARPGROUP.DEPBAR.LE gsb0, 0x0") == []


def test_a_wait_that_leaves_one_group_in_flight_does_not_retire_it():
    assert found(HGMMA, "WARPGROUP.DEPBAR.LE gsb0, 0x1", "F2FP.F16.E4M3.UNPACK_B R58, R9",
                 "WARPGROUP.DEPBAR.LE gsb0, 0x0")


def test_reading_the_accumulator_before_the_wait_is_flagged():
    assert found(HGMMA, "FADD R2, R30, R31", "WARPGROUP.DEPBAR.LE gsb0, 0x0")


def test_the_path_across_a_loop_back_edge_is_followed():
    # Round 16's shape: the loop decodes into the operand registers at its top, before the
    # wait, while the wgmma issued at its bottom may still run; the exit path waits first.
    loop = ["LDS.U16 R9, [R3]",                       # 0x00 loop top
            "F2FP.F16.E4M3.UNPACK_B R56, R9",         # 0x10 writes the A registers
            "WARPGROUP.DEPBAR.LE gsb0, 0x0",          # 0x20 retires the previous wgmma
            HGMMA,                                    # 0x30
            "@P0 BRA 0x0",                            # 0x40 back edge
            "WARPGROUP.DEPBAR.LE gsb0, 0x0",          # 0x50 exit path
            "EXIT"]
    hits = found(*loop)
    assert len(hits) == 1 and "at 0x10" in hits[0]
    # The same loop with the write after the wait passes.
    loop[1], loop[2] = loop[2], loop[1]
    assert found(*loop) == []


@pytest.mark.parametrize("store", ["STS [R56], R2", "STG.E desc[UR4][R4.64], R56", "SYNCS.ARRIVE.TRANS64.A1T0 RZ, [UR5], RZ"])
def test_instructions_without_a_destination_register_pass(store):
    # Stores name registers only as sources; reading the A registers is allowed.
    assert found(HGMMA, store, "WARPGROUP.DEPBAR.LE gsb0, 0x0") == []


def test_sass_loops_counts_the_smallest_loop_that_issues_a_wgmma():
    import sys

    sys.path.insert(0, str(Path(__file__).parents[1] / "tools"))
    try:
        _loops_spec = importlib.util.spec_from_file_location("sass_loops", Path(__file__).parents[1] / "tools" / "sass_loops.py")
        sass_loops = importlib.util.module_from_spec(_loops_spec)
        _loops_spec.loader.exec_module(sass_loops)
    finally:
        sys.path.remove(str(Path(__file__).parents[1] / "tools"))
    text = sass("LDS.U16 R2, [R3]",                  # 0x00: the outer loop's start
                "LDS.64 R4, [R3+0x8]",               # 0x10: the wgmma loop's start
                HGMMA,                               # 0x20
                "WARPGROUP.DEPBAR.LE gsb0, 0x0",     # 0x30
                "@P0 BRA 0x10",                      # 0x40: back to 0x10 (4 instructions + the branch)
                "IADD3 R1, R1, 0x1, RZ",             # 0x50
                "@P1 BRA 0x0",                       # 0x60: the outer loop, also holding the wgmma
                "LDS R8, [R9]",                      # 0x70
                "@P2 BRA 0x70")                      # 0x80: a loop without a wgmma
    loop = sass_loops.main_loop(text)
    assert sum(loop.values()) == 4 and loop["LDS"] == 1 and loop["HGMMA"] == 1 and loop["BRA"] == 1
    assert sass_loops.summary(loop) == "   4 instr, LDS   1"
