"""Weight processing: the packed layout is exact, bad input is refused, and it is atomic."""

from __future__ import annotations

import pytest
import torch

from mxfp8_core import dequantize_mxfp8
from mxfp8_core.kernel import PROCESSED_ATTR
from mxfp8_marlin import MarlinKernel
from mxfp8_marlin import kernel as kernel_module
from mxfp8_marlin.packing import k_of, pack_weights, stored, tile_k, unpack_weights

from marlin_test_helpers import make


def _random_mxfp8(n, k, seed=0):
    g = torch.Generator().manual_seed(seed)
    data = torch.randint(0, 256, (n, k), generator=g, dtype=torch.uint8)
    data[(data & 0x7F) == 0x7F] = 0x3C  # no NaN bytes
    scales = torch.randint(90, 160, (n, k // 32), generator=g, dtype=torch.uint8)
    return data.view(torch.float8_e4m3fn), scales


def test_packed_layout_is_exactly_the_dequantized_weight():
    q, s = _random_mxfp8(24, 1024)
    s[3] = 0  # a row of the smallest scale (subnormal row scale)
    s[5, 2] = 254  # the largest finite scale next to small ones
    s[7] = 127
    p = pack_weights(q, s)
    assert p["marlin_weight"].dtype == torch.uint8 and p["marlin_weight"].shape == (2, 256, 512)
    assert p["marlin_scale"].shape == (32, 256)
    assert p["marlin_weight"].is_contiguous() and p["marlin_scale"].is_contiguous()
    assert p["marlin_row_scale"].dtype == torch.float32 and p["marlin_row_scale"].shape == (24,)
    ref = dequantize_mxfp8(q, s, torch.float32)
    got = unpack_weights(p["marlin_weight"], p["marlin_scale"], p["marlin_row_scale"])
    rows = torch.ones(24, dtype=torch.bool)
    rows[5] = False  # that row spans 2**164: its tiny blocks underflow, covered below
    assert torch.equal(got[rows], ref[rows])
    assert torch.equal(got[5, 64:96], ref[5, 64:96])


@pytest.mark.parametrize("n,k,tile,expected", [
    (300, 640, None, 128),  # 640 = 5 * 128: the widest power-of-two block dividing K (up to 512)
    (300, 2048, None, 512),
    (64, 640, 640, 640),  # a requested width that divides K is taken as is (640: row-major)
    (8, 64, 96, 64),  # one that does not: the widest power of two below it that does
    (70, 320, None, 64),
    (256, 1024, 512, 512),
    (5, 96, 1024, 32),
])
def test_every_byte_and_scale_lands_in_its_place(n, k, tile, expected):
    q, s = _random_mxfp8(n, k, seed=n)
    p = pack_weights(q, s, tile)
    tk = expected
    padded = -(-n // 256) * 256
    assert tile_k(k, tile) == tk
    assert p["marlin_weight"].shape == (k // tk, padded, tk)
    assert p["marlin_scale"].shape == (k // 32, padded)
    rows, cols = torch.meshgrid(torch.arange(n), torch.arange(k), indexing="ij")
    # Within its MX block, k's bits 0, 3, 4 become the position's bits 0, 1, 2, its bits 1, 2
    # the position's bits 3, 4.
    at = cols - cols % 32 + (cols & 1) + ((cols >> 3) & 3) * 2 + ((cols >> 1) & 3) * 8
    assert torch.equal(p["marlin_weight"][at // tk, rows, at % tk], q.view(torch.uint8))
    rel = s.to(torch.int32).amax(dim=1, keepdim=True) - s.to(torch.int32)
    assert torch.equal(p["marlin_scale"][:, :n].t().to(torch.int32), rel)
    # Padded rows are zero bytes and zero scales (the kernels read them unmasked).
    assert not p["marlin_weight"][:, n:].any() and not p["marlin_scale"][:, n:].any()


def test_each_8_byte_run_of_a_block_is_one_wgmma_fragment():
    """The Hopper decode reads 8 bytes at once: a thread's bytes of an MX block, the k's whose
    bits 1 and 2 (its lane within a group of four) agree, and k's bits 0, 3, 4 in the order of
    its registers (k, k + 1, k + 8, k + 9, k + 16, ...)."""
    assert [k_of(p) for p in range(8)] == [0, 1, 8, 9, 16, 17, 24, 25]
    for run in range(4):
        ks = [k_of(8 * run + i) for i in range(8)]
        assert ks == [k + 2 * run for k in (0, 1, 8, 9, 16, 17, 24, 25)]
    assert sorted(stored(k) for k in range(32)) == list(range(32))
    assert all(k_of(stored(k)) == k for k in range(32))


@pytest.mark.parametrize("tile", [0, 48, -32, 16, 512.0])
def test_a_bad_column_block_width_is_refused(tile):
    q, s = _random_mxfp8(8, 64)
    with pytest.raises(ValueError, match="column-block width must be a positive multiple of 32"):
        pack_weights(q, s, tile)


def test_nan_weight_bytes_are_refused():
    q, s = _random_mxfp8(8, 64)
    q.view(torch.uint8)[6, 3] = 0xFF
    with pytest.raises(ValueError, match="NaN bytes.*row 6"):
        pack_weights(q, s)


@pytest.mark.parametrize("make_pair,error,message", [
    (lambda q, s: (q, s.view(1, -1)[:, :2]), ValueError, r"scales have shape \(1, 2\), expected \(8, 2\)"),
    (lambda q, s: (q, s[:, :1]), ValueError, r"scales have shape \(8, 1\), expected \(8, 2\)"),
    (lambda q, s: (q, s.to(torch.int32) + 200), TypeError, "scales must be a torch.uint8 tensor"),
    (lambda q, s: (q.view(torch.uint8), s), TypeError, "data must be a torch.float8_e4m3fn tensor"),
    (lambda q, s: (q[:, :48], s), ValueError, "multiple of 32"),
    (lambda q, s: (q.view(2, 4, 64), s.view(2, 4, 2)), ValueError, r"takes a weight \[N, K\] \(got \(2, 4, 64\)\)"),
])
def test_pack_weights_refuses_what_is_not_an_mxfp8_weight_and_its_scales(make_pair, error, message):
    """Called directly (prepare_weights gets the core's checked pair): a scale of the wrong
    shape had been broadcast into a layout of other rows, and int32 scales above 255 gave a
    negative row scale."""
    with pytest.raises(error, match=message):
        pack_weights(*make_pair(*_random_mxfp8(8, 64)))


def test_nan_scale_bytes_are_refused():
    q, s = _random_mxfp8(8, 64)
    s[5, 1] = 0xFF  # had given the row scale inf, so the row's finite blocks too
    with pytest.raises(ValueError, match=r"NaN scale bytes \(0xFF\) in 1 row\(s\), first row 5"):
        pack_weights(q, s)


def _snapshot(layer):
    return {k: v.clone() for k, v in layer.state_dict().items()}


def _same(a, b):
    """Bitwise equality (NaN bytes compare equal to themselves)."""
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(
        a.contiguous().view(torch.uint8), b.contiguous().view(torch.uint8)
    )


def test_process_weights_replaces_the_checkpoint_tensors():
    layer, config, w32 = make(40, 96)
    MarlinKernel(config).process_weights_after_loading(layer)
    assert not hasattr(layer, "weight") and not hasattr(layer, "weight_scale")
    assert layer.marlin_weight.shape == (3, 256, 32)  # rows padded to 256, column blocks of 32
    assert getattr(layer, PROCESSED_ATTR) == "marlin"
    got = unpack_weights(layer.marlin_weight, layer.marlin_scale, layer.marlin_row_scale)
    assert torch.equal(got, w32)
    MarlinKernel(config).process_weights_after_loading(layer)  # a second call is a no-op


def test_failing_prepare_leaves_the_layer_unchanged_nan():
    layer, config, _ = make(40, 96)
    layer.weight.data.view(torch.uint8)[1, 1] = 0x7F
    before = _snapshot(layer)
    with pytest.raises(ValueError, match="NaN"):
        MarlinKernel(config).process_weights_after_loading(layer)
    after = _snapshot(layer)
    assert before.keys() == after.keys() and all(_same(before[k], after[k]) for k in before)
    assert not hasattr(layer, "marlin_weight") and not hasattr(layer, PROCESSED_ATTR)


def test_failing_prepare_leaves_the_layer_unchanged_midway(monkeypatch):
    layer, config, _ = make(40, 96)
    before = _snapshot(layer)

    def boom(weight, scale):
        raise RuntimeError("out of memory while repacking")

    monkeypatch.setattr(kernel_module, "pack_weights", boom)
    with pytest.raises(RuntimeError, match="repacking"):
        MarlinKernel(config).process_weights_after_loading(layer)
    after = _snapshot(layer)
    assert before.keys() == after.keys() and all(_same(before[k], after[k]) for k in before)
    assert not hasattr(layer, PROCESSED_ATTR)


def test_wrong_weights_are_refused_before_any_change():
    layer, config, _ = make(40, 96)
    layer.weight_scale.data = layer.weight_scale.data[:, :2].contiguous()
    before = _snapshot(layer)
    with pytest.raises(ValueError, match="weight_scale"):
        MarlinKernel(config).process_weights_after_loading(layer)
    assert all(_same(before[k], v) for k, v in _snapshot(layer).items())


def test_apply_before_processing_is_a_clear_error():
    layer, config, _ = make(40, 96)
    with pytest.raises(RuntimeError, match="process_weights_after_loading"):
        MarlinKernel(config).apply_weights(layer, torch.randn(2, 96).to(torch.bfloat16))


def test_bad_inputs_are_refused():
    layer, config, _ = make(40, 96, bias=True)
    kernel = MarlinKernel(config)
    kernel.process_weights_after_loading(layer)
    with pytest.raises(ValueError, match="expects input"):
        kernel.apply_weights(layer, torch.randn(2, 64).to(torch.bfloat16))
    with pytest.raises(ValueError, match="expects input"):
        kernel.apply_weights(layer, torch.randn(2, 96))  # fp32
    with pytest.raises(ValueError, match="bias"):
        kernel.apply_weights(layer, torch.randn(2, 96).to(torch.bfloat16), torch.randn(39))
