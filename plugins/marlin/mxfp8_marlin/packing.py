"""Weight repacking for the marlin kernels (pure PyTorch, runs once at load).

From the checkpoint's ``weight [N, K] float8_e4m3fn`` and ``weight_scale [N, K/32]
uint8`` (E8M0) it makes:

- ``marlin_weight``    uint8 ``[N, K]``: the e4m3 bytes (a view of the weight when it is
  contiguous: no copy).
- ``marlin_scale``     uint8 ``[K/32, NP]``: ``rowmax[n] - scale[n, g]``, transposed, its
  columns zero-padded to ``NP`` = N rounded up to a multiple of 256 (so that a tile's
  scales are one contiguous, unclamped load).
- ``marlin_row_scale`` float32 ``[N]``: ``2**(rowmax[n] - 127)``, built from bits (exact;
  ``rowmax = 0`` gives the subnormal ``2**-127``).

so that ``W[n, k] = e4m3(q[n, k]) * 2**-d[k // 32, n] * rs[n]`` exactly equals
``dequantize_mxfp8(weight, weight_scale)`` in float32.
"""

from __future__ import annotations

import torch

BLOCK = 32
SCALE_COLUMN_MULTIPLE = 256
E4M3_NAN_MASK = 0x7F  # e4m3fn NaN: S.1111.111


def pack_weights(weight: torch.Tensor, weight_scale: torch.Tensor) -> dict[str, torch.Tensor]:
    """The marlin layout of an MXFP8 weight. Raises ``ValueError`` (and changes nothing)
    when the weight holds NaN bytes, which no finite dequantization can represent."""
    n, k = weight.shape
    q = weight.view(torch.uint8)
    if not q.is_contiguous():
        q = q.contiguous()
    nan_rows = ((q & E4M3_NAN_MASK) == E4M3_NAN_MASK).any(dim=1).nonzero().flatten()
    if nan_rows.numel():
        raise ValueError(
            f"marlin: layer.weight holds e4m3 NaN bytes (0x7F/0xFF) in {nan_rows.numel()} row(s), first "
            f"row {int(nan_rows[0])}; the checkpoint is corrupt or was quantized from non-finite weights"
        )
    scale = weight_scale.to(torch.int32)
    row_max = scale.amax(dim=1, keepdim=True)  # [N, 1]
    padded_n = -(-n // SCALE_COLUMN_MULTIPLE) * SCALE_COLUMN_MULTIPLE
    rel = torch.zeros(k // BLOCK, padded_n, dtype=torch.uint8, device=weight.device)
    rel[:, :n] = (row_max - scale).to(torch.uint8).t()  # [K/32, NP]
    row_max = row_max.flatten()
    bits = torch.where(row_max > 0, row_max << 23, torch.full_like(row_max, 1 << 22))
    row_scale = bits.view(torch.float32).contiguous()
    return {"marlin_weight": q, "marlin_scale": rel, "marlin_row_scale": row_scale}


def unpack_weights(q: torch.Tensor, rel: torch.Tensor, row_scale: torch.Tensor) -> torch.Tensor:
    """The float32 weight ``[N, K]`` the packed tensors stand for (tests and the CPU fallback)."""
    n, k = q.shape
    values = q.view(torch.float8_e4m3fn).to(torch.float32).view(n, k // BLOCK, BLOCK)
    exponent = -rel[:, :n].t().to(torch.int32)  # 2**-d, d in [0, 254]
    first = torch.div(exponent, 2, rounding_mode="floor")
    second = exponent - first
    as_float = lambda e: ((e + 127) << 23).view(torch.float32)  # noqa: E731
    values = values * as_float(first).unsqueeze(-1) * as_float(second).unsqueeze(-1)
    return values.view(n, k) * row_scale[:, None]

