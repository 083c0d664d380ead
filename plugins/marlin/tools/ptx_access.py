"""The Triton kernels' memory accesses by width, offline (a program, not a test; no GPU needed):
compiles ``_triton.mx_w8a16_gemv``, ``mx_w8a16_gemm`` and ``mx_dequantize`` in the
configurations the table uses, for sm_80 and sm_90, and counts the PTX's global and shared
memory instructions by bytes moved a thread (static counts; round 27: what reading the
packing's in-block order costs these kernels).

    python plugins/marlin/tools/ptx_access.py   # PYTHONPATH=<other tree>/plugins/marlin: that version
"""

from __future__ import annotations

import collections
import re

ACCESS = re.compile(r"\b((?:ld|st)\.(?:global|shared))(?:\.[a-z0-9_]+)*?(?:\.v(\d))?\.(?:b|u|f|s)(\d+)\b")
COPY = re.compile(r"\bcp\.async\.c[ag]\.shared\.global[^;]*?\],\s*(0x[0-9a-f]+|\d+)")

POINTERS = {"x_ptr": "*bf16", "q_ptr": "*u8", "d_ptr": "*u8", "rs_ptr": "*fp32", "bias_ptr": "*bf16",
            "y_ptr": "*bf16", "w_ptr": "*bf16", "ws_ptr": "*fp32", "cnt_ptr": "*i32"}


def variants(arch: int):
    """(tag, kernel, constants, num_warps) for M = 1 (the GEMV), sm_80's fused tiles and the
    dequantization, with the decode ``kernel.default_decode`` takes on ``arch``."""
    import triton.language as tl

    from mxfp8_marlin import _triton

    base = {"HAS_BIAS": False, "TK": 512}
    cvt = 1 if arch >= 89 else 2  # the hardware e4m3 convert, or the bit trick before sm_89
    yield "gemv_BN4_BK512_pairs", _triton.mx_w8a16_gemv, dict(base, BLOCK_M=1, BLOCK_N=4, BLOCK_K=512, DECODE=cvt,
                                                               PAIRS=True), 4
    for bm, bn, bk, swap in ((16, 64, 256, False), (64, 64, 128, True)):
        consts = dict(base, BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, GROUP_N=8, DECODE=2, DOT=tl.bfloat16, SWAP=swap,
                      stride_xk=1)  # Triton specializes a stride of 1 so
        yield f"gemm_{bm}x{bn}x{bk}_{'swap' if swap else 'noswap'}", _triton.mx_w8a16_gemm, consts, 4
    yield "dequant_BN32_BK256", _triton.mx_dequantize, {"TK": 512, "BLOCK_N": 32, "BLOCK_K": 256, "DECODE": cvt,
                                                         "DOT": tl.float16}, 4


def widths(ptx: str) -> dict[str, collections.Counter]:
    """'ld.global', 'st.global', 'cp.async' (global to shared), 'ld.shared', 'st.shared' ->
    {bytes a thread: count}."""
    out = {op: collections.Counter() for op in ("ld.global", "st.global", "cp.async", "ld.shared", "st.shared")}
    for op, vec, bits in ACCESS.findall(ptx):
        out[op][int(vec or 1) * int(bits) // 8] += 1
    for size in COPY.findall(ptx):
        out["cp.async"][int(size, 0)] += 1
    return out


def main() -> int:
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    import mxfp8_marlin

    print(f"# {mxfp8_marlin.__file__}, Triton {triton.__version__}; {{bytes a thread: instructions}}")
    for arch in (80, 90):
        for tag, kernel, consts, warps in variants(arch):
            sig = {name: "constexpr" if name in consts else POINTERS.get(name, "i32") for name in kernel.arg_names}
            attrs = {(i,): [["tt.divisibility", 16]] for i, name in enumerate(sig)
                     if name.endswith("_ptr") or name in ("K", "stride_xm", "stride_qt", "stride_d")}
            src = ASTSource(kernel, sig, consts, attrs)
            ptx = triton.compile(src, target=GPUTarget("cuda", arch, 32), options={"num_warps": warps}).asm["ptx"]
            w = widths(ptx)
            print(f"sm_{arch} {tag:28s} " + "  ".join(f"{op} {dict(sorted(c.items()))}" for op, c in w.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
