"""Scale layouts: the swizzled "128x4" layout that Blackwell block-scaled GEMMs read.

A scale matrix ``[R, C]`` is zero-padded to ``R`` a multiple of 128 and ``C`` a multiple
of 4, and element ``(r, c)`` lands at byte
``(r//128)*(Ct*512) + (c//4)*512 + (r%32)*16 + ((r%128)//32)*4 + (c%4)``, ``Ct = ceil(C/4)``.
"""

from __future__ import annotations

import torch

ROW_TILE = 128
COL_TILE = 4


def swizzled_128x4_size(rows: int, cols: int) -> int:
    """Bytes in the swizzled buffer for a ``[rows, cols]`` scale matrix."""
    _check_dims("swizzled_128x4_size", rows, cols)
    return _round_up(rows, ROW_TILE) * _round_up(cols, COL_TILE)


def swizzle_scales_128x4(scales: torch.Tensor) -> torch.Tensor:
    """Linear ``[R, C]`` uint8 scales to the 1-D swizzled 128x4 buffer (padding bytes 0)."""
    if not isinstance(scales, torch.Tensor) or scales.dtype != torch.uint8 or scales.dim() != 2:
        raise TypeError("swizzle_scales_128x4: expected a 2-D torch.uint8 tensor [rows, K/32]")
    rows, cols = scales.shape
    row_tiles, col_tiles = -(-rows // ROW_TILE), -(-cols // COL_TILE)
    padded = scales.new_zeros(row_tiles * ROW_TILE, col_tiles * COL_TILE)
    padded[:rows, :cols] = scales
    # rows split as (tile, r%128 // 32, r%32), columns as (tile, c%4).
    tiled = padded.view(row_tiles, 4, 32, col_tiles, COL_TILE)
    return tiled.permute(0, 3, 2, 1, 4).reshape(-1)


def unswizzle_scales_128x4(swizzled: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """Inverse of :func:`swizzle_scales_128x4`: the 1-D buffer back to ``[rows, cols]``."""
    if not isinstance(swizzled, torch.Tensor) or swizzled.dtype != torch.uint8 or swizzled.dim() != 1:
        raise TypeError("unswizzle_scales_128x4: expected a 1-D torch.uint8 tensor")
    _check_dims("unswizzle_scales_128x4", rows, cols)
    expected = swizzled_128x4_size(rows, cols)
    if swizzled.numel() != expected:
        raise ValueError(
            f"unswizzle_scales_128x4: buffer has {swizzled.numel()} bytes, expected {expected} "
            f"for a [{rows}, {cols}] scale matrix"
        )
    row_tiles, col_tiles = -(-rows // ROW_TILE), -(-cols // COL_TILE)
    tiled = swizzled.view(row_tiles, col_tiles, 32, 4, COL_TILE)
    full = tiled.permute(0, 3, 2, 1, 4).reshape(row_tiles * ROW_TILE, col_tiles * COL_TILE)
    return full[:rows, :cols].contiguous()


def _check_dims(caller: str, rows: object, cols: object) -> None:
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (rows, cols)):
        raise TypeError(f"{caller}: rows and cols must be ints, got {rows!r}, {cols!r}")
    if rows < 0 or cols < 0:
        raise ValueError(f"{caller}: rows and cols must be >= 0, got {rows}, {cols}")


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple
