"""MXFP8 (OCP Microscaling v1.0, E4M3 elements) quantization and dequantization.

A tensor ``[..., K]`` is cut into blocks of 32 consecutive elements along K. Each block
stores 32 ``float8_e4m3fn`` values and one E8M0 scale byte ``e`` meaning ``2**(e - 127)``
(``0xFF`` is NaN). All arithmetic here is exact integer/bit work or multiplication by
powers of two, so results are bit-identical on every device.
"""

from __future__ import annotations

import torch

from ._text import describe

BLOCK_SIZE = 32
E4M3_MAX = 448.0
SCALE_BIAS = 127
SCALE_NAN = 0xFF
# Largest finite scale byte; finite inputs never produce a NaN scale.
SCALE_MAX_FINITE = 254
# e4m3fn has no infinity: a block holding NaN or +-inf gets a NaN scale and NaN data.
E4M3_NAN_BITS = 0x7F

ROUNDINGS = ("rceil", "floor")
QUANTIZE_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def _pow2_factors(exponent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two float32 powers of two whose product is ``2**exponent`` for |exponent| <= 254.

    Building the factors from bits (instead of ``exp2``/``ldexp``) keeps them exact on
    every backend; splitting in two keeps each one a normal float32, and since both
    factors lie on the same side of 1, multiplying by one then the other is exact
    whenever the final product is representable.
    """
    first = torch.div(exponent, 2, rounding_mode="floor")
    second = exponent - first
    to_float = lambda e: ((e + 127).to(torch.int32) << 23).view(torch.float32)  # noqa: E731
    return to_float(first), to_float(second)


def _check_blocks(k: int, what: str) -> None:
    if k % BLOCK_SIZE:
        raise ValueError(
            f"{what}: the last dimension (K={k}) must be a multiple of {BLOCK_SIZE}, the "
            f"MXFP8 block size; pad K with zeros to {-(-k // BLOCK_SIZE) * BLOCK_SIZE} first"
        )


def quantize_mxfp8(x: torch.Tensor, *, rounding: str = "rceil") -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize ``x [..., K]`` to MXFP8; returns ``(data [..., K] float8_e4m3fn,
    scales [..., K/32] uint8)`` on ``x``'s device.

    ``rounding`` chooses the scale of a block with absolute maximum ``amax``:

    - ``"rceil"`` (NVIDIA hardware, FlashInfer, vLLM): ``e = ceil(log2(amax / 448)) + 127``;
      no element saturates.
    - ``"floor"`` (OCP spec): ``e = floor(log2(amax)) - 8 + 127``; elements above 448
      after scaling saturate to +-448.

    Either way ``e`` is clamped to ``[0, 254]`` (an all-zero block gets 0), elements are
    rounded to nearest-even, and a block holding NaN or +-inf gets scale ``0xFF`` with
    every element NaN.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"quantize_mxfp8: expected a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in QUANTIZE_DTYPES:
        raise TypeError(
            f"quantize_mxfp8: unsupported dtype {x.dtype}; expected one of "
            f"{', '.join(str(d) for d in QUANTIZE_DTYPES)}"
        )
    if rounding not in ROUNDINGS:
        raise ValueError(f"quantize_mxfp8: rounding must be one of {ROUNDINGS}, got {rounding!r}")
    if x.dim() == 0:
        raise ValueError("quantize_mxfp8: expected a tensor with at least one dimension")
    k = x.shape[-1]
    _check_blocks(k, "quantize_mxfp8")

    blocks = x.to(torch.float32).reshape(*x.shape[:-1], k // BLOCK_SIZE, BLOCK_SIZE)
    amax = blocks.abs().amax(dim=-1)  # NaN propagates
    # amax = mantissa * 2**exp with mantissa in [0.5, 1); exact, subnormals included.
    mantissa, exp = torch.frexp(amax)
    # floor(log2(amax)) = exp - 1; the E4M3 maximum 448 = 1.75 * 2**8.
    unbiased = exp.to(torch.int32) - 1 - 8
    if rounding == "rceil":
        # ceil(log2(amax / 448)) is one more than floor(log2 amax) - 8 exactly when the
        # significand of amax exceeds 1.75 (mantissa > 0.875).
        unbiased = unbiased + (mantissa > 0.875).to(torch.int32)
    scales = (unbiased + SCALE_BIAS).clamp(0, SCALE_MAX_FINITE)
    scales = torch.where(amax == 0, 0, scales)
    finite = torch.isfinite(amax)
    scales = torch.where(finite, scales, SCALE_NAN)

    first, second = _pow2_factors((SCALE_BIAS - scales).unsqueeze(-1))
    scaled = (blocks * first * second).clamp(-E4M3_MAX, E4M3_MAX)
    data = scaled.to(torch.float8_e4m3fn).view(torch.uint8)
    data = torch.where(finite.unsqueeze(-1), data, E4M3_NAN_BITS)
    return data.view(torch.float8_e4m3fn).reshape(x.shape), scales.to(torch.uint8)


def dequantize_mxfp8(
    data: torch.Tensor, scales: torch.Tensor, dtype: torch.dtype = torch.bfloat16
) -> torch.Tensor:
    """``float(data) * 2**(scales - 127)`` per 32-element block, computed exactly (in float32,
    or float64 for a float64 result) and rounded once to ``dtype``; scale ``0xFF`` gives NaN."""
    check_mxfp8_pair(data, scales, "dequantize_mxfp8")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dequantize_mxfp8: dtype must be a floating torch.dtype, got {dtype!r}")
    k = data.shape[-1]
    # float32 holds every product exactly unless it overflows; float64 output needs the range.
    wide = torch.float64 if dtype == torch.float64 else torch.float32
    blocks = data.to(wide).reshape(*data.shape[:-1], k // BLOCK_SIZE, BLOCK_SIZE)
    exponent = scales.to(torch.int32) - SCALE_BIAS
    first, second = _pow2_factors(exponent.clamp(max=SCALE_MAX_FINITE - SCALE_BIAS).unsqueeze(-1))
    values = blocks * first.to(wide) * second.to(wide)
    values = torch.where((scales == SCALE_NAN).unsqueeze(-1), float("nan"), values)
    return values.reshape(data.shape).to(dtype)


def check_mxfp8_pair(data: torch.Tensor, scales: torch.Tensor, what: str) -> None:
    """Raise a clear error unless ``data``/``scales`` form an MXFP8 tensor."""
    if not isinstance(data, torch.Tensor) or data.dtype != torch.float8_e4m3fn:
        raise TypeError(f"{what}: data must be a torch.float8_e4m3fn tensor, got {describe(data)}")
    if not isinstance(scales, torch.Tensor) or scales.dtype != torch.uint8:
        raise TypeError(
            f"{what}: scales must be a torch.uint8 tensor of E8M0 bytes, got {describe(scales)}"
        )
    if data.dim() == 0:
        raise ValueError(f"{what}: data must have at least one dimension")
    _check_blocks(data.shape[-1], what)
    expected = (*data.shape[:-1], data.shape[-1] // BLOCK_SIZE)
    if tuple(scales.shape) != expected:
        raise ValueError(
            f"{what}: scales have shape {tuple(scales.shape)}, expected {expected} "
            f"(one byte per {BLOCK_SIZE} elements of data {tuple(data.shape)})"
        )
    if data.device != scales.device:
        raise ValueError(f"{what}: data is on {data.device} but scales are on {scales.device}")


def check_no_nan_scales(scales: torch.Tensor, what: str) -> None:
    """Raise a ValueError naming the rows of ``scales`` (``[N, K/32]`` E8M0 bytes, called
    ``what``) that hold the NaN byte, which no finite weight has."""
    nan_rows = (scales == SCALE_NAN).any(dim=1).nonzero().flatten()
    if nan_rows.numel():
        raise ValueError(
            f"{what} holds NaN scale bytes (0xFF) in {nan_rows.numel()} row(s), first row "
            f"{int(nan_rows[0])}: the checkpoint is corrupt or was quantized from non-finite weights"
        )
