"""Bit-exact tests of mxfp8_core.format against the independent scalar reference."""

from __future__ import annotations

import importlib.util
import math
import pathlib
import sys

import pytest
import torch

from mxfp8_core.format import check_mxfp8_pair, dequantize_mxfp8, quantize_mxfp8


def _load_reference():
    name = "mxfp8_tests_reference_mxfp8"
    if name in sys.modules:
        return sys.modules[name]
    path = pathlib.Path(__file__).with_name("reference_mxfp8.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


ref = _load_reference()

ROUNDINGS = ("rceil", "floor")
DTYPES = (torch.float32, torch.bfloat16, torch.float16)
FMT = {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}
INT_VIEW = {torch.float32: torch.int32, torch.bfloat16: torch.int16, torch.float16: torch.int16}


# --------------------------------------------------------------------------- helpers
def reference_quantize(x: torch.Tensor, rounding: str) -> tuple[torch.Tensor, torch.Tensor]:
    values = x.detach().to(torch.float64).reshape(-1).tolist()
    k = x.shape[-1]
    data, scales = ref.quantize(values, k, rounding)
    data_t = torch.tensor(data, dtype=torch.uint8).reshape(x.shape)
    scales_t = torch.tensor(scales, dtype=torch.uint8).reshape(*x.shape[:-1], k // 32)
    return data_t, scales_t


def _first_mismatch(a: torch.Tensor, b: torch.Tensor) -> str:
    if a.shape != b.shape:
        return f"shapes {tuple(a.shape)} vs {tuple(b.shape)}"
    idx = (a != b).nonzero()
    if not idx.numel():
        return "no mismatch"
    first = tuple(idx[0].tolist())
    return f"{idx.shape[0]} mismatches, first at {first}: got {a[first].item()} expected {b[first].item()}"


def assert_matches_reference(x: torch.Tensor, rounding: str) -> tuple[torch.Tensor, torch.Tensor]:
    data, scales = quantize_mxfp8(x, rounding=rounding)
    ref_data, ref_scales = reference_quantize(x, rounding)
    assert data.dtype == torch.float8_e4m3fn and scales.dtype == torch.uint8
    assert data.shape == x.shape
    assert scales.shape == (*x.shape[:-1], x.shape[-1] // 32)
    got_scales = scales
    assert torch.equal(got_scales, ref_scales), "scales: " + _first_mismatch(got_scales, ref_scales)
    got_data = data.view(torch.uint8)
    assert torch.equal(got_data, ref_data), "data: " + _first_mismatch(got_data, ref_data)
    return data, scales


def assert_same_floats(got: torch.Tensor, expected: torch.Tensor) -> None:
    """Bit-identical, except that any NaN matches any NaN."""
    assert got.dtype == expected.dtype and got.shape == expected.shape
    nan_got, nan_exp = torch.isnan(got), torch.isnan(expected)
    assert torch.equal(nan_got, nan_exp), "NaN positions differ"
    view = INT_VIEW[got.dtype]
    g = torch.where(nan_got, torch.zeros_like(got), got).view(view)
    e = torch.where(nan_exp, torch.zeros_like(expected), expected).view(view)
    assert torch.equal(g, e), _first_mismatch(got.to(torch.float64), expected.to(torch.float64))


def fp32_from_parts(mantissa: float, exponent: int) -> float:
    value = math.ldexp(mantissa, exponent)
    assert torch.tensor(value, dtype=torch.float32).item() == value, "not exact in float32"
    return value


def e4m3_byte(value: float) -> int:
    """Byte of an exactly representable e4m3 value, via the reference decoder."""
    matches = [b for b in range(256) if ref.e4m3_value(b) == value and math.copysign(1, ref.e4m3_value(b)) == math.copysign(1, value)]
    assert len(matches) == 1, value
    return matches[0]


# --------------------------------------------------------------------------- reference self-checks
def test_reference_e4m3_decoding_matches_torch_float8():
    # Cross-check the reference's bit formula against torch's own e4m3fn decoding.
    torch_values = torch.arange(256, dtype=torch.int32).to(torch.uint8).view(torch.float8_e4m3fn).to(torch.float64)
    ours = torch.tensor([ref.e4m3_value(b) for b in range(256)], dtype=torch.float64)
    assert torch.equal(torch.isnan(torch_values), torch.isnan(ours))
    assert torch.isnan(ours).sum() == 2  # only 0x7F and 0xFF
    finite = ~torch.isnan(ours)
    assert torch.equal(torch_values[finite], ours[finite])
    assert torch.equal(torch.signbit(torch_values[finite]), torch.signbit(ours[finite]))
    assert max(v for v in ours.tolist() if not math.isnan(v)) == 448.0
    assert ref.e4m3_value(0x01) == 2.0**-9 and ref.e4m3_value(0x08) == 2.0**-6


def test_reference_exact_log2_and_rounding():
    from fractions import Fraction

    assert ref.floor_log2(Fraction(1)) == 0 and ref.ceil_log2(Fraction(1)) == 0
    assert ref.floor_log2(Fraction(2) ** -149) == -149
    assert ref.ceil_log2(Fraction(2) ** 130 + 1) == 131
    assert ref.floor_log2(Fraction(2) ** 130 - 1) == 129
    assert ref.scale_byte(Fraction(448), "rceil") == 127 and ref.scale_byte(Fraction(449), "rceil") == 128
    assert ref.scale_byte(Fraction(449), "floor") == 127 and ref.scale_byte(Fraction(512), "floor") == 128
    assert ref.round_to_format(0, Fraction(1) + Fraction(1, 2**24), "float32") == 1.0  # tie -> even
    assert ref.round_to_format(0, Fraction(1) + Fraction(3, 2**24), "float32") == 1.0 + 2.0**-22
    assert ref.round_to_format(1, Fraction(65520), "float16") == -math.inf
    assert ref.round_to_format(0, Fraction(65519), "float16") == 65504.0
    assert ref.round_to_format(0, Fraction(2) ** -25, "float16") == 0.0  # tie with 0 -> 0
    assert ref.round_to_format(0, Fraction(3, 2**26), "float16") == 2.0**-24


# --------------------------------------------------------------------------- quantize vs reference
@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_quantize_fp32_random_many_magnitudes(rounding):
    gen = torch.Generator().manual_seed(1234)
    rows = []
    for p in range(-30, 31, 3):
        rows.append(torch.randn(64, generator=gen, dtype=torch.float64) * 10.0**p)
    # fp32 subnormal magnitudes, and the largest finite magnitudes.
    for scale in (1e-38, 1e-40, 1e-43, 1e38):
        rows.append((torch.randn(64, generator=gen, dtype=torch.float64) * scale).clamp(-3.4e38, 3.4e38))
    # Blocks with a wide dynamic range: most elements underflow into e4m3 subnormals or zero.
    for _ in range(4):
        exps = torch.randint(-40, 5, (64,), generator=gen).to(torch.float64)
        rows.append(torch.randn(64, generator=gen, dtype=torch.float64) * 2.0**exps)
    x = torch.stack(rows).to(torch.float32)
    assert torch.isfinite(x).all()
    assert_matches_reference(x, rounding)


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_quantize_bf16_random_many_magnitudes(rounding):
    gen = torch.Generator().manual_seed(99)
    rows = [torch.randn(64, generator=gen, dtype=torch.float64) * 10.0**p for p in range(-30, 31, 5)]
    rows += [torch.randn(64, generator=gen, dtype=torch.float64) * s for s in (1e-39, 1e-40, 3e37)]
    x = torch.stack(rows).to(torch.bfloat16)
    assert torch.isfinite(x).all()
    assert (x != 0).sum() > 0.9 * x.numel()
    assert_matches_reference(x, rounding)


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_quantize_fp16_random_many_magnitudes(rounding):
    gen = torch.Generator().manual_seed(7)
    rows = [torch.randn(64, generator=gen, dtype=torch.float64) * 10.0**p for p in range(-7, 5)]
    x = torch.stack(rows).clamp(-60000, 60000).to(torch.float16)
    assert torch.isfinite(x).all()
    assert_matches_reference(x, rounding)


# --------------------------------------------------------------------------- scale boundaries
BOUNDARY_EXPONENTS = (-110, -40, -8, 0, 1, 17, 60, 118)


def _boundary_cases(j: int):
    """(value, rceil scale byte, floor scale byte, rceil data byte, floor data byte)."""
    below = lambda v: torch.nextafter(torch.tensor(v, dtype=torch.float32), torch.tensor(0.0)).item()  # noqa: E731
    above = lambda v: torch.nextafter(torch.tensor(v, dtype=torch.float32), torch.tensor(math.inf)).item()  # noqa: E731
    p2, m448, m480, m512 = (fp32_from_parts(m, j) for m in (1.0, 448.0, 480.0, 512.0))
    return [
        (p2, j + 119, j + 119, 0x78, 0x78),  # 2**j / 2**(j-8) = 256 either way
        (below(p2), j + 119, j + 118, 0x78, 0x7E),  # floor: just under 512 -> saturates to 448
        (m448, j + 127, j + 127, 0x7E, 0x7E),
        (below(m448), j + 127, j + 127, 0x7E, 0x7E),
        (above(m448), j + 128, j + 127, None, 0x7E),
        (m480, j + 128, j + 127, 0x77, 0x7E),  # rceil: 480/2 = 240 = 1.875 * 2**7
        (below(m512), j + 128, j + 127, 0x78, 0x7E),
        (m512, j + 128, j + 128, 0x78, 0x78),
    ]


@pytest.mark.parametrize("j", BOUNDARY_EXPONENTS)
def test_quantize_scale_at_powers_of_two_and_448_boundaries(j):
    cases = _boundary_cases(j)
    gen = torch.Generator().manual_seed(j + 1000)
    rows = []
    for value, *_ in cases:
        row = torch.rand(32, generator=gen, dtype=torch.float64) * 2 - 1
        row = (row * value).to(torch.float32)
        row[0] = value
        row[1] = -value  # amax reached with both signs
        rows.append(row)
    x = torch.stack(rows)
    for rounding, col in (("rceil", 1), ("floor", 2)):
        data, scales = assert_matches_reference(x, rounding)
        assert scales[:, 0].tolist() == [c[col] for c in cases], rounding
        bytes_ = data.view(torch.uint8)
        for i, case in enumerate(cases):
            expected = case[col + 2]
            if expected is not None:
                assert bytes_[i, 0].item() == expected, (rounding, i)
                assert bytes_[i, 1].item() == expected | 0x80, (rounding, i)


@pytest.mark.parametrize("dtype", DTYPES)
def test_rceil_and_floor_differ_exactly_between_448_and_512(dtype):
    # amax = 464 * 2**4: rceil takes the next scale (nothing saturates), floor saturates.
    x = torch.zeros(2, 32, dtype=dtype)
    x[0, 0] = 464 * 16
    x[1, 0] = 448 * 16
    rc_data, rc_scales = quantize_mxfp8(x, rounding="rceil")
    fl_data, fl_scales = quantize_mxfp8(x, rounding="floor")
    assert rc_scales[:, 0].tolist() == [132, 131]
    assert fl_scales[:, 0].tolist() == [131, 131]
    # 7424 / 32 = 232, a tie between 224 (0x76) and 240 (0x77): even wins.
    assert rc_data.view(torch.uint8)[0, 0].item() == e4m3_byte(224.0) == 0x76
    assert fl_data.view(torch.uint8)[0, 0].item() == 0x7E  # 7424 / 16 = 464 -> 448
    assert rc_data.view(torch.uint8)[1, 0].item() == fl_data.view(torch.uint8)[1, 0].item() == 0x7E


# --------------------------------------------------------------------------- ties
def _grid_midpoints():
    grid = torch.arange(127, dtype=torch.int32).to(torch.uint8).view(torch.float8_e4m3fn).to(torch.float64)
    return [((grid[i] + grid[i + 1]) / 2).item() for i in range(126)]


def _tie_tensor(values: list[float], factor: float, dtype: torch.dtype) -> torch.Tensor:
    blocks = []
    for start in range(0, len(values), 31):
        chunk = values[start : start + 31]
        blocks.append([448.0] + chunk + [0.0] * (31 - len(chunk)))
    x = torch.tensor(blocks, dtype=torch.float64) * factor
    out = x.to(dtype)
    assert torch.equal(out.to(torch.float64), x), "tie values must be exact in the input dtype"
    return out.reshape(1, -1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_ties_round_to_even(rounding, dtype):
    mids = _grid_midpoints()
    values = mids + [-m for m in mids]
    # Even bit pattern of the two neighbours (bytes i and i+1).
    expected = [i if i % 2 == 0 else i + 1 for i in range(126)]
    expected = expected + [b | 0x80 for b in expected]
    factors = (1.0, 2.0**-20, 2.0**10) if dtype != torch.float16 else (1.0, 2.0**-4, 2.0**5)
    for factor in factors:
        x = _tie_tensor(values, factor, dtype)
        data, scales = assert_matches_reference(x, rounding)
        assert (scales == 127 + int(math.log2(factor))).all()
        got = data.view(torch.uint8).reshape(-1, 32)[:, 1:].reshape(-1)[: len(values)]
        assert got.tolist() == expected


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_one_ulp_off_ties_round_to_nearest(rounding):
    mids = torch.tensor(_grid_midpoints(), dtype=torch.float32)
    up = torch.nextafter(mids, torch.full_like(mids, math.inf))
    down = torch.nextafter(mids, torch.zeros_like(mids))
    for values, offset in ((up, 1), (down, 0)):
        x = _tie_tensor(values.tolist(), 1.0, torch.float32)
        data, _ = assert_matches_reference(x, rounding)
        got = data.view(torch.uint8).reshape(-1, 32)[:, 1:].reshape(-1)[:126]
        assert got.tolist() == [i + offset for i in range(126)]


# --------------------------------------------------------------------------- special blocks
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_all_zero_block(rounding, dtype):
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(2, 96, generator=gen).to(dtype)
    x[0, 32:64] = 0.0
    x[1, 64:96] = -0.0
    data, scales = assert_matches_reference(x, rounding)
    assert scales[0, 1].item() == 0 and scales[1, 2].item() == 0
    assert (data.view(torch.uint8)[0, 32:64] == 0).all()
    assert (data.view(torch.uint8)[1, 64:96] == 0x80).all()  # the sign of -0 survives
    assert (scales[0, [0, 2]] != 0).all() and (scales[1, :2] != 0).all()


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_fp32_subnormal_amax(rounding):
    gen = torch.Generator().manual_seed(11)
    x = torch.zeros(4, 32, dtype=torch.float32)
    x[0] = (torch.randn(32, generator=gen, dtype=torch.float64) * 1e-39).to(torch.float32)
    x[1, 0] = fp32_from_parts(1.0, -130)  # scale clamps to 0: element 2**-130 * 2**127 = 2**-3
    x[2, 0] = fp32_from_parts(1.0, -149)  # the smallest subnormal: rounds to 0 under scale 2**-127
    x[3, 0] = fp32_from_parts(1.0, -125)  # normal, but the scale still clamps to 0
    x[3, 1] = fp32_from_parts(1.0, -149)
    assert (x[0].abs() < 2.0**-126).all() and (x[0] != 0).any()
    data, scales = assert_matches_reference(x, rounding)
    assert scales[:, 0].tolist() == [0, 0, 0, 0]
    b = data.view(torch.uint8)
    assert b[1, 0].item() == e4m3_byte(0.125)
    assert b[2, 0].item() == 0
    assert b[3, 0].item() == e4m3_byte(4.0) and b[3, 1].item() == 0
    assert (b[0] != 0).any()


@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("dtype", (torch.bfloat16, torch.float16))
def test_half_precision_subnormal_amax(rounding, dtype):
    gen = torch.Generator().manual_seed(12)
    tiny = torch.finfo(dtype).tiny  # smallest normal
    x = (torch.rand(3, 32, generator=gen, dtype=torch.float64) * 2 - 1) * tiny
    x = x.to(dtype)
    x[2, 0] = torch.finfo(dtype).smallest_normal / 2**3
    assert (x.abs() < tiny).all() and (x != 0).sum() > 60
    assert_matches_reference(x, rounding)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_inf_and_nan_poison_only_their_block(rounding, dtype):
    gen = torch.Generator().manual_seed(21)
    clean = torch.randn(3, 128, generator=gen).to(dtype)
    x = clean.clone()
    x[0, 40] = math.inf  # block 1
    x[1, 95] = -math.inf  # block 2
    x[2, 0] = math.nan  # block 0
    x[2, 100] = math.nan  # block 3 holds NaN and +inf
    x[2, 101] = math.inf
    data, scales = assert_matches_reference(x, rounding)
    poisoned = {(0, 1), (1, 2), (2, 0), (2, 3)}
    clean_data, clean_scales = quantize_mxfp8(clean, rounding=rounding)
    b, cb = data.view(torch.uint8), clean_data.view(torch.uint8)
    for r in range(3):
        for blk in range(4):
            cols = slice(32 * blk, 32 * blk + 32)
            if (r, blk) in poisoned:
                assert scales[r, blk].item() == 0xFF
                assert (b[r, cols] == 0x7F).all()
            else:
                assert scales[r, blk].item() == clean_scales[r, blk].item() != 0xFF
                assert torch.equal(b[r, cols], cb[r, cols])


@pytest.mark.parametrize("dtype", (torch.float32, torch.bfloat16))
@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_amax_above_largest_finite_scale(rounding, dtype):
    fmax = torch.finfo(dtype).max
    x = torch.zeros(3, 32, dtype=torch.float64)
    x[0, 0], x[0, 1], x[0, 2] = 3e38, -1e38, 1.0
    x[1, 0], x[1, 5] = -fmax, fmax / 3
    x[2] = torch.linspace(-3e38, 3e38, 32, dtype=torch.float64)
    x = x.to(dtype)
    assert torch.isfinite(x).all()
    data, scales = assert_matches_reference(x, rounding)
    assert (scales != 0xFF).all() and (scales <= 254).all()
    assert (scales > 240).all()
    nan_bytes = (data.view(torch.uint8) & 0x7F) == 0x7F
    assert not nan_bytes.any()
    # 3e38 = 2**127.8: floor gives 127 - 8 + 127, rceil ceil(log2(3e38 / 448)) + 127.
    expected = {"rceil": 247, "floor": 246}[rounding]
    assert scales[0, 0].item() == expected
    # The block of 3e38 round-trips to finite values within e4m3 precision.
    back = dequantize_mxfp8(data, scales, torch.float32).to(torch.float64)
    assert torch.isfinite(back[0]).all()
    assert abs(back[0, 0].item() - x[0, 0].item()) <= 2**-4 * x[0, 0].item()


# --------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("shape", [(0, 64), (2, 0, 64), (0, 32), (3, 0, 0, 96)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_quantize_empty_m(shape, dtype):
    x = torch.empty(shape, dtype=dtype)
    for rounding in ROUNDINGS:
        data, scales = quantize_mxfp8(x, rounding=rounding)
        assert data.shape == shape and data.dtype == torch.float8_e4m3fn
        assert scales.shape == (*shape[:-1], shape[-1] // 32) and scales.dtype == torch.uint8
        back = dequantize_mxfp8(data, scales, dtype)
        assert back.shape == shape and back.dtype == dtype


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_quantize_1d_and_3d(rounding):
    gen = torch.Generator().manual_seed(3)
    x1 = torch.randn(96, generator=gen) * 3
    d1, s1 = assert_matches_reference(x1, rounding)
    assert d1.shape == (96,) and s1.shape == (3,)
    x3 = torch.randn(2, 3, 64, generator=gen).to(torch.bfloat16)
    d3, s3 = assert_matches_reference(x3, rounding)
    assert d3.shape == (2, 3, 64) and s3.shape == (2, 3, 2)
    # Each row of a 3-D tensor is quantized like the same row on its own.
    d_row, s_row = quantize_mxfp8(x3[1, 2], rounding=rounding)
    assert torch.equal(d_row.view(torch.uint8), d3[1, 2].view(torch.uint8))
    assert torch.equal(s_row, s3[1, 2])


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_quantize_non_contiguous_input(rounding):
    gen = torch.Generator().manual_seed(4)
    base = torch.randn(64, 5, generator=gen)
    x = base.t()  # [5, 64], strides (1, 5)
    assert not x.is_contiguous()
    d, s = assert_matches_reference(x, rounding)
    dc, sc = quantize_mxfp8(x.contiguous(), rounding=rounding)
    assert torch.equal(d.view(torch.uint8), dc.view(torch.uint8)) and torch.equal(s, sc)


def test_default_rounding_is_rceil():
    x = torch.zeros(1, 32)
    x[0, 0] = 480.0
    _, s_default = quantize_mxfp8(x)
    _, s_rceil = quantize_mxfp8(x, rounding="rceil")
    _, s_floor = quantize_mxfp8(x, rounding="floor")
    assert s_default.item() == s_rceil.item() == 128 and s_floor.item() == 127


# --------------------------------------------------------------------------- quantize errors
@pytest.mark.parametrize("shape", [(4, 48), (33,), (2, 3, 16), (1, 31)])
def test_quantize_k_not_multiple_of_32(shape):
    with pytest.raises(ValueError, match="32"):
        quantize_mxfp8(torch.zeros(shape))


@pytest.mark.parametrize("dtype", [torch.int32, torch.int8, torch.uint8, torch.float64, torch.float8_e4m3fn])
def test_quantize_wrong_dtype(dtype):
    x = torch.zeros(2, 32).to(dtype)
    with pytest.raises(TypeError, match="dtype"):
        quantize_mxfp8(x)


def test_quantize_rejects_non_tensor_and_scalar():
    with pytest.raises(TypeError):
        quantize_mxfp8([0.0] * 32)
    with pytest.raises(ValueError):
        quantize_mxfp8(torch.tensor(1.0))


@pytest.mark.parametrize("rounding", ["nearest", "RCEIL", "ceil", "", None])
def test_quantize_bad_rounding(rounding):
    with pytest.raises(ValueError, match="rounding"):
        quantize_mxfp8(torch.zeros(1, 32), rounding=rounding)


# --------------------------------------------------------------------------- dequantize
SCALE_SWEEP = (0, 1, 100, 127, 200, 254, 255)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dequantize_all_bytes_all_scales_bit_exact(dtype):
    data_bytes = torch.arange(256, dtype=torch.int32).to(torch.uint8).repeat(len(SCALE_SWEEP), 1)  # [7, 256]
    scales = torch.tensor(SCALE_SWEEP, dtype=torch.uint8).unsqueeze(1).repeat(1, 8)  # [7, 8]
    data = data_bytes.view(torch.float8_e4m3fn)
    out = dequantize_mxfp8(data, scales, dtype)
    assert out.dtype == dtype and out.shape == (7, 256)
    expected = torch.tensor(
        ref.dequantize(data_bytes.reshape(-1).tolist(), scales.reshape(-1).tolist(), FMT[dtype]),
        dtype=torch.float64,
    ).reshape(7, 256)
    expected_in_dtype = expected.to(dtype)
    # The reference values are already rounded to dtype, so this conversion is exact.
    finite = torch.isfinite(expected)
    assert torch.equal(expected_in_dtype.to(torch.float64)[finite], expected[finite])
    assert_same_floats(out, expected_in_dtype)
    # Sanity of the sweep: scale 255 is NaN everywhere, 0x7F/0xFF are NaN for every scale.
    assert torch.isnan(out[-1]).all()
    assert torch.isnan(out[:, 0x7F]).all() and torch.isnan(out[:, 0xFF]).all()
    assert out[3, 0x38].item() == 1.0  # e4m3 1.0 at scale 2**0
    assert torch.signbit(out[:-1, 0x80]).all() and (out[:-1, 0x80] == 0).all()


def test_dequantize_default_dtype_is_bfloat16():
    data, scales = quantize_mxfp8(torch.ones(2, 64))
    out = dequantize_mxfp8(data, scales)
    assert out.dtype == torch.bfloat16 and torch.equal(out, torch.ones(2, 64, dtype=torch.bfloat16))


@pytest.mark.parametrize("dtype", DTYPES)
def test_dequantize_random_bytes_3d_bit_exact(dtype):
    gen = torch.Generator().manual_seed(8)
    data_bytes = torch.randint(0, 256, (2, 3, 64), generator=gen, dtype=torch.int32).to(torch.uint8)
    scales = torch.randint(90, 170, (2, 3, 2), generator=gen, dtype=torch.int32).to(torch.uint8)
    out = dequantize_mxfp8(data_bytes.view(torch.float8_e4m3fn), scales, dtype)
    expected = torch.tensor(
        ref.dequantize(data_bytes.reshape(-1).tolist(), scales.reshape(-1).tolist(), FMT[dtype]),
        dtype=torch.float64,
    ).reshape(2, 3, 64)
    assert_same_floats(out, expected.to(dtype))


def test_dequantize_float64_is_exact_or_rejected():
    data = torch.full((1, 32), 0x7E, dtype=torch.uint8).view(torch.float8_e4m3fn)  # 448
    scales = torch.tensor([[254]], dtype=torch.uint8)  # 2**127
    try:
        out = dequantize_mxfp8(data, scales, torch.float64)
    except TypeError:
        return  # rejecting float64 outright would also honour "rounded once to dtype"
    assert out[0, 0].item() == 448.0 * 2.0**127


@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip_error_bound_rceil(dtype):
    # rceil never saturates; an element in e4m3's normal range (scaled magnitude >= 2**-6)
    # has 4 significant bits after round-to-nearest: relative error <= 2**-4. Below that,
    # the absolute error is at most half the smallest subnormal step, 2**-10 * scale.
    gen = torch.Generator().manual_seed(31)
    exps = torch.randint(-12, 4, (16, 128), generator=gen).to(torch.float64)
    x64 = torch.randn(16, 128, generator=gen, dtype=torch.float64) * 2.0**exps * 100
    x = x64.to(dtype)
    data, scales = quantize_mxfp8(x, rounding="rceil")
    back = dequantize_mxfp8(data, scales, torch.float32).to(torch.float64)
    xd = x.to(torch.float64)
    scale = torch.pow(2.0, scales.to(torch.float64) - 127).repeat_interleave(32, dim=-1)
    err = (back - xd).abs()
    normal = xd.abs() >= 2.0**-6 * scale
    assert normal.sum() > 0.5 * x.numel() and (~normal).sum() > 0
    assert (err[normal] <= 2.0**-4 * xd.abs()[normal]).all()
    assert (err[~normal] <= 2.0**-10 * scale[~normal]).all()
    assert ((xd.abs() / scale) <= 448).all()
    # The bound is tight enough to matter: some element uses most of it.
    assert (err[normal] / xd.abs()[normal]).max() > 2.0**-5


def test_round_trip_error_bound_floor():
    # floor: elements whose scaled magnitude exceeds 448 saturate to +-448 * scale; every
    # other element obeys the same bounds as rceil.
    gen = torch.Generator().manual_seed(32)
    x = torch.randn(32, 64, generator=gen, dtype=torch.float64)
    x[:, 0] = 500.0 * 2.0 ** torch.randint(-20, 20, (32,), generator=gen).to(torch.float64)
    x = x.to(torch.float32)
    data, scales = quantize_mxfp8(x, rounding="floor")
    back = dequantize_mxfp8(data, scales, torch.float32).to(torch.float64)
    xd = x.to(torch.float64)
    scale = torch.pow(2.0, scales.to(torch.float64) - 127).repeat_interleave(32, dim=-1)
    scaled = xd.abs() / scale
    saturated = scaled > 448
    assert saturated.sum() >= 32
    assert torch.equal(back[saturated], torch.sign(xd[saturated]) * 448 * scale[saturated])
    normal = ~saturated & (scaled >= 2.0**-6)
    sub = ~saturated & ~normal
    err = (back - xd).abs()
    assert (err[normal] <= 2.0**-4 * xd.abs()[normal]).all()
    assert (err[sub] <= 2.0**-10 * scale[sub]).all()


def test_round_trip_special_blocks():
    x = torch.zeros(1, 96)
    x[0, 32] = math.nan
    x[0, 64:] = 1.5
    data, scales = quantize_mxfp8(x)
    back = dequantize_mxfp8(data, scales, torch.float32)
    assert (back[0, :32] == 0).all()
    assert torch.isnan(back[0, 32:64]).all()
    assert (back[0, 64:] == 1.5).all()


# --------------------------------------------------------------------------- dequantize errors
def _pair(n=2, k=64):
    return quantize_mxfp8(torch.ones(n, k))


def test_dequantize_wrong_data_dtype():
    data, scales = _pair()
    with pytest.raises(TypeError, match="float8_e4m3fn"):
        dequantize_mxfp8(data.view(torch.uint8), scales)
    with pytest.raises(TypeError, match="float8_e4m3fn"):
        dequantize_mxfp8(torch.ones(2, 64), scales)


def test_dequantize_wrong_scales_dtype():
    data, scales = _pair()
    with pytest.raises(TypeError, match="uint8"):
        dequantize_mxfp8(data, scales.to(torch.int32))
    with pytest.raises(TypeError, match="uint8"):
        dequantize_mxfp8(data, None)


@pytest.mark.parametrize("bad_shape", [(2, 3), (2, 1), (1, 2), (2,), (2, 2, 1)])
def test_dequantize_scales_shape_mismatch(bad_shape):
    data, _ = _pair()
    with pytest.raises(ValueError, match=r"\(2, 2\)"):
        dequantize_mxfp8(data, torch.zeros(bad_shape, dtype=torch.uint8))


def test_dequantize_k_not_multiple_of_32_and_scalar():
    data = torch.zeros(2, 48, dtype=torch.uint8).view(torch.float8_e4m3fn)
    with pytest.raises(ValueError, match="32"):
        dequantize_mxfp8(data, torch.zeros(2, 1, dtype=torch.uint8))
    scalar = torch.zeros((), dtype=torch.uint8).view(torch.float8_e4m3fn)
    with pytest.raises(ValueError):
        dequantize_mxfp8(scalar, torch.zeros((), dtype=torch.uint8))


@pytest.mark.parametrize("dtype", [torch.int32, torch.uint8, torch.bool, "bfloat16", float])
def test_dequantize_non_floating_output_dtype(dtype):
    data, scales = _pair()
    with pytest.raises(TypeError, match="floating"):
        dequantize_mxfp8(data, scales, dtype)


def test_check_mxfp8_pair_names_the_caller():
    data, scales = _pair()
    assert check_mxfp8_pair(data, scales, "who") is None
    with pytest.raises(ValueError, match="^my_op: "):
        check_mxfp8_pair(data, scales[:, :1], "my_op")
    with pytest.raises(TypeError, match="^my_op: "):
        check_mxfp8_pair(data.view(torch.uint8), scales, "my_op")
