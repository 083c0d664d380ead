"""Hopper (sm_90) kernels for the marlin plugin in Triton's Gluon dialect: every tile
(weights, activations, scale bytes) by TMA into a ring of ``STAGES`` shared buffers, and
the weight tile decoded from shared memory straight into the wgmma A-operand registers.
``mx_w8a16_wgmma``: one or two warpgroups in step, for M <= 128. ``mx_w8a16_wgmma_ws``:
warp-specialized (a loader warp, consumer warpgroups taking turns), for larger M; past one
wave persistent (one program per SM takes tile after tile).

``mx_w8a16_wgmma`` waits for each wgmma before decoding the next tile.
``mx_w8a16_wgmma_ws`` decodes the next tile while the wgmma runs, and waits for it before
issuing the next: no wgmma is ever left in flight across a decode into the registers it
reads. Round 16 issued the next wgmma first (one left in flight), and ptxas then decoded
the next tile into the A-operand registers of the wgmma still running, which corrupted
outputs on the H100 (bench/notes_marlin.md, rounds 16e and 18). ptxas does not keep those
registers reserved across a loop's back edge, so ``tools/sass_check.py`` checks the
compiled code of every variant the table uses for that hazard.

Same packed format as ``_triton.py`` (``q [K/TK, NP, TK]``, ``d [K/32, NP]``, ``rs [N]``), each
MX block's bytes in the order a thread of the wgmma A operand reads them (``packing.K_BITS``).
Imported only on sm_90 GPUs with Triton 3.6.x (Gluon's API is tied to the release), and
used (unless ``kernel.GLUON`` is off) in the benchmarked shapes (``configs.WGMMA_TABLE``,
``configs.pingpong_for``; ``kernel._wgmma`` refuses other tile shapes).
"""

from __future__ import annotations

import functools

from triton.experimental import gluon
from triton.experimental.gluon import language as gl
from triton.experimental.gluon.language.nvidia.hopper import (fence_async_shared, mbarrier, tma, warpgroup_mma,
                                                              warpgroup_mma_wait)
from triton.experimental.gluon.nvidia.hopper import TensorDescriptor

from ._triton import _ASM_FP16_BITS_TO_BF16, row_terms, tile_order
from .packing import K_BITS, TO_K_ORDER

# The Triton kernels' program order and row-scale/bias loads, in Gluon.
_tile_order = gluon.jit(tile_order.fn)
_row_terms = gluon.jit(row_terms.fn)

PINGPONG_ROWS = 64  # weight rows of one consumer warpgroup of mx_w8a16_wgmma_ws


@gluon.jit
def _program_tile(pid, M, N, K, FULL_TILES, SPLIT_K, SKEW, BLOCK_M: gl.constexpr, BLOCK_N: gl.constexpr,
                  BLOCK_K: gl.constexpr, GROUP_N: gl.constexpr):
    """Work unit ``pid``'s output tile and its share of K: the first ``FULL_TILES`` units
    are one tile each with all of K; each later tile is split into ``SPLIT_K`` runs of K
    tiles (the host leaves no run empty), split-major as a ``(tiles, SPLIT_K)`` grid would
    order them; the first run hands its last ``SKEW`` K tiles to the second (so that it
    finishes, and stores its partial for the split-K fix-up, before the second). Returns
    (the tile's index among the split ones (its split-K slot), the split count of the
    tile, first weight row, first activation row, split index, first K tile, K tile
    count)."""
    whole = pid < FULL_TILES
    q = gl.maximum(pid - FULL_TILES, 0)
    split_tiles = gl.maximum(gl.cdiv(M, BLOCK_M) * gl.cdiv(N, BLOCK_N) - FULL_TILES, 1)
    slot = q % split_tiles
    pid_k = q // split_tiles
    splits = gl.where(whole, 1, SPLIT_K)
    pid_m, pid_n, tiles_n = _tile_order(gl.where(whole, pid, FULL_TILES + slot), M, N, BLOCK_M, BLOCK_N, GROUP_N)
    per_split = (K // BLOCK_K + splits - 1) // splits
    skew = gl.where(splits > 1, SKEW, 0)
    kt_begin = pid_k * per_split - gl.where(pid_k == 1, skew, 0)
    count = gl.minimum((pid_k + 1) * per_split - gl.where(pid_k == 0, skew, 0), K // BLOCK_K) - kt_begin
    return slot, splits, pid_n * BLOCK_N, pid_m * BLOCK_M, pid_k, kt_begin, count


@gluon.jit
def _decode_scaled(q, f, BLOCK_N: gl.constexpr, BLOCK_K: gl.constexpr, DOT: gl.constexpr):
    """e4m3 bytes ``q [BLOCK_N, BLOCK_K]`` (any layout) times the per-32-block factors ``f``
    (``[BLOCK_N, BLOCK_K // 32, 1]``, DOT) -> DOT values in ``q``'s layout."""
    h = q.to(gl.float8e4nv, bitcast=True).to(gl.float16)
    if DOT == gl.bfloat16:
        w = gl.inline_asm_elementwise(_ASM_FP16_BITS_TO_BF16, "=r,r", [h], dtype=gl.bfloat16, is_pure=True, pack=2)
    else:
        w = h
    w3 = gl.reshape(w, [BLOCK_N, BLOCK_K // 32, 32]) * f
    return gl.convert_layout(gl.reshape(w3, [BLOCK_N, BLOCK_K]), q.type.layout, assert_trivial=True)


@gluon.jit
def _factor_layout(a_layout: gl.constexpr, BLOCK_N: gl.constexpr, BLOCK_K: gl.constexpr):
    """A ``[BLOCK_N, BLOCK_K // 32, 32]`` tensor in the layout of the decoded tile viewed per
    MX block (only its layout is used)."""
    probe = gl.reshape(gl.full([BLOCK_N, BLOCK_K], 0, gl.uint8, a_layout), [BLOCK_N, BLOCK_K // 32, 32])
    return probe


@gluon.jit
def _rows8_layout(f_layout: gl.constexpr, BLOCK_N: gl.constexpr, G: gl.constexpr):
    """A ``[BLOCK_N, 8]`` tensor whose layout ``_first_groups`` cuts to ``f_layout`` (the
    inverse of that cut applied to a probe; only its layout is used)."""
    probe = gl.full([BLOCK_N, G], 0, gl.uint8, f_layout)
    if G < 8:
        probe = gl.join(probe, probe)  # the highest bit of the other rows' index first
        if G < 4:
            probe = gl.join(probe, probe)
        if G < 2:
            probe = gl.join(probe, probe)
        probe = gl.reshape(gl.permute(gl.reshape(probe, [BLOCK_N, G, 8 // G]), (0, 2, 1)), [BLOCK_N, 8])
    return probe


@gluon.jit
def _first_groups(d8, BLOCK_N: gl.constexpr, G: gl.constexpr):
    """``d8[:, :G]`` of a ``[BLOCK_N, 8]`` register tensor (G = 1, 2, 4 or 8), without data
    movement: row ``a * G + g`` of the scale tile is block ``g`` of K tile ``a``; the index
    ``a`` is cut off one bit at a time, lowest first."""
    if G < 8:
        d = gl.permute(gl.reshape(d8, [BLOCK_N, 8 // G, G]), (0, 2, 1))  # [BLOCK_N, G, 8 // G]
        if G < 2:
            d, _ = gl.split(gl.reshape(d, [BLOCK_N, G, 4, 2]))
        if G < 4:
            d, _ = gl.split(gl.reshape(d, [BLOCK_N, G, 2, 2]))
        d8, _ = gl.split(d)
    return d8


# The packing's order within an MX block as _stored_order uses it: packing.K_BITS, a k bit ->
# the position bit holding it, and packing.TO_K_ORDER.
_K_BITS = gl.constexpr(K_BITS)
_POSITION_BIT = gl.constexpr(tuple(K_BITS.index(b) for b in range(5)))
_TO_K_ORDER = gl.constexpr(list(TO_K_ORDER))


@gluon.constexpr_function
def _stored_order(lin):
    """How a thread reads its share of the weight tile in stored order (``packing.K_BITS``),
    for the A-operand layout ``lin`` (a DistributedLinearLayout on ``[BLOCK_N, BLOCK_K]``):
    (the layout that reads the stored tile with the fragment's k registers first, so that
    each thread's 8 bytes of an MX block are one load; the same registers on the logical
    tile; the permutation of the stored tile, viewed ``[BLOCK_N, BLOCK_K // 32, 2, 2, 2, 2,
    2]``, that gives the logical one)."""
    k_regs = [b[1] for b in lin.reg_bases if b[0] == 0 and 0 < b[1] < 32]
    k_lanes = [b[1] for b in lin.lane_bases if b[0] == 0 and 0 < b[1] < 32]
    k_bits = tuple((v.bit_length() - 1) for v in k_regs + k_lanes)
    if k_bits != _K_BITS.value:
        raise ValueError(f"the A-operand layout holds k bits {k_bits}, the packing stores {_K_BITS.value}")

    def in_store(base):
        in_block = base[0] == 0 and 0 < base[1] < 32
        return [0, 1 << _POSITION_BIT.value[base[1].bit_length() - 1]] if in_block else base

    regs = [[0, v] for v in k_regs] + [b for b in lin.reg_bases if not (b[0] == 0 and 0 < b[1] < 32)]
    stored = gl.DistributedLinearLayout([in_store(b) for b in regs], [in_store(b) for b in lin.lane_bases],
                                        lin.warp_bases, lin.block_bases, lin.shape)
    logical = gl.DistributedLinearLayout(regs, lin.lane_bases, lin.warp_bases, lin.block_bases, lin.shape)
    return stored, logical, _TO_K_ORDER.value


@gluon.jit
def _decode_stage(w_buf, d_buf, BLOCK_N: gl.constexpr, BLOCK_K: gl.constexpr, DOT: gl.constexpr,
                  a_layout: gl.constexpr, f_layout: gl.constexpr):
    """The weight tile in shared memory (e4m3 bytes ``w_buf``, scale bytes ``d_buf``),
    decoded and scaled into the wgmma A-operand registers (``a_layout``)."""
    plan: gl.constexpr = _stored_order(gl.to_linear_layout(a_layout, [BLOCK_N, BLOCK_K]))
    s = w_buf.load(plan[0])
    # Moving the 8-byte runs into k order renames registers only.
    s = gl.permute(gl.reshape(s, [BLOCK_N, BLOCK_K // 32, 2, 2, 2, 2, 2]), plan[2])
    q = gl.convert_layout(gl.reshape(s, [BLOCK_N, BLOCK_K]), plan[1], assert_trivial=True)
    q = gl.convert_layout(q, a_layout)
    # TMA brings 8 scale rows (the tile's G and the next tile's): fewer rows would get an
    # unswizzled NVMMA layout, which Triton 3.6 reads from other places than TMA writes.
    d8 = d_buf.permute((1, 0)).load(_rows8_layout(f_layout, BLOCK_N, BLOCK_K // 32).type.layout)
    d = gl.convert_layout(_first_groups(d8, BLOCK_N, BLOCK_K // 32), f_layout, assert_trivial=True)
    e = 239 - d.to(gl.int32) if DOT == gl.bfloat16 else 127 - d.to(gl.int32)
    f = gl.where(e > 0, e << 23, 0).to(gl.float32, bitcast=True).to(DOT)
    return _decode_scaled(q, gl.expand_dims(f, 2), BLOCK_N, BLOCK_K, DOT)


@gluon.jit
def _issue(w_desc, x_desc, d_desc, bar, w_buf, x_buf, d_buf, kt, n0, m0, NP, TK: gl.constexpr,
           BLOCK_K: gl.constexpr, pred):
    """Start the TMA loads of K tile ``kt`` (weights, activations, scale bytes) into one stage."""
    k0 = kt * BLOCK_K
    nbytes: gl.constexpr = w_desc.block_type.nbytes + x_desc.block_type.nbytes + d_desc.block_type.nbytes
    mbarrier.expect(bar, nbytes, pred=pred)
    tma.async_copy_global_to_shared(w_desc, [(k0 // TK) * NP + n0, k0 % TK], bar, w_buf, pred=pred)
    tma.async_copy_global_to_shared(x_desc, [m0, k0], bar, x_buf, pred=pred)
    tma.async_copy_global_to_shared(d_desc, [k0 // 32, n0], bar, d_buf, pred=pred)


@gluon.jit
def _step(acc, w_desc, x_desc, d_desc, bars, w_bufs, x_bufs, d_bufs, i, kt_begin, count, n0, m0, NP,
          TK: gl.constexpr, BLOCK_N: gl.constexpr, BLOCK_K: gl.constexpr, STAGES: gl.constexpr,
          DOT: gl.constexpr, a_layout: gl.constexpr, f_layout: gl.constexpr, USE_ACC: gl.constexpr):
    """K tile ``i`` of this program: decode it, run its wgmma and wait for it, refill the
    stage of tile ``i - 1`` with tile ``i - 1 + STAGES``."""
    stage = i % STAGES
    mbarrier.wait(bars.index(stage), (i // STAGES) & 1)
    w = _decode_stage(w_bufs.index(stage), d_bufs.index(stage), BLOCK_N, BLOCK_K, DOT, a_layout, f_layout)
    acc = warpgroup_mma(w, x_bufs.index(stage).permute((1, 0)), acc, use_acc=USE_ACC, is_async=True)
    acc, w = warpgroup_mma_wait(num_outstanding=0, deps=(acc, w))
    # Every warp is past the wgmma that read the stage to refill.
    gl.thread_barrier()
    nxt = i - 1 + STAGES
    ns = nxt % STAGES
    _issue(w_desc, x_desc, d_desc, bars.index(ns), w_bufs.index(ns), x_bufs.index(ns), d_bufs.index(ns),
           kt_begin + nxt, n0, m0, NP, TK, BLOCK_K, nxt < count)
    return acc


@gluon.jit(do_not_specialize=["M", "FULL_TILES", "SPLIT_K", "SKEW"])
def mx_w8a16_wgmma(
    x_desc, w_desc, d_desc, rs_ptr, bias_ptr, y_ptr, ws_ptr, cnt_ptr,
    M, N, K, NP, stride_ym,
    HAS_BIAS: gl.constexpr, TK: gl.constexpr,
    BLOCK_M: gl.constexpr, BLOCK_N: gl.constexpr, BLOCK_K: gl.constexpr,
    FULL_TILES, SPLIT_K, SKEW, GROUP_N: gl.constexpr, STAGES: gl.constexpr, DOT: gl.constexpr, num_warps: gl.constexpr,
):
    """``y[M, N] = x[M, K] @ W[N, K].T (+ bias)``: ``acc[BLOCK_N, BLOCK_M] = W_tile @ x_tile.T``
    per program, the decoded weights as the wgmma's A operand from registers. Split-K as in
    ``_triton.mx_w8a16_gemm`` (float32 partials, the last program of a tile sums them in
    a fixed order), for the tiles past the first ``FULL_TILES`` (``_program_tile``; a 1-D
    grid of ``FULL_TILES + (tiles - FULL_TILES) * SPLIT_K`` programs). The scale bytes
    come by TMA with the tile: a plain load still in flight would hold up the release
    fence of every refill."""
    slot, splits, n0, m0, pid_k, kt_begin, count = _program_tile(gl.program_id(0), M, N, K, FULL_TILES, SPLIT_K, SKEW,
                                                                 BLOCK_M, BLOCK_N, BLOCK_K, GROUP_N)

    mma: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[num_warps, 1],
                                                  instr_shape=[16, BLOCK_M, 16])
    offs_n = n0 + gl.arange(0, BLOCK_N, layout=gl.SliceLayout(1, mma))
    rs, shift = _row_terms(rs_ptr, bias_ptr, offs_n, N, HAS_BIAS)
    a_layout: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=mma, k_width=2)
    f_layout: gl.constexpr = gl.SliceLayout(2, _factor_layout(a_layout, BLOCK_N, BLOCK_K).type.layout)

    w_bufs = gl.allocate_shared_memory(gl.uint8, [STAGES, BLOCK_N, BLOCK_K], w_desc.layout)
    x_bufs = gl.allocate_shared_memory(x_desc.dtype, [STAGES, BLOCK_M, BLOCK_K], x_desc.layout)
    gl.static_assert(BLOCK_K <= 256, "a K tile holds at most 8 MX blocks (one scale tile)")
    d_bufs = gl.allocate_shared_memory(gl.uint8, [STAGES, 8, BLOCK_N], d_desc.layout)
    bars = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    for s in gl.static_range(STAGES):
        mbarrier.init(bars.index(s), count=1)
    # The barriers were initialised through the generic proxy; TMA completes them through
    # the async proxy, which must see the initialisation first.
    fence_async_shared()
    for s in gl.static_range(STAGES - 1):
        _issue(w_desc, x_desc, d_desc, bars.index(s), w_bufs.index(s), x_bufs.index(s), d_bufs.index(s),
               kt_begin + s, n0, m0, NP, TK, BLOCK_K, s < count)

    # The first K tile is peeled off the loop: no path from a wgmma to its wait may set
    # the accumulator by other instructions (ptxas would serialize every wgmma), and the
    # host gives every split at least one K tile.
    acc = gl.zeros([BLOCK_N, BLOCK_M], gl.float32, mma)
    acc = _step(acc, w_desc, x_desc, d_desc, bars, w_bufs, x_bufs, d_bufs, 0, kt_begin, count, n0, m0, NP,
                TK, BLOCK_N, BLOCK_K, STAGES, DOT, a_layout, f_layout, False)
    for i in range(1, count):
        acc = _step(acc, w_desc, x_desc, d_desc, bars, w_bufs, x_bufs, d_bufs, i, kt_begin, count, n0, m0, NP,
                    TK, BLOCK_N, BLOCK_K, STAGES, DOT, a_layout, f_layout, True)
    for s in gl.static_range(STAGES):
        mbarrier.invalidate(bars.index(s))

    if splits == 1:
        _epilogue(acc, rs, shift, y_ptr, n0, m0, M, N, stride_ym, HAS_BIAS, num_warps)
    else:
        _split_k_fixup(acc, slot, pid_k, splits, ws_ptr, cnt_ptr, rs, shift, y_ptr, n0, m0, M, N, stride_ym,
                       HAS_BIAS, BLOCK_N, BLOCK_M, mma, num_warps, 0)


@gluon.jit
def _units(M, N, FULL_TILES, SPLIT_K, BLOCK_M: gl.constexpr, BLOCK_N: gl.constexpr):
    """Work units of a launch (``_program_tile``): the whole tiles, then the split ones' runs."""
    return FULL_TILES + (gl.cdiv(M, BLOCK_M) * gl.cdiv(N, BLOCK_N) - FULL_TILES) * SPLIT_K


@gluon.jit
def _ws_load(w_desc, x_desc, d_desc, ready, empty, w_bufs, x_bufs, d_bufs, M, N, K, NP, FULL_TILES, SPLIT_K, SKEW,
             TK: gl.constexpr, BLOCK_M: gl.constexpr, BLOCK_K: gl.constexpr, STAGES: gl.constexpr,
             CONSUMERS: gl.constexpr, GROUP_N: gl.constexpr, PERSISTENT: gl.constexpr):
    """The loader warp of ``mx_w8a16_wgmma_ws``: its work unit, or (``PERSISTENT``) one unit
    after another, the stage ring running on across them."""
    BLOCK_N: gl.constexpr = w_desc.block_type.shape[0] * CONSUMERS
    if PERSISTENT:
        base = 0
        for unit in range(gl.program_id(0), _units(M, N, FULL_TILES, SPLIT_K, BLOCK_M, BLOCK_N), gl.num_programs(0)):
            base = _ws_load_unit(w_desc, x_desc, d_desc, ready, empty, w_bufs, x_bufs, d_bufs, unit, base, M, N, K,
                                 NP, FULL_TILES, SPLIT_K, SKEW, TK, BLOCK_M, BLOCK_K, STAGES, CONSUMERS, GROUP_N)
    else:
        _ws_load_unit(w_desc, x_desc, d_desc, ready, empty, w_bufs, x_bufs, d_bufs, gl.program_id(0), 0, M, N, K, NP,
                      FULL_TILES, SPLIT_K, SKEW, TK, BLOCK_M, BLOCK_K, STAGES, CONSUMERS, GROUP_N)


@gluon.jit
def _ws_load_unit(w_desc, x_desc, d_desc, ready, empty, w_bufs, x_bufs, d_bufs, unit, base, M, N, K, NP, FULL_TILES,
                  SPLIT_K, SKEW, TK: gl.constexpr, BLOCK_M: gl.constexpr, BLOCK_K: gl.constexpr, STAGES: gl.constexpr,
                  CONSUMERS: gl.constexpr, GROUP_N: gl.constexpr):
    """Work unit ``unit``, the ring's uses ``base`` (a multiple of STAGES) onwards: each K
    tile's activations, and per consumer its 64 weight rows and their scale bytes, by TMA
    into the next free stage. Returns the ring's next use."""
    HALF: gl.constexpr = w_desc.block_type.shape[0]
    _, _, n0, m0, _, kt_begin, count = _program_tile(unit, M, N, K, FULL_TILES, SPLIT_K, SKEW, BLOCK_M,
                                                     HALF * CONSUMERS, BLOCK_K, GROUP_N)
    nbytes: gl.constexpr = x_desc.block_type.nbytes + CONSUMERS * (w_desc.block_type.nbytes + d_desc.block_type.nbytes)
    parity = (base // STAGES) & 1
    for i in range(count):
        s = i % STAGES
        # A stage is free again once every consumer has arrived on it (from its second use).
        mbarrier.wait(empty.index(s), (((i // STAGES) + 1) & 1) ^ parity, pred=(i >= STAGES) | (base > 0))
        k0 = (kt_begin + i) * BLOCK_K
        bar = ready.index(s)
        mbarrier.expect(bar, nbytes)
        tma.async_copy_global_to_shared(x_desc, [m0, k0], bar, x_bufs.index(s))
        for c in gl.static_range(CONSUMERS):
            tma.async_copy_global_to_shared(w_desc, [(k0 // TK) * NP + n0 + c * HALF, k0 % TK], bar,
                                            w_bufs.index(s * CONSUMERS + c))
            tma.async_copy_global_to_shared(d_desc, [k0 // 32, n0 + c * HALF], bar, d_bufs.index(s * CONSUMERS + c))
    return base + count


@gluon.jit
def _ws_decode(w_bufs, d_bufs, ready, i, parity, C: gl.constexpr, CONSUMERS: gl.constexpr, HALF: gl.constexpr,
               BLOCK_K: gl.constexpr, STAGES: gl.constexpr, DOT: gl.constexpr, a_layout: gl.constexpr,
               f_layout: gl.constexpr):
    """K tile ``i`` of consumer ``C``'s unit: its weight rows, decoded once their stage has
    landed (``parity``: of the ring's passes before the unit)."""
    s = i % STAGES
    mbarrier.wait(ready.index(s), ((i // STAGES) & 1) ^ parity)
    return _decode_stage(w_bufs.index(s * CONSUMERS + C), d_bufs.index(s * CONSUMERS + C), HALF, BLOCK_K, DOT,
                         a_layout, f_layout)


@gluon.jit
def _ws_issue(acc, w, x_bufs, turns, i, later, C: gl.constexpr, CONSUMERS: gl.constexpr, STAGES: gl.constexpr,
              USE_ACC: gl.constexpr):
    """Start the wgmma of K tile ``i`` (decoded weights ``w``) when consumer ``C``'s turn
    comes (``later``: not the program's first unit; every unit has an even K tile count)."""
    if CONSUMERS == 2:
        # Take turns issuing (consumer 0 tile 0, consumer 1 tile 0, consumer 0 tile 1, ...),
        # so that the tensor cores alternate between the two consumers' tiles.
        if C == 0:
            mbarrier.wait(turns.index(0), (i - 1) & 1, pred=(i > 0) | later)
        else:
            mbarrier.wait(turns.index(1), i & 1)
    acc = warpgroup_mma(w, x_bufs.index(i % STAGES).permute((1, 0)), acc, use_acc=USE_ACC, is_async=True)
    if CONSUMERS == 2:
        mbarrier.arrive(turns.index(1 - C))
    return acc


@gluon.jit
def _ws_retire(acc, w, empty, i, STAGES: gl.constexpr):
    """Wait for the wgmma of K tile ``i`` (its A operand ``w`` stays reserved until then: it
    is read from registers while it runs) and release the tile's stage."""
    acc, w = warpgroup_mma_wait(num_outstanding=0, deps=(acc, w))
    gl.thread_barrier()  # this consumer's four warps are past the stage (a named barrier)
    mbarrier.arrive(empty.index(i % STAGES))
    return acc


@gluon.jit
def _ws_consume(x_bufs, w_bufs, d_bufs, ready, empty, turns, rs_ptr, bias_ptr, y_ptr, ws_ptr, cnt_ptr, M, N, K,
                stride_ym, FULL_TILES, SPLIT_K, SKEW, C: gl.constexpr, CONSUMERS: gl.constexpr, HAS_BIAS: gl.constexpr,
                HALF: gl.constexpr, BLOCK_M: gl.constexpr, BLOCK_K: gl.constexpr, STAGES: gl.constexpr,
                GROUP_N: gl.constexpr, PERSISTENT: gl.constexpr, SHARES: gl.constexpr):
    """Consumer ``C`` (one warpgroup) of ``mx_w8a16_wgmma_ws``: its work unit, or
    (``PERSISTENT``) one unit after another."""
    if PERSISTENT:
        base = 0
        for unit in range(gl.program_id(0), _units(M, N, FULL_TILES, SPLIT_K, BLOCK_M, HALF * CONSUMERS),
                          gl.num_programs(0)):
            base = _ws_consume_unit(x_bufs, w_bufs, d_bufs, ready, empty, turns, rs_ptr, bias_ptr, y_ptr, ws_ptr,
                                    cnt_ptr, unit, base, M, N, K, stride_ym, FULL_TILES, SPLIT_K, SKEW, C, CONSUMERS,
                                    HAS_BIAS, HALF, BLOCK_M, BLOCK_K, STAGES, GROUP_N, SHARES)
    else:
        _ws_consume_unit(x_bufs, w_bufs, d_bufs, ready, empty, turns, rs_ptr, bias_ptr, y_ptr, ws_ptr, cnt_ptr,
                         gl.program_id(0), 0, M, N, K, stride_ym, FULL_TILES, SPLIT_K, SKEW, C, CONSUMERS, HAS_BIAS,
                         HALF, BLOCK_M, BLOCK_K, STAGES, GROUP_N, SHARES)


@gluon.jit
def _ws_consume_unit(x_bufs, w_bufs, d_bufs, ready, empty, turns, rs_ptr, bias_ptr, y_ptr, ws_ptr, cnt_ptr, unit, base,
                     M, N, K, stride_ym, FULL_TILES, SPLIT_K, SKEW, C: gl.constexpr, CONSUMERS: gl.constexpr,
                     HAS_BIAS: gl.constexpr, HALF: gl.constexpr, BLOCK_M: gl.constexpr, BLOCK_K: gl.constexpr,
                     STAGES: gl.constexpr, GROUP_N: gl.constexpr, SHARES: gl.constexpr):
    """Consumer ``C`` on work unit ``unit`` (the ring's uses ``base`` onwards, a multiple
    of STAGES and even): weight rows ``n0 + C * HALF`` onwards of the tile, then their
    epilogue (or split-K partial). Returns the ring's next use.

    K tile i is decoded while the wgmma of tile i - 1 runs; that wgmma is waited for
    before tile i's is issued, so at most one runs at a time and the registers it reads
    are never written while it runs (round 16's kernel issued the next wgmma first, and
    its outputs went wrong: bench/notes_marlin.md, round 18)."""
    DOT: gl.constexpr = x_bufs.dtype
    slot, splits, n0, m0, pid_k, _, count = _program_tile(unit, M, N, K, FULL_TILES, SPLIT_K, SKEW, BLOCK_M,
                                                          HALF * CONSUMERS, BLOCK_K, GROUP_N)
    mma: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1], instr_shape=[16, BLOCK_M, 16])
    a_layout: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=mma, k_width=2)
    f_layout: gl.constexpr = gl.SliceLayout(2, _factor_layout(a_layout, HALF, BLOCK_K).type.layout)
    n_c = n0 + C * HALF
    offs_n = n_c + gl.arange(0, HALF, layout=gl.SliceLayout(1, mma))
    rs, shift = _row_terms(rs_ptr, bias_ptr, offs_n, N, HAS_BIAS)
    parity = (base // STAGES) & 1
    later = base > 0
    acc = gl.zeros([HALF, BLOCK_M], gl.float32, mma)
    # First K tile peeled off, as in mx_w8a16_wgmma (else ptxas serializes the wgmmas).
    w = _ws_decode(w_bufs, d_bufs, ready, 0, parity, C, CONSUMERS, HALF, BLOCK_K, STAGES, DOT, a_layout, f_layout)
    acc = _ws_issue(acc, w, x_bufs, turns, 0, later, C, CONSUMERS, STAGES, False)
    for i in range(1, count):
        w_next = _ws_decode(w_bufs, d_bufs, ready, i, parity, C, CONSUMERS, HALF, BLOCK_K, STAGES, DOT, a_layout,
                            f_layout)
        acc = _ws_retire(acc, w, empty, i - 1, STAGES)
        acc = _ws_issue(acc, w_next, x_bufs, turns, i, later, C, CONSUMERS, STAGES, True)
        w = w_next
    acc = _ws_retire(acc, w, empty, count - 1, STAGES)
    if splits == 1:
        _epilogue(acc, rs, shift, y_ptr, n_c, m0, M, N, stride_ym, HAS_BIAS, 4)
    else:
        _split_k_fixup(acc, slot * CONSUMERS + C, pid_k, splits, ws_ptr, cnt_ptr, rs, shift, y_ptr, n_c, m0, M, N,
                       stride_ym, HAS_BIAS, HALF, BLOCK_M, mma, 4, SHARES)
    return base + count


@gluon.jit(do_not_specialize=["M", "FULL_TILES", "SPLIT_K", "SKEW"])
def mx_w8a16_wgmma_ws(
    x_desc, w_desc, d_desc, rs_ptr, bias_ptr, y_ptr, ws_ptr, cnt_ptr,
    M, N, K, NP, stride_ym,
    HAS_BIAS: gl.constexpr, TK: gl.constexpr, BLOCK_M: gl.constexpr, BLOCK_K: gl.constexpr,
    FULL_TILES, SPLIT_K, SKEW, GROUP_N: gl.constexpr, STAGES: gl.constexpr, CONSUMERS: gl.constexpr,
    num_warps: gl.constexpr, PERSISTENT: gl.constexpr = False, CONSUMER_REGS: gl.constexpr = 232,
    SHARES: gl.constexpr = 0,
):
    """``mx_w8a16_wgmma`` for large M, warp-specialized: one loader warp fills the stages
    by TMA; ``CONSUMERS`` (1 or 2) warpgroups, each with its own 64 weight rows of the
    ``64 * CONSUMERS``-row tile, decode and multiply, each waiting for its own wgmma (one
    consumer compiles with the hazard of the module docstring, so the host launches two:
    round 23). Two
    consumers take turns issuing their wgmmas (``turns``), so one decodes while the
    other's wgmma runs: the overlap that a wgmma left in flight was meant to give, without
    leaving one in flight (see the module docstring). The loader refills a stage once
    every consumer has released it. Split-K and the work units as in ``mx_w8a16_wgmma``:
    program ``p`` takes unit ``p``, or with ``PERSISTENT`` (a grid of at most one program
    per SM) units ``p``, ``p + grid``, ... with the stage ring running on from one to the
    next, so that a unit's first stages load while the consumers finish the last one. The
    host guarantees that each unit's K tile count is a multiple of STAGES and even, so
    that every unit starts the ring (and the turns) at stage 0 and an even turn."""
    gl.static_assert(num_warps == 4, "the default partition is consumer 0, one warpgroup")
    HALF: gl.constexpr = w_desc.block_type.shape[0]

    x_bufs = gl.allocate_shared_memory(x_desc.dtype, [STAGES, BLOCK_M, BLOCK_K], x_desc.layout)
    w_bufs = gl.allocate_shared_memory(gl.uint8, [STAGES * CONSUMERS, HALF, BLOCK_K], w_desc.layout)
    gl.static_assert(BLOCK_K <= 256, "a K tile holds at most 8 MX blocks (one scale tile)")
    d_bufs = gl.allocate_shared_memory(gl.uint8, [STAGES * CONSUMERS, 8, HALF], d_desc.layout)
    ready = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    empty = gl.allocate_shared_memory(gl.int64, [STAGES, 1], mbarrier.MBarrierLayout())
    turns = gl.allocate_shared_memory(gl.int64, [2, 1], mbarrier.MBarrierLayout())
    for s in gl.static_range(STAGES):
        mbarrier.init(ready.index(s), count=1)
        mbarrier.init(empty.index(s), count=CONSUMERS)
    for c in gl.static_range(2):
        mbarrier.init(turns.index(c), count=1)
    fence_async_shared()

    # (Argument tuples written out: constexprs in a tuple built by concatenation arrive as tensors.)
    if CONSUMERS == 2:
        gl.warp_specialize([
            (_ws_consume, (x_bufs, w_bufs, d_bufs, ready, empty, turns, rs_ptr, bias_ptr, y_ptr, ws_ptr, cnt_ptr, M, N,
                           K, stride_ym, FULL_TILES, SPLIT_K, SKEW, 0, CONSUMERS, HAS_BIAS, HALF, BLOCK_M, BLOCK_K,
                           STAGES, GROUP_N, PERSISTENT, SHARES)),
            (_ws_consume, (x_bufs, w_bufs, d_bufs, ready, empty, turns, rs_ptr, bias_ptr, y_ptr, ws_ptr, cnt_ptr, M, N,
                           K, stride_ym, FULL_TILES, SPLIT_K, SKEW, 1, CONSUMERS, HAS_BIAS, HALF, BLOCK_M, BLOCK_K,
                           STAGES, GROUP_N, PERSISTENT, SHARES)),
            (_ws_load, (w_desc, x_desc, d_desc, ready, empty, w_bufs, x_bufs, d_bufs, M, N, K, NP, FULL_TILES, SPLIT_K,
                        SKEW, TK, BLOCK_M, BLOCK_K, STAGES, CONSUMERS, GROUP_N, PERSISTENT)),
        ], [4, 1], [CONSUMER_REGS, 40])
    else:
        gl.warp_specialize([
            (_ws_consume, (x_bufs, w_bufs, d_bufs, ready, empty, turns, rs_ptr, bias_ptr, y_ptr, ws_ptr, cnt_ptr, M, N,
                           K, stride_ym, FULL_TILES, SPLIT_K, SKEW, 0, CONSUMERS, HAS_BIAS, HALF, BLOCK_M, BLOCK_K,
                           STAGES, GROUP_N, PERSISTENT, SHARES)),
            (_ws_load, (w_desc, x_desc, d_desc, ready, empty, w_bufs, x_bufs, d_bufs, M, N, K, NP, FULL_TILES, SPLIT_K,
                        SKEW, TK, BLOCK_M, BLOCK_K, STAGES, CONSUMERS, GROUP_N, PERSISTENT)),
        ], [1], [40])


@gluon.jit
def _split_k_fixup(acc, slot, pid_k, SPLIT_K, ws_ptr, cnt_ptr, rs, shift, y_ptr, n0, m0, M, N, stride_ym,
                   HAS_BIAS: gl.constexpr, BLOCK_N: gl.constexpr, BLOCK_M: gl.constexpr, mma: gl.constexpr,
                   WARPS: gl.constexpr, SHARES: gl.constexpr):
    """Sum the tile's split-K partials in split order (deterministic) and run the epilogue,
    in the split that arrives last; two counters a tile (``cnt[2 * slot]``, ``+ 1``).

    Two splits: each takes its arrival first, so the last knows it is last before storing
    anything; it keeps its own partial in registers (a + b == b + a exactly in float32),
    waits for the first's partial to be stored and reads only that: half the bytes each
    SM moves through L2 (a 256x128 tile's partial is 128 KB) against storing its own and
    reading both. It waits only for a split that has arrived, i.e. is running: nothing
    depends on the order in which programs start. More splits: each stores its partial,
    then arrives; the last reads them all (taking the arrival first added 0.5-0.7 us a
    call at M <= 16 with four splits, round 19c: more than the one partial saved).

    A partial is stored in the accumulator's register order (``_fragments``), not the
    tile's: each warp then moves 512 contiguous bytes an instruction instead of 8 rows of
    32 (round 29: the last split's load was most of the fix-up).

    ``SHARES`` (= SPLIT_K, only in a launch whose programs are all resident at once: a
    cooperative one): every split stores its partial, waits until all have, and sums
    columns ``pid_k * BLOCK_M / SHARES`` onwards of the tile (a contiguous piece of every
    partial in register order) in split order, then runs their epilogue. Each SM then moves
    ``2 / SHARES`` of a partial instead of the last one reading ``SPLIT_K - 1`` of them
    (round 30). The same sums in the same order as the last-split path."""
    part = _fragments(acc, BLOCK_N, BLOCK_M)
    offs = _fragment_offsets(part)
    tile_ws = ws_ptr + slot.to(gl.int64) * (SPLIT_K * BLOCK_N * BLOCK_M)
    own = tile_ws + pid_k * (BLOCK_N * BLOCK_M) + offs
    if SHARES > 0:
        _shared_fixup(part, own, tile_ws, cnt_ptr + 2 * slot, pid_k, rs, shift, y_ptr, n0, m0, M, N, stride_ym,
                      HAS_BIAS, BLOCK_N, BLOCK_M, WARPS, SHARES)
        return
    if SPLIT_K == 2:
        arrived = gl.atomic_add(cnt_ptr + 2 * slot, 1, sem="relaxed", scope="gpu")
        if arrived == 0:
            gl.store(own, part)
            gl.thread_barrier()  # the whole partial stored before one thread releases it
            gl.atomic_add(cnt_ptr + 2 * slot + 1, 1, sem="release", scope="gpu")
    else:
        gl.store(own, part)
        gl.thread_barrier()  # every partial stored before one thread releases the counter
        arrived = gl.atomic_add(cnt_ptr + 2 * slot, 1, sem="acq_rel", scope="gpu")
    if arrived == SPLIT_K - 1:
        if SPLIT_K == 2:
            stored = gl.atomic_add(cnt_ptr + 2 * slot + 1, 0, sem="acquire", scope="gpu")
            while stored == 0:
                stored = gl.atomic_add(cnt_ptr + 2 * slot + 1, 0, sem="acquire", scope="gpu")
            gl.thread_barrier()  # the other threads read after the acquire
            other = gl.load(tile_ws + (1 - pid_k) * (BLOCK_N * BLOCK_M) + offs, cache_modifier=".cg")
            total = acc + _tile_of(other, BLOCK_N, BLOCK_M, mma)
        else:
            sums = gl.load(tile_ws + offs, cache_modifier=".cg")
            for k in range(1, SPLIT_K):
                sums += gl.load(tile_ws + k * (BLOCK_N * BLOCK_M) + offs, cache_modifier=".cg")
            total = _tile_of(sums, BLOCK_N, BLOCK_M, mma)
        gl.store(cnt_ptr + 2 * slot, 0)
        gl.store(cnt_ptr + 2 * slot + 1, 0)
        _epilogue(total, rs, shift, y_ptr, n0, m0, M, N, stride_ym, HAS_BIAS, WARPS)


@gluon.jit
def _shared_fixup(part, own, tile_ws, cnt, pid_k, rs, shift, y_ptr, n0, m0, M, N, stride_ym, HAS_BIAS: gl.constexpr,
                  ROWS: gl.constexpr, COLS: gl.constexpr, WARPS: gl.constexpr, SHARES: gl.constexpr):
    """``_split_k_fixup`` with every split summing its share (``SHARES``): ``cnt[0]`` counts
    the splits that have stored their partial, ``cnt[1]`` those done reading; the last to
    finish zeroes both (every split is past its wait by then)."""
    gl.store(own, part)
    gl.thread_barrier()  # the whole partial stored before one thread releases it
    gl.atomic_add(cnt, 1, sem="release", scope="gpu")
    stored = gl.atomic_add(cnt, 0, sem="acquire", scope="gpu")
    while stored < SHARES:
        stored = gl.atomic_add(cnt, 0, sem="acquire", scope="gpu")
    gl.thread_barrier()  # the other threads read after the acquire
    W: gl.constexpr = COLS // SHARES
    gl.static_assert(W % 16 == 0, "a share is whole 16-column groups of the accumulator")
    mma: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[WARPS, 1], instr_shape=[16, W, 16])
    offs = _fragment_offsets(_fragments(gl.zeros([ROWS, W], gl.float32, mma), ROWS, W))
    # Columns [pid_k * W, (pid_k + 1) * W) of a partial in register order: ROWS * W floats from there.
    piece = tile_ws + pid_k * (ROWS * W) + offs
    sums = gl.load(piece, cache_modifier=".cg")
    for k in range(1, SHARES):
        sums += gl.load(piece + k * (ROWS * COLS), cache_modifier=".cg")
    done = gl.atomic_add(cnt + 1, 1, sem="relaxed", scope="gpu")
    if done == SHARES - 1:
        gl.store(cnt, 0)
        gl.store(cnt + 1, 0)
    row_layout: gl.constexpr = gl.SliceLayout(1, mma)
    _epilogue(_tile_of(sums, ROWS, W, mma), gl.convert_layout(rs, row_layout), gl.convert_layout(shift, row_layout),
              y_ptr, n0, m0 + pid_k * W, M, N, stride_ym, HAS_BIAS, WARPS)


# The wgmma accumulator of ``[ROWS, COLS]`` (warps of 16 rows; a thread holds rows
# lane / 4 and + 8, columns 2 * (lane % 4) + {0, 1} of every 8) viewed without data
# movement as ``[ROWS * COLS / 128, 32, 4]``: the last dimension a thread's four
# consecutive registers (rows {0, 8} x columns {0, 1}), the middle one the lanes. Stored at
# ``_fragment_offsets``, each warp's 16-byte pieces lie side by side. Any other layout
# would only make the accesses narrower: the view is a bijection of the tile, undone by
# ``_tile_of``.
@gluon.jit
def _fragments(t, ROWS: gl.constexpr, COLS: gl.constexpr):
    t = gl.reshape(t, [ROWS // 16, 2, 8, COLS // 16, 2, 4, 2])  # n = (w, r1, lane / 4), m = (j, j0, lane % 4, r0)
    return gl.reshape(gl.permute(t, (3, 4, 0, 2, 5, 1, 6)), [ROWS * COLS // 128, 32, 4])


@gluon.jit
def _tile_of(v, ROWS: gl.constexpr, COLS: gl.constexpr, mma: gl.constexpr):
    """The inverse of ``_fragments``, in the accumulator layout ``mma``."""
    t = gl.permute(gl.reshape(v, [COLS // 16, 2, ROWS // 16, 8, 4, 2, 2]), (2, 5, 3, 0, 1, 4, 6))
    return gl.convert_layout(gl.reshape(t, [ROWS, COLS]), mma, assert_trivial=True)


@gluon.jit
def _fragment_offsets(v):
    """Row-major offsets of ``v`` (``[R, 32, 4]``), in its layout."""
    lay: gl.constexpr = v.type.layout
    i0 = gl.arange(0, v.shape[0], layout=gl.SliceLayout(1, gl.SliceLayout(2, lay)))
    i1 = gl.arange(0, 32, layout=gl.SliceLayout(0, gl.SliceLayout(2, lay)))
    i2 = gl.arange(0, 4, layout=gl.SliceLayout(0, gl.SliceLayout(1, lay)))
    return (gl.expand_dims(gl.expand_dims(i0, 1), 2) * 128 + gl.expand_dims(gl.expand_dims(i1, 0), 2) * 4
            + gl.expand_dims(gl.expand_dims(i2, 0), 1))


@gluon.jit
def _epilogue(acc, rs, shift, y_ptr, n0, m0, M, N, stride_ym, HAS_BIAS: gl.constexpr, WARPS: gl.constexpr):
    """Weight rows ``n0`` onwards x activation rows ``m0`` onwards of the output, scaled by
    the row scales ``rs``, plus the bias ``shift`` (``_triton.row_terms``), in y's dtype
    (``WARPS``: the warps holding ``acc``)."""
    out = acc * gl.expand_dims(rs, 1)
    if HAS_BIAS:
        out += gl.expand_dims(shift, 1)
    out = out.to(y_ptr.dtype.element_ty)
    # 32-bit offsets from the tile's first row (a tile spans at most 256 rows of y, far
    # below 2**31 elements): 64-bit pointers per element made ptxas spill the 256-row tile.
    _store_columns(out, y_ptr + m0.to(gl.int64) * stride_ym, n0, 0, M - m0, N, stride_ym, out.shape[0],
                   out.shape[1], WARPS)


@gluon.jit
def _store_columns(t, tile_y, n0, c0, rows_left, N, stride_ym, ROWS: gl.constexpr, W: gl.constexpr,
                   WARPS: gl.constexpr):
    """Store ``t`` (``[ROWS, W]``: weight rows x output rows, the wgmma accumulator's layout)
    at ``tile_y[c0 + j, n0 + i]``, 32 output rows at a time: each chunk goes through a small
    shared-memory exchange into 16-byte runs along y's rows (the accumulator's own layout
    gives 4-byte stores, which fill half of each 32-byte sector). The halves are cut off in
    registers (no data movement)."""
    if W > 32:
        left, right = gl.split(gl.permute(gl.reshape(t, [ROWS, 2, W // 2]), (0, 2, 1)))
        _store_columns(left, tile_y, n0, c0, rows_left, N, stride_ym, ROWS, W // 2, WARPS)
        _store_columns(right, tile_y, n0, c0 + W // 2, rows_left, N, stride_ym, ROWS, W // 2, WARPS)
    else:
        layout: gl.constexpr = gl.BlockedLayout([8, 1], [8, 4], [1, WARPS], [0, 1])
        t = gl.convert_layout(t, layout)
        offs_n = n0 + gl.arange(0, ROWS, layout=gl.SliceLayout(1, layout))
        offs_c = c0 + gl.arange(0, W, layout=gl.SliceLayout(0, layout))
        offs = gl.expand_dims(offs_c, 0) * stride_ym + gl.expand_dims(offs_n, 1)
        mask = (gl.expand_dims(offs_c, 0) < rows_left) & (gl.expand_dims(offs_n, 1) < N)
        gl.store(tile_y + offs, t, mask=mask)


@functools.lru_cache(maxsize=None)
def shared_layouts(block_m: int, block_n: int, block_k: int, act_dtype):
    """The NVMMA shared layouts of the activation, weight and scale tiles (host side;
    cached: building them takes about 27 us, more than a launch)."""
    x_dtype = gl.bfloat16 if str(act_dtype).endswith("bfloat16") else gl.float16
    return (gl.NVMMASharedLayout.get_default_for([block_m, block_k], x_dtype),
            gl.NVMMASharedLayout.get_default_for([block_n, block_k], gl.uint8),
            gl.NVMMASharedLayout.get_default_for([8, block_n], gl.uint8))


def descriptors(x, q, d, block_m: int, block_n: int, block_k: int):
    """TMA descriptors of ``x [M, K]``, of ``q`` viewed as ``[K/TK * NP, TK]`` and of ``d``."""
    x_layout, w_layout, d_layout = shared_layouts(block_m, block_n, block_k, x.dtype)
    blocks, np_, tk = q.shape
    q2 = q.view(blocks * np_, tk)
    return (TensorDescriptor(x, list(x.shape), list(x.stride()), [block_m, block_k], x_layout),
            TensorDescriptor(q2, list(q2.shape), list(q2.stride()), [block_n, block_k], w_layout),
            TensorDescriptor(d, list(d.shape), list(d.stride()), [8, block_n], d_layout))


__all__ = ["mx_w8a16_wgmma", "mx_w8a16_wgmma_ws", "descriptors", "shared_layouts"]
