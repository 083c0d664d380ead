"""Weight repacking for the marlin kernels (pure PyTorch, runs once at load).

The small-M kernels only stream the weight, so its layout matters. The weight is cut
along K into column blocks ``TK`` bytes wide, each stored row-major and contiguous: a
kernel tile of ``BN`` rows and ``TK`` columns is one contiguous run of ``BN * TK``
bytes, and the programs running at one time, which work on neighbouring row tiles at
similar K, read one window of memory. On the H100 (bench/notes_marlin.md, round 4d) the
M = 1 kernel streams 2-11% faster from 512-wide blocks than from the row-major weight
(each tile ``BN`` runs of ``TK`` bytes, ``K`` apart); the tensor-core kernels gain 0-4%.

From the checkpoint's ``weight [N, K] float8_e4m3fn`` and ``weight_scale [N, K/32]
uint8`` (E8M0) it makes, with ``NP`` = N rounded up to a multiple of ``PAD_N`` and
``TK`` = ``tile_k`` (a power-of-two multiple of 32 that divides K):

- ``marlin_weight``    uint8 ``[K/TK, NP, TK]``: the e4m3 bytes, reordered within each
  32-wide MX block (``K_BITS``); padded rows are 0.
- ``marlin_scale``     uint8 ``[K/32, NP]``: ``rowmax[n] - scale[n, g]`` (>= 0),
  transposed (a K-group of a tile's rows is one contiguous load); 0 on padded rows.
- ``marlin_row_scale`` float32 ``[N]``: ``2**(rowmax[n] - 127)``, built from bits (exact;
  ``rowmax = 0`` gives the subnormal ``2**-127``).

so that ``W[n, k] = e4m3(q[k // TK, n, stored(k) % TK]) * 2**-d[k // 32, n] * rs[n]`` exactly
equals ``dequantize_mxfp8(weight, weight_scale)`` in float32 (but for blocks more than about
2**126 below their row's largest, which underflow to 0). ``TK`` and ``NP`` are read
back from the tensors' shapes, so the kernels need no other record of the layout.

Within an MX block the bytes are stored in the order the Hopper kernels' decode reads them:
a thread's share of a block of the wgmma A operand is the 8 bytes whose ``k`` has bits 1 and
2 fixed (they come from its lane; bits 0, 3 and 4 from its registers), and these are stored
together, so that it reads them with one 8-byte shared-memory load instead of four 2-byte
ones (H100, bench/notes_marlin.md round 27: 4096x4096 at M = 64 3.8% faster). The Triton
kernels reorder their tiles (``_triton.in_k_order``) or read the activations in stored order
(``_triton.k_of``); the order within a block does not change a block's scale.
"""

from __future__ import annotations

import torch

from mxfp8_core.format import check_mxfp8_pair, check_no_nan_scales

from .configs import BLOCK, fit_block_k

PAD_N = 256  # any kernel tile (up to 256 rows) covers whole padded rows: no row clamps
TILE_K = 512  # H100, rounds 4d-5: the M = 1 kernel is fastest here; the tensor-core kernels are within 4%
E4M3_NAN_MASK = 0x7F  # e4m3fn NaN: S.1111.111
K_BITS = (0, 3, 4, 1, 2)  # bit i of a byte's position within its MX block is bit K_BITS[i] of its k
# The kernels' reorder of a stored tile viewed [rows, blocks, 2, 2, 2, 2, 2] (dimension 6 - i:
# position bit i) into k order: the dimensions of k bits 4, 3, 2, 1, 0 in turn.
TO_K_ORDER = (0, 1) + tuple(6 - K_BITS.index(b) for b in (4, 3, 2, 1, 0))


def stored(k: int) -> int:
    """The position within its MX block at which the byte of ``k`` (mod 32) is stored."""
    return sum(((k >> b) & 1) << i for i, b in enumerate(K_BITS))


def k_of(position: int) -> int:
    """The ``k`` (mod 32) of the byte stored at ``position`` within its MX block."""
    return sum(((position >> i) & 1) << b for i, b in enumerate(K_BITS))


def tile_k(k: int, requested: int | None = None) -> int:
    """The layout's column-block width for K: ``requested`` if it is a multiple of 32
    that divides K (``k`` itself: row-major), else the largest power-of-two multiple of
    32 up to it (default ``TILE_K``) that does."""
    if requested is not None and (not isinstance(requested, int) or requested < BLOCK or requested % BLOCK):
        raise ValueError(f"marlin: the column-block width must be a positive multiple of {BLOCK}, got {requested!r}")
    if requested and k % requested == 0:
        return requested
    width = requested or TILE_K
    return fit_block_k(k, BLOCK << ((width // BLOCK).bit_length() - 1))  # from a power of two


def pack_weights(weight: torch.Tensor, weight_scale: torch.Tensor, tile: int | None = None) -> dict[str, torch.Tensor]:
    """The marlin layout of an MXFP8 weight ``[N, K]`` and its scales ``[N, K/32]`` (``tile``:
    the column-block width, see :func:`tile_k`). Raises ``ValueError`` (and changes nothing)
    when they are not such a pair, or hold NaN bytes, which no finite dequantization can
    represent."""
    check_mxfp8_pair(weight, weight_scale, "marlin: pack_weights")  # a wrong scale shape had been broadcast
    if weight.dim() != 2:
        raise ValueError(f"marlin: pack_weights takes a weight [N, K] (got {tuple(weight.shape)})")
    n, k = weight.shape
    tk = tile_k(k, tile)
    check_no_nan_scales(weight_scale, "marlin: pack_weights: weight_scale")
    q = weight.view(torch.uint8)
    nan_rows = ((q & E4M3_NAN_MASK) == E4M3_NAN_MASK).any(dim=1).nonzero().flatten()
    if nan_rows.numel():
        raise ValueError(
            f"marlin: layer.weight holds e4m3 NaN bytes (0x7F/0xFF) in {nan_rows.numel()} row(s), first "
            f"row {int(nan_rows[0])}; the checkpoint is corrupt or was quantized from non-finite weights"
        )
    scale = weight_scale.to(torch.int32)
    row_max = scale.amax(dim=1, keepdim=True)  # [N, 1]
    padded_n = -(-n // PAD_N) * PAD_N
    q_blocks = torch.zeros(k // tk, padded_n, tk, dtype=torch.uint8, device=weight.device)
    in_block_order = torch.tensor([k_of(p) for p in range(BLOCK)], device=weight.device)
    q = q.reshape(n, k // BLOCK, BLOCK)[:, :, in_block_order]
    q_blocks[:, :n] = q.reshape(n, k // tk, tk).transpose(0, 1)
    rel = torch.zeros(k // BLOCK, padded_n, dtype=torch.uint8, device=weight.device)
    rel[:, :n] = (row_max - scale).to(torch.uint8).t()
    row_max = row_max.flatten()
    bits = torch.where(row_max > 0, row_max << 23, torch.full_like(row_max, 1 << 22))
    row_scale = bits.view(torch.float32).contiguous()
    return {"marlin_weight": q_blocks, "marlin_scale": rel, "marlin_row_scale": row_scale}


def unpack_weights(q: torch.Tensor, d: torch.Tensor, row_scale: torch.Tensor) -> torch.Tensor:
    """The float32 weight ``[N, K]`` the packed tensors stand for (tests). Blocks more than
    about 2**126 below their row's largest underflow to 0, as in the kernels."""
    n = row_scale.shape[0]
    blocks, _, tk = q.shape
    k = blocks * tk
    logical_order = torch.tensor([stored(i) for i in range(BLOCK)], device=q.device)
    q = q[:, :n].transpose(0, 1).reshape(n, k // BLOCK, BLOCK)[:, :, logical_order].reshape(n, k)
    rel = d[:, :n].t()
    values = q.view(torch.float8_e4m3fn).to(torch.float32).view(n, k // BLOCK, BLOCK)
    exponent = -rel.to(torch.int32)  # 2**-d, d in [0, 254]
    first = torch.div(exponent, 2, rounding_mode="floor")
    second = exponent - first
    as_float = lambda e: ((e + 127) << 23).view(torch.float32)  # noqa: E731
    values = values * as_float(first).unsqueeze(-1) * as_float(second).unsqueeze(-1)
    return values.view(n, k) * row_scale[:, None]
