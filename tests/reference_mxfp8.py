"""An independent scalar reference for MXFP8 (OCP Microscaling v1.0, E4M3 elements).

Written from the spec in ``DESIGN.md``, not from ``mxfp8_core``: pure Python, exact
rational arithmetic (``fractions.Fraction``) everywhere a float could round, so powers of
two and ties are decided exactly. It works on Python lists and is meant for small inputs.

- E4M3FN: 1 sign bit, 4 exponent bits (bias 7), 3 mantissa bits; exponent field 0 is
  subnormal (``m/8 * 2**-6``); ``S.1111.111`` (0x7F / 0xFF) is NaN; there is no infinity;
  the largest finite value is 448.
- E8M0 scale byte ``e``: ``2**(e - 127)``; 0xFF is NaN.
- Blocks of 32 consecutive elements along the last axis share one scale.
- ``rceil``: ``e = ceil(log2(amax / 448)) + 127``; ``floor``: ``e = floor(log2(amax)) - 8 + 127``;
  both clamped to [0, 254]; an all-zero block gets 0; a block holding NaN or +-inf gets
  scale 0xFF and every data byte 0x7F.
- Elements: ``x / 2**(e - 127)``, saturated to +-448 under ``floor``, rounded to nearest
  (ties to even) onto the E4M3 grid; the sign of ``x`` is kept (negative zero is 0x80).
"""

from __future__ import annotations

import bisect
import math
from fractions import Fraction

BLOCK = 32
E4M3_MAX = Fraction(448)
NAN_SCALE = 0xFF
NAN_BYTE = 0x7F

# (mantissa bits, minimum normal exponent, maximum exponent) of the IEEE-like output formats.
FORMATS = {
    "float32": (23, -126, 127),
    "bfloat16": (7, -126, 127),
    "float16": (10, -14, 15),
}


# --------------------------------------------------------------------------- E4M3FN
def e4m3_decode(byte: int) -> tuple[int, Fraction | None]:
    """``(sign, magnitude)`` of an E4M3FN bit pattern; magnitude ``None`` for NaN."""
    if not 0 <= byte <= 0xFF:
        raise ValueError(byte)
    sign = byte >> 7
    exponent = (byte >> 3) & 0xF
    mantissa = byte & 0x7
    if exponent == 0xF and mantissa == 0x7:
        return sign, None
    if exponent == 0:
        return sign, Fraction(mantissa, 8) * Fraction(2) ** (1 - 7)
    return sign, (1 + Fraction(mantissa, 8)) * Fraction(2) ** (exponent - 7)


def e4m3_value(byte: int) -> float:
    """The value of an E4M3FN byte as a Python float (exact; NaN for 0x7F/0xFF)."""
    sign, magnitude = e4m3_decode(byte)
    if magnitude is None:
        return math.nan
    return math.copysign(float(magnitude), -1.0 if sign else 1.0)


# Positive finite grid: bytes 0x00..0x7E in order of increasing value.
_GRID_BYTES = [b for b in range(0x80) if e4m3_decode(b)[1] is not None]
_GRID = [e4m3_decode(b)[1] for b in _GRID_BYTES]
assert _GRID_BYTES == list(range(0x7F))
assert all(a < b for a, b in zip(_GRID, _GRID[1:])), "E4M3 grid must be strictly increasing"
assert _GRID[0] == 0 and _GRID[1] == Fraction(1, 512) and _GRID[-1] == E4M3_MAX


def e4m3_round(magnitude: Fraction) -> int:
    """Byte (sign bit clear) of the E4M3 value nearest to ``0 <= magnitude <= 448``,
    ties to the even bit pattern."""
    if magnitude < 0 or magnitude > E4M3_MAX:
        raise ValueError(f"magnitude {magnitude} outside [0, 448]")
    i = bisect.bisect_left(_GRID, magnitude)
    if _GRID[i] == magnitude:
        return _GRID_BYTES[i]
    lo, hi = i - 1, i
    below, above = magnitude - _GRID[lo], _GRID[hi] - magnitude
    if below < above:
        return _GRID_BYTES[lo]
    if above < below:
        return _GRID_BYTES[hi]
    return _GRID_BYTES[lo] if _GRID_BYTES[lo] % 2 == 0 else _GRID_BYTES[hi]


# --------------------------------------------------------------------------- exact log2
def floor_log2(value: Fraction) -> int:
    """Largest integer s with 2**s <= value (value > 0), exactly."""
    if value <= 0:
        raise ValueError(value)
    s = value.numerator.bit_length() - value.denominator.bit_length()
    while Fraction(2) ** s > value:
        s -= 1
    while Fraction(2) ** (s + 1) <= value:
        s += 1
    return s


def ceil_log2(value: Fraction) -> int:
    """Smallest integer s with 2**s >= value (value > 0), exactly."""
    s = floor_log2(value)
    return s if Fraction(2) ** s == value else s + 1


# --------------------------------------------------------------------------- quantize
def scale_byte(amax: Fraction, rounding: str) -> int:
    """E8M0 scale byte of a finite block with absolute maximum ``amax``."""
    if amax == 0:
        return 0
    if rounding == "rceil":
        e = ceil_log2(amax / E4M3_MAX) + 127
    elif rounding == "floor":
        e = floor_log2(amax) - 8 + 127
    else:
        raise ValueError(rounding)
    return min(max(e, 0), 254)


def quantize_block(block: list[float], rounding: str) -> tuple[list[int], int]:
    """32 floats -> (32 E4M3 bytes, scale byte)."""
    if len(block) != BLOCK:
        raise ValueError(len(block))
    if any(math.isnan(v) or math.isinf(v) for v in block):
        return [NAN_BYTE] * BLOCK, NAN_SCALE
    amax = max(abs(Fraction(v)) for v in block)
    e = scale_byte(amax, rounding)
    scale = Fraction(2) ** (e - 127)
    out = []
    for v in block:
        magnitude = abs(Fraction(v)) / scale
        if magnitude > E4M3_MAX:
            if rounding != "floor":
                raise AssertionError(f"rceil must never saturate: {v} / 2**{e - 127}")
            magnitude = E4M3_MAX
        byte = e4m3_round(magnitude)
        if math.copysign(1.0, v) < 0:
            byte |= 0x80
        out.append(byte)
    return out, e


def quantize(values: list[float], k: int, rounding: str) -> tuple[list[int], list[int]]:
    """Row-major flat ``values`` of a ``[..., k]`` tensor -> (flat data bytes, flat scale bytes)."""
    if k % BLOCK:
        raise ValueError(k)
    if len(values) % BLOCK:
        raise ValueError(len(values))
    data, scales = [], []
    for start in range(0, len(values), BLOCK):
        block_data, e = quantize_block(values[start : start + BLOCK], rounding)
        data.extend(block_data)
        scales.append(e)
    return data, scales


# --------------------------------------------------------------------------- dequantize
def round_to_format(sign: int, magnitude: Fraction, fmt: str) -> float:
    """Round ``(-1)**sign * magnitude`` to the nearest value of ``fmt`` (ties to even,
    IEEE overflow to infinity); the result is exact as a Python float."""
    mant_bits, emin, emax = FORMATS[fmt]
    signed = lambda f: math.copysign(f, -1.0 if sign else 1.0)  # noqa: E731
    if magnitude == 0:
        return signed(0.0)
    exponent = max(floor_log2(magnitude), emin)
    ulp = Fraction(2) ** (exponent - mant_bits)
    q = magnitude / ulp
    n = math.floor(q)
    rest = q - n
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and n % 2 == 1):
        n += 1
    result = n * ulp
    max_finite = (2 - Fraction(2) ** -mant_bits) * Fraction(2) ** emax
    if result > max_finite:
        return signed(math.inf)
    return signed(float(result))  # exact: every value of these formats is a double


def dequantize_value(byte: int, scale: int, fmt: str) -> float:
    """``decode(byte) * 2**(scale - 127)`` computed exactly, rounded once to ``fmt``."""
    if scale == NAN_SCALE:
        return math.nan
    sign, magnitude = e4m3_decode(byte)
    if magnitude is None:
        return math.nan
    return round_to_format(sign, magnitude * Fraction(2) ** (scale - 127), fmt)


def dequantize(data: list[int], scales: list[int], fmt: str) -> list[float]:
    """Flat data bytes and flat scale bytes (one per 32 data bytes) -> flat floats."""
    if len(data) != BLOCK * len(scales):
        raise ValueError((len(data), len(scales)))
    return [dequantize_value(b, scales[i // BLOCK], fmt) for i, b in enumerate(data)]
