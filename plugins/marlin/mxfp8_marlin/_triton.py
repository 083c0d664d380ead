"""The Triton kernels of the marlin plugin (imported lazily: importing Triton is slow).

Weight format (made once by :func:`mxfp8_marlin.packing.pack_weights`), rows padded to
``NP`` (a multiple of 256):

- ``q``   uint8 ``[K/TK, NP, TK]``: the e4m3 bytes, in column blocks ``TK`` wide, each
  row-major and contiguous (``stride_qt`` = ``NP * TK`` bytes apart); within each 32-wide
  MX block reordered for the Hopper kernels (``packing.K_BITS``).
- ``d``   uint8 ``[K/32, NP]``: per block, ``rowmax[n] - scale[n, g]`` (>= 0),
  transposed so that one K-group of a tile of rows is one contiguous load.
- ``rs``  float32 ``[N]``: ``2**(rowmax[n] - 127)``, exact.

So ``W[n, k] = e4m3(q[k // TK, n, stored(k) % TK]) * 2**-d[k // 32, n] * rs[n]``. The
GEMV and the dequantization put each loaded tile in k order (``in_k_order``), which Triton
folds into the shared-memory pass their data takes anyway (``tools/ptx_access.py``: the
same global accesses as without the reorder; round 27: an activation gather instead made
the GEMV 8-11% slower at M = 1 on the H100). ``mx_w8a16_gemm`` instead reads the
activations in stored order (``k_of``), in 4-byte loads: reordering its weight tile
would add 2-byte shared loads on the way to the tensor cores (64 in sm_80's code). The factor
``2**-d`` lies in (0, 1]: multiplied into the decoded tile it keeps every dequantized
weight inside fp16's range whatever the MX scales are; ``rs`` is applied once per
output in float32. A kernel's ``BLOCK_K`` divides ``TK`` (a K tile never straddles two
column blocks); padded rows are zeros, so weight and scale loads need no row clamp or mask.

The kernels use only ``triton.language`` builtins, none of its ``@jit`` library functions
(``tl.cdiv``, ``tl.zeros``...): those are compiled-mode objects when Triton was imported
before ``TRITON_INTERPRET`` was set (e.g. by another plugin's tests), and would then fail
inside an interpreted kernel.

``INTERPRET`` is the one switch for the Triton interpreter (``TRITON_INTERPRET=1``, read
when this module is imported): the interpreter computes bf16 arithmetic and bf16
``tl.dot`` on raw bits, so there every tile is computed in float32 instead.
"""

from __future__ import annotations

import os

import triton
import triton.language as tl

from .packing import TO_K_ORDER

INTERPRET = os.environ.get("TRITON_INTERPRET", "").strip().lower() in {"1", "true", "yes", "on"}


# Marlin's bit trick on four e4m3 bytes at once: PRMT moves byte pairs to the top of two
# 16-bit lanes, then the sign stays and exponent+mantissa shift right into place.
# fp16 lanes (shift 1): exactly e4m3 * 2**-8. bf16 lanes (shift 4): exactly e4m3 * 2**-120
# (subnormals included: e4m3 subnormals land on fp16/bf16 subnormals of the same shape).
_ASM_FP16_TEXT = """
{
.reg .b32 a, b, t;
prmt.b32 a, $2, 0, 0x1404;
prmt.b32 b, $2, 0, 0x3424;
shr.b32 t, a, 1;
and.b32 t, t, 0x3F803F80;
and.b32 a, a, 0x80008000;
or.b32 $0, a, t;
shr.b32 t, b, 1;
and.b32 t, t, 0x3F803F80;
and.b32 b, b, 0x80008000;
or.b32 $1, b, t;
}
"""
_ASM_FP16 = tl.constexpr(_ASM_FP16_TEXT)
_ASM_BF16 = tl.constexpr(
    _ASM_FP16_TEXT.replace("t, a, 1;", "t, a, 4;").replace("t, b, 1;", "t, b, 4;").replace("0x3F803F80", "0x07F007F0")
)


# fp16 -> bf16 by bit operations on two lanes at once, instead of a convert (one F2F a
# weight, Triton's route): every e4m3 value is an fp16 normal or zero, so its exponent
# and mantissa shifted right by 3 are exactly a bf16 of the same sign times 2**-112.
_ASM_FP16_BITS_TO_BF16 = tl.constexpr("""
{
.reg .b32 t, s;
and.b32 t, $1, 0x7FFF7FFF;
shr.b32 t, t, 3;
and.b32 s, $1, 0x80008000;
or.b32 $0, t, s;
}
""")


@triton.jit
def _decode(q, DOT: tl.constexpr, DECODE: tl.constexpr):
    """e4m3 bytes -> ``DOT`` values times ``2**_decode_shift(DOT, DECODE)``.

    DECODE 0 ("bits"): integer ops on single bytes, exactly e4m3 * 2**-8 in fp16, then
    converted to DOT (the interpreter path, and a portable fallback).
    DECODE 1 ("cvt"): hardware e4m3x2 -> f16x2 conversion (sm_89+; the interpreter too), exact;
    for bf16 (GPU only), the fp16 bits then moved into a bf16 (exactly e4m3 * 2**-112).
    DECODE 2 ("asm"): the packed PTX bit trick above (GPUs, sm_80+); fp16 or bf16 DOT only.
    """
    if DECODE == 1:
        h = q.to(tl.float8e4nv, bitcast=True).to(tl.float16)
        if DOT == tl.bfloat16:  # GPUs only: the interpreter computes in float32
            return tl.inline_asm_elementwise(_ASM_FP16_BITS_TO_BF16, "=r,r", [h], dtype=tl.bfloat16, is_pure=True,
                                             pack=2)
        return h.to(DOT)
    elif DECODE == 2:
        if DOT == tl.bfloat16:
            return tl.inline_asm_elementwise(_ASM_BF16, "=r,=r,r", [q], dtype=tl.bfloat16, is_pure=True, pack=4)
        else:
            return tl.inline_asm_elementwise(_ASM_FP16, "=r,=r,r", [q], dtype=tl.float16, is_pure=True, pack=4)
    else:
        q16 = q.to(tl.uint16)
        h = ((q16 & 0x80) << 8) | ((q16 & 0x7F) << 7)
        return h.to(tl.float16, bitcast=True).to(DOT)


@triton.jit
def _block_factor(d, DOT: tl.constexpr, DECODE: tl.constexpr, OUT: tl.constexpr):
    """``2**(-d)`` times the inverse of the decode's power of two, in ``OUT`` (0 where
    that is below float32's normal range: such a block is 2**126 below its row's largest)."""
    if DECODE == 1 and DOT == tl.bfloat16:
        e = 239 - d.to(tl.int32)
    elif DECODE == 1:
        e = 127 - d.to(tl.int32)
    elif DECODE == 2 and DOT == tl.bfloat16:
        e = 247 - d.to(tl.int32)
    else:
        e = 135 - d.to(tl.int32)
    bits = tl.where(e > 0, e << 23, 0)
    return bits.to(tl.float32, bitcast=True).to(OUT)


@triton.jit
def _q_col(k0, stride_qt, TK: tl.constexpr):
    """Offset of column ``k0`` (a scalar, a K tile's first column) in row 0 of ``q``; row
    ``n`` is ``n * TK`` further. A multiple of 32 (``k0`` and ``TK`` are, and
    ``stride_qt`` is ``NP * TK``), which older Tritons cannot prove through ``%``:
    without the hint their loads of the tile fall to single bytes (Triton 3.6: 2x slower)."""
    return tl.multiple_of(tl.cast(k0 // TK, tl.int64) * stride_qt + k0 % TK, 32)


_TO_K_ORDER = tl.constexpr(TO_K_ORDER)


@triton.jit
def in_k_order(q):
    """A tile of packed bytes (rows along its first dimension, whole MX blocks after it, in any
    shape) put in k order: viewed ``[rows, blocks, 2, 2, 2, 2, 2]`` and permuted by
    ``packing.TO_K_ORDER``."""
    s = tl.reshape(q, (q.shape[0], q.numel // q.shape[0] // 32, 2, 2, 2, 2, 2))
    return tl.reshape(tl.permute(s, _TO_K_ORDER.value), q.shape)


@triton.jit
def k_of(p):
    """The ``k`` of the byte at position ``p`` of a K tile (``packing.k_of`` within each MX
    block), for ``mx_w8a16_gemm``'s activation loads: positions ``2j`` and ``2j + 1`` hold
    neighbouring k's, which the hints tell the compiler (16-bit activations read in pairs)."""
    k = (p >> 5 << 5) | (p & 1) | ((p & 6) << 2) | ((p & 24) >> 2)
    return tl.max_contiguous(tl.multiple_of(k, 2), 2)


@triton.jit
def tile_order(pid, M, N, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, GROUP_N: tl.constexpr):
    """Program ``pid``'s output tile ``(pid_m, pid_n)`` and the count of N tiles, in grouped
    order: consecutive programs share GROUP_N weight tiles and walk M (also used by the
    Gluon kernel, ``_gluon.py``)."""
    tiles_m = (M + BLOCK_M - 1) // BLOCK_M
    tiles_n = (N + BLOCK_N - 1) // BLOCK_N
    per_group = GROUP_N * tiles_m
    first_n = (pid // per_group) * GROUP_N
    group_size = tl.minimum(tiles_n - first_n, GROUP_N)
    pid_n = first_n + (pid % per_group) % group_size
    pid_m = (pid % per_group) // group_size
    return pid_m, pid_n, tiles_n


@triton.jit(do_not_specialize=["M", "SPLIT_K"])
def mx_w8a16_gemm(
    x_ptr, q_ptr, d_ptr, rs_ptr, bias_ptr, y_ptr, ws_ptr, cnt_ptr,
    M, N, K,
    stride_xm, stride_xk, stride_ym, stride_qt, stride_d,
    HAS_BIAS: tl.constexpr, TK: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
    SPLIT_K, GROUP_N: tl.constexpr,
    DECODE: tl.constexpr, DOT: tl.constexpr, SWAP: tl.constexpr = True,
):
    """``y[M, N] = x[M, K] @ W[N, K].T (+ bias)``. BLOCK_K divides K (so no K masks).

    Each program owns a ``BLOCK_M x BLOCK_N`` output tile and a range of K tiles. Per K
    tile it loads the e4m3 bytes, decodes them (``_decode``), multiplies each 32-block by
    ``2**-d`` (``_block_factor``) and feeds a tensor-core dot: ``SWAP`` computes
    ``W_tile @ x_tile.T`` (decoded weights as the A operand, kept in registers: wgmma for
    BLOCK_N >= 64), otherwise ``x_tile @ W_tile.T`` (activations as A). Rows of W past N
    are the layout's zero padding (no load mask); rows of x past M are masked (not clamped:
    sixteen copies of one row would hit the same L2 lines sixteen times). The scale loads
    are issued one K tile ahead (too narrow for the async-copy pipeline, they would
    otherwise stall every iteration). The float32 accumulator is multiplied by the row
    scale ``rs`` once, in the epilogue.

    With SPLIT_K > 1 each program writes a float32 partial to ``ws``, and the last
    program of each output tile (a counter in ``cnt``) sums the partials in a fixed order
    (deterministic), applies the epilogue, and resets the counter to 0.
    """
    G: tl.constexpr = BLOCK_K // 32
    pid_m, pid_n, tiles_n = tile_order(tl.program_id(0), M, N, BLOCK_M, BLOCK_N, GROUP_N)
    pid_k = tl.program_id(1)

    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rs, shift = row_terms(rs_ptr, bias_ptr, offs_n, N, HAS_BIAS)
    m_mask = (offs_m < M)[None, :]
    offs_k = tl.arange(0, BLOCK_K)
    offs_g = tl.arange(0, G)

    k_tiles = K // BLOCK_K
    per_split = (k_tiles + SPLIT_K - 1) // SPLIT_K
    kt_begin = pid_k * per_split
    kt_end = tl.minimum(kt_begin + per_split, k_tiles)

    q_ptrs = q_ptr + offs_n[:, None].to(tl.int64) * TK + offs_k[None, :]
    d_ptrs = d_ptr + offs_g[None, :].to(tl.int64) * stride_d + offs_n[:, None]
    d = tl.load(d_ptrs + tl.minimum(kt_begin, k_tiles - 1) * G * stride_d)
    x_ptrs = x_ptr + offs_m[None, :].to(tl.int64) * stride_xm + (kt_begin * BLOCK_K + k_of(offs_k))[:, None] * stride_xk

    if SWAP:
        acc = tl.full((BLOCK_N, BLOCK_M), 0.0, tl.float32)
    else:
        acc = tl.full((BLOCK_M, BLOCK_N), 0.0, tl.float32)
    for kt in range(kt_begin, kt_end):
        d_next = tl.load(d_ptrs + tl.minimum(kt + 1, kt_end - 1) * G * stride_d)
        q = tl.load(q_ptrs + _q_col(kt * BLOCK_K, stride_qt, TK))
        x = tl.load(x_ptrs, mask=m_mask, other=0.0)
        w = _decode(q, DOT, DECODE)
        f = _block_factor(d, DOT, DECODE, DOT)
        w = tl.reshape(tl.reshape(w, (BLOCK_N, G, 32)) * f[:, :, None], (BLOCK_N, BLOCK_K))
        if SWAP:
            acc = tl.dot(w, x.to(DOT), acc)
        else:
            acc = tl.dot(tl.trans(x.to(DOT)), tl.trans(w), acc)
        x_ptrs += BLOCK_K * stride_xk
        d = d_next

    if not SWAP:
        acc = tl.trans(acc)
    if SPLIT_K == 1:
        _epilogue(acc, rs, shift, y_ptr, offs_n, offs_m, M, N, stride_ym, HAS_BIAS)
    else:
        tile = pid_m * tiles_n + pid_n
        offs_tile = tl.arange(0, BLOCK_N)[:, None] * BLOCK_M + tl.arange(0, BLOCK_M)[None, :]
        tile_ws = ws_ptr + tile.to(tl.int64) * (SPLIT_K * BLOCK_N * BLOCK_M)
        tl.store(tile_ws + pid_k * (BLOCK_N * BLOCK_M) + offs_tile, acc)
        # Every thread's partial is stored before one thread releases the counter.
        tl.debug_barrier()
        arrived = tl.atomic_add(cnt_ptr + tile, 1, sem="acq_rel", scope="gpu")
        if arrived == SPLIT_K - 1:
            total = tl.full((BLOCK_N, BLOCK_M), 0.0, tl.float32)
            for s in range(SPLIT_K):
                total += tl.load(tile_ws + s * (BLOCK_N * BLOCK_M) + offs_tile, cache_modifier=".cg")
            tl.store(cnt_ptr + tile, 0)
            _epilogue(total, rs, shift, y_ptr, offs_n, offs_m, M, N, stride_ym, HAS_BIAS)


@triton.jit
def row_terms(rs_ptr, bias_ptr, offs_n, N, HAS_BIAS: tl.constexpr):
    """The row scales and the bias (float32; the row scales again without a bias, unused)
    of weight rows ``offs_n``, loaded as a program starts so that their round trip to
    memory overlaps the main loop instead of following it."""
    rows_n = tl.minimum(offs_n, N - 1)
    rs = tl.load(rs_ptr + rows_n)
    shift = rs
    if HAS_BIAS:
        shift = tl.load(bias_ptr + rows_n).to(tl.float32)
    return rs, shift


@triton.jit
def _epilogue(acc, rs, shift, y_ptr, offs_n, offs_m, M, N, stride_ym, HAS_BIAS: tl.constexpr):
    out = acc * rs[:, None]
    if HAS_BIAS:
        out += shift[:, None]
    y_ptrs = y_ptr + offs_m[None, :].to(tl.int64) * stride_ym + offs_n[:, None]
    mask = (offs_m[None, :] < M) & (offs_n[:, None] < N)
    tl.store(y_ptrs, out.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def mx_dequantize(q_ptr, d_ptr, rs_ptr, w_ptr, N0, N, K, stride_qt, stride_d, TK: tl.constexpr, BLOCK_N: tl.constexpr,
                  BLOCK_K: tl.constexpr, DECODE: tl.constexpr, DOT: tl.constexpr):
    """``w[: N - N0, K] = W[N0:N]`` (row-major) in ``w``'s dtype, for the large-M
    dequantize-then-cuBLAS path. BLOCK_K divides TK."""
    G: tl.constexpr = BLOCK_K // 32
    offs_n = N0 + tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    rows_n = tl.minimum(offs_n, N - 1)
    kt = tl.program_id(1)
    offs_k = kt * BLOCK_K + tl.arange(0, BLOCK_K)
    k0 = kt * BLOCK_K
    q = tl.load(q_ptr + offs_n[:, None].to(tl.int64) * TK + (_q_col(k0, stride_qt, TK) + tl.arange(0, BLOCK_K))[None, :])
    q = in_k_order(q)
    d = tl.load(d_ptr + (k0 // 32 + tl.arange(0, G))[None, :].to(tl.int64) * stride_d + offs_n[:, None])
    w = _decode(q, DOT, DECODE).to(tl.float32)
    f = _block_factor(d, DOT, DECODE, tl.float32) * tl.load(rs_ptr + rows_n)[:, None]
    w = tl.reshape(tl.reshape(w, (BLOCK_N, G, 32)) * f[:, :, None], (BLOCK_N, BLOCK_K))
    mask = (offs_n[:, None] < N) & (offs_k[None, :] < K)
    tl.store(w_ptr + (offs_n - N0)[:, None].to(tl.int64) * K + offs_k[None, :], w.to(w_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _gemv_row(acc, w, f, x_ptrs, offs_kk, m: tl.constexpr, M, stride_xm):
    """``acc[n, g] += f[n, g] * sum_e w[n, g, e] * x[m, g, e]`` (float32; x row m past M is 0)."""
    x = tl.load(x_ptrs + m * stride_xm, mask=offs_kk * 0 + m < M, other=0.0).to(tl.float32)
    return acc + tl.sum(w * x[None, :, :], axis=2, keep_dims=True) * f[:, :, None]


@triton.jit
def _gemv_load(q_ptrs, d_ptrs, kt, stride_qt, stride_d, TK: tl.constexpr, BLOCK_K: tl.constexpr):
    """K tile ``kt``'s e4m3 bytes and scale bytes for ``mx_w8a16_gemv``."""
    return tl.load(q_ptrs + _q_col(kt * BLOCK_K, stride_qt, TK)), tl.load(d_ptrs + kt * (BLOCK_K // 32) * stride_d)


@triton.jit
def _gemv_tile(acc0, acc1, acc2, acc3, q, d, x_ptrs, offs_kk, M, stride_xm, BLOCK_M: tl.constexpr,
               DECODE: tl.constexpr):
    """One K tile (e4m3 bytes ``q``, scale bytes ``d``) into the accumulators of the first
    ``BLOCK_M`` activation rows."""
    w = _decode(in_k_order(q), tl.float16, DECODE).to(tl.float32)
    f = _block_factor(d, tl.float16, DECODE, tl.float32)
    acc0 = _gemv_row(acc0, w, f, x_ptrs, offs_kk, 0, M, stride_xm)
    if BLOCK_M > 1:
        acc1 = _gemv_row(acc1, w, f, x_ptrs, offs_kk, 1, M, stride_xm)
    if BLOCK_M > 2:
        acc2 = _gemv_row(acc2, w, f, x_ptrs, offs_kk, 2, M, stride_xm)
        acc3 = _gemv_row(acc3, w, f, x_ptrs, offs_kk, 3, M, stride_xm)
    return acc0, acc1, acc2, acc3


@triton.jit
def _gemv_store(acc, rs, shift, y_ptr, offs_n, m: tl.constexpr, M, N, stride_ym, HAS_BIAS: tl.constexpr):
    out = tl.sum(tl.sum(acc, axis=2), axis=1) * rs
    if HAS_BIAS:
        out += shift
    tl.store(y_ptr + m * stride_ym + offs_n, out.to(y_ptr.dtype.element_ty), mask=(offs_n < N) & (offs_n * 0 + m < M))


@triton.jit(do_not_specialize=["M"])
def mx_w8a16_gemv(
    x_ptr, q_ptr, d_ptr, rs_ptr, bias_ptr, y_ptr,
    M, N, K,
    stride_xm, stride_ym, stride_qt, stride_d,
    HAS_BIAS: tl.constexpr, TK: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, DECODE: tl.constexpr,
    PAIRS: tl.constexpr,
):
    """``y[M, N] = x[M, K] @ W[N, K].T (+ bias)`` for M <= BLOCK_M <= 4, on the CUDA cores.

    No tensor cores, no shared memory, no split-K: each program streams ``BLOCK_N`` whole
    weight rows (so the grid is ``cdiv(N, BLOCK_N)`` and the sum over K has one fixed order,
    deterministic). Per K tile the e4m3 bytes, viewed as ``[BLOCK_N, G, 32]`` (one MX block
    per innermost row), are loaded straight into registers (16-byte loads; latency is
    hidden by the other programs on the SM), decoded to float32 (exactly: ``_decode`` to
    fp16, then a widening convert), multiplied by the activations and summed per block in
    float32; each block sum is multiplied by its ``2**-d`` factor (exact, a power of two)
    and added to a ``[BLOCK_N, G]`` accumulator that is summed over G once, in the
    epilogue, then scaled by the row scale. ``x`` must be contiguous along K. ``PAIRS``:
    two K tiles a step, both loaded before either is used (``Config.k_pairs``).
    """
    G: tl.constexpr = BLOCK_K // 32
    offs_n = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    rs, shift = row_terms(rs_ptr, bias_ptr, offs_n, N, HAS_BIAS)
    offs_kk = tl.arange(0, G)[:, None] * 32 + tl.arange(0, 32)[None, :]  # [G, 32]
    q_ptrs = q_ptr + offs_n[:, None, None].to(tl.int64) * TK + offs_kk[None, :, :]
    d_ptrs = d_ptr + tl.arange(0, G)[None, :].to(tl.int64) * stride_d + offs_n[:, None]
    x_ptrs = x_ptr + offs_kk  # x is contiguous along K
    k_tiles = K // BLOCK_K

    acc0 = tl.full((BLOCK_N, G, 1), 0.0, tl.float32)
    acc1 = acc0
    acc2 = acc0
    acc3 = acc0
    # The weight streams from DRAM straight into registers: the loads in flight are all
    # that hides its latency, so PAIRS loads two K tiles before using either.
    step: tl.constexpr = 2 if PAIRS else 1
    for kt in range(0, k_tiles - (step - 1), step):
        q, d = _gemv_load(q_ptrs, d_ptrs, kt, stride_qt, stride_d, TK, BLOCK_K)
        if PAIRS:
            q_next, d_next = _gemv_load(q_ptrs, d_ptrs, kt + 1, stride_qt, stride_d, TK, BLOCK_K)
        acc0, acc1, acc2, acc3 = _gemv_tile(acc0, acc1, acc2, acc3, q, d, x_ptrs, offs_kk, M, stride_xm,
                                            BLOCK_M, DECODE)
        if PAIRS:
            acc0, acc1, acc2, acc3 = _gemv_tile(acc0, acc1, acc2, acc3, q_next, d_next, x_ptrs + BLOCK_K, offs_kk,
                                                M, stride_xm, BLOCK_M, DECODE)
        x_ptrs += step * BLOCK_K
    if PAIRS and k_tiles % 2:
        q, d = _gemv_load(q_ptrs, d_ptrs, k_tiles - 1, stride_qt, stride_d, TK, BLOCK_K)
        acc0, acc1, acc2, acc3 = _gemv_tile(acc0, acc1, acc2, acc3, q, d, x_ptrs, offs_kk, M, stride_xm,
                                            BLOCK_M, DECODE)

    _gemv_store(acc0, rs, shift, y_ptr, offs_n, 0, M, N, stride_ym, HAS_BIAS)
    if BLOCK_M > 1:
        _gemv_store(acc1, rs, shift, y_ptr, offs_n, 1, M, N, stride_ym, HAS_BIAS)
    if BLOCK_M > 2:
        _gemv_store(acc2, rs, shift, y_ptr, offs_n, 2, M, N, stride_ym, HAS_BIAS)
        _gemv_store(acc3, rs, shift, y_ptr, offs_n, 3, M, N, stride_ym, HAS_BIAS)
