"""The swizzled 128x4 scale layout, checked element by element against the offset formula."""

from __future__ import annotations

import pytest
import torch

from mxfp8_core.layout import swizzle_scales_128x4, swizzled_128x4_size, unswizzle_scales_128x4

SHAPES = [(1, 1), (128, 4), (130, 9), (257, 3), (0, 4), (300, 40), (5, 0), (127, 5), (256, 8)]


def offset(r: int, c: int, cols: int) -> int:
    """DESIGN.md: (r//128)*(Ct*512) + (c//4)*512 + (r%32)*16 + ((r%128)//32)*4 + (c%4)."""
    ct = (cols + 3) // 4
    return (r // 128) * (ct * 512) + (c // 4) * 512 + (r % 32) * 16 + ((r % 128) // 32) * 4 + (c % 4)


def round_up(v: int, m: int) -> int:
    return (v + m - 1) // m * m


def random_scales(rows: int, cols: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    # 1..255, so that no real element can be mistaken for a zero padding byte.
    return torch.randint(1, 256, (rows, cols), generator=gen, dtype=torch.int32).to(torch.uint8)


@pytest.mark.parametrize("rows,cols", SHAPES)
def test_swizzle_matches_offset_formula(rows, cols):
    scales = random_scales(rows, cols, seed=rows * 1000 + cols)
    out = swizzle_scales_128x4(scales)
    size = round_up(rows, 128) * round_up(cols, 4)
    assert out.dtype == torch.uint8 and out.dim() == 1
    assert out.numel() == size == swizzled_128x4_size(rows, cols)
    buf = out.tolist()
    src = scales.tolist()
    written = [False] * size
    for r in range(rows):
        for c in range(cols):
            o = offset(r, c, cols)
            assert not written[o], f"two elements map to byte {o}"
            written[o] = True
            assert buf[o] == src[r][c], (r, c, o)
    # Every byte not written by an element is padding and must be zero.
    padding = [buf[o] for o in range(size) if not written[o]]
    assert len(padding) == size - rows * cols
    assert all(b == 0 for b in padding)


def test_swizzle_formula_examples():
    # A few hand-checked positions for a [130, 9] matrix (Ct = 3, 1536 bytes per row tile).
    scales = torch.zeros(130, 9, dtype=torch.uint8)
    scales[0, 0] = 1
    scales[1, 0] = 2  # (r%32)*16 = 16
    scales[32, 0] = 3  # ((r%128)//32)*4 = 4
    scales[0, 5] = 4  # (c//4)*512 + c%4 = 513
    scales[129, 8] = 5  # 1536 + 1024 + 16 + 0 + 0 = 2576
    out = swizzle_scales_128x4(scales)
    assert out.numel() == 256 * 12
    assert [out[i].item() for i in (0, 16, 4, 513, 2576)] == [1, 2, 3, 4, 5]
    assert int(out.count_nonzero()) == 5


@pytest.mark.parametrize("rows,cols", SHAPES)
def test_unswizzle_inverts_swizzle(rows, cols):
    scales = random_scales(rows, cols, seed=7 + rows + cols)
    buf = swizzle_scales_128x4(scales)
    back = unswizzle_scales_128x4(buf, rows, cols)
    assert back.shape == (rows, cols) and back.dtype == torch.uint8
    assert back.is_contiguous()
    assert torch.equal(back, scales)


@pytest.mark.parametrize("rows,cols", [(1, 1), (130, 9), (257, 3)])
def test_swizzle_inverts_unswizzle_on_valid_buffers(rows, cols):
    # A buffer with zero padding and arbitrary payload round-trips the other way too.
    scales = random_scales(rows, cols, seed=99)
    buf = swizzle_scales_128x4(scales)
    assert torch.equal(swizzle_scales_128x4(unswizzle_scales_128x4(buf, rows, cols)), buf)


def test_swizzle_non_contiguous_input():
    base = random_scales(9, 130, seed=5)
    scales = base.t()
    assert not scales.is_contiguous()
    assert torch.equal(swizzle_scales_128x4(scales), swizzle_scales_128x4(scales.contiguous()))


def test_swizzle_does_not_modify_or_alias_input():
    scales = random_scales(128, 4, seed=6)
    copy = scales.clone()
    out = swizzle_scales_128x4(scales)
    out.fill_(0)
    assert torch.equal(scales, copy)


@pytest.mark.parametrize(
    "rows,cols,expected",
    [(0, 0, 0), (0, 4, 0), (1, 1, 512), (128, 4, 512), (129, 4, 1024), (128, 5, 1024), (300, 40, 384 * 40), (5, 0, 0)],
)
def test_swizzled_size(rows, cols, expected):
    assert swizzled_128x4_size(rows, cols) == expected


def test_swizzled_size_rejects_bad_dimensions():
    for rows, cols in ((1.5, 4), (4, "4"), (True, 4)):
        with pytest.raises(TypeError, match=r"swizzled_128x4_size: rows and cols must be ints, got"):
            swizzled_128x4_size(rows, cols)
    for rows, cols in ((-200, 4), (4, -1)):
        with pytest.raises(ValueError, match=rf"swizzled_128x4_size: rows and cols must be >= 0, got {rows}, {cols}"):
            swizzled_128x4_size(rows, cols)


@pytest.mark.parametrize(
    "bad",
    [
        torch.zeros(4, 4, dtype=torch.int32),
        torch.zeros(4, 4, dtype=torch.float32),
        torch.zeros(16, dtype=torch.uint8),
        torch.zeros(2, 4, 4, dtype=torch.uint8),
        [[1, 2], [3, 4]],
    ],
)
def test_swizzle_rejects_bad_input(bad):
    with pytest.raises(TypeError, match="swizzle_scales_128x4"):
        swizzle_scales_128x4(bad)


def test_unswizzle_rejects_bad_input():
    good = swizzle_scales_128x4(random_scales(3, 3, seed=1))  # 512 bytes
    with pytest.raises(TypeError):
        unswizzle_scales_128x4(good.view(4, 128), 3, 3)
    with pytest.raises(TypeError):
        unswizzle_scales_128x4(good.to(torch.int32), 3, 3)
    with pytest.raises(ValueError, match="512"):
        unswizzle_scales_128x4(good[:511], 3, 3)
    with pytest.raises(ValueError, match="1024"):
        unswizzle_scales_128x4(good, 129, 3)
    with pytest.raises(ValueError, match=">= 0"):
        unswizzle_scales_128x4(good, -1, 3)
    for rows, cols in ((128.0, 3), (3, "3"), (True, 3)):
        with pytest.raises(TypeError, match="rows and cols must be ints"):
            unswizzle_scales_128x4(good, rows, cols)
    with pytest.raises(ValueError, match=">= 0"):
        unswizzle_scales_128x4(good, 3, -4)
