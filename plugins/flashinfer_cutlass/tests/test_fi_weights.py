"""process_weights_after_loading: scales into the swizzled 128x4 layout bit-exactly, the
weight into mm_mxfp8's [K, N] column-major orientation, atomically."""

from __future__ import annotations

import pytest
import torch

import mxfp8_flashinfer_cutlass.kernel as kernel_module
from mxfp8_core import Mxfp8LinearLayerConfig
from mxfp8_core.kernel import PROCESSED_ATTR
from mxfp8_flashinfer_cutlass import FlashInferCutlassMxfp8Kernel as Kernel

SHAPES = [(128, 128), (160, 160), (256, 4096), (384, 224), (4096, 1024)]  # (N, K)


def expected_swizzled(scales: torch.Tensor) -> torch.Tensor:
    """The 128x4 buffer written element by element from the offset formula
    (r//128)*(Ct*512) + (c//4)*512 + (r%32)*16 + ((r%128)//32)*4 + (c%4)."""
    rows, cols = scales.shape
    ct = -(-cols // 4)
    size = -(-rows // 128) * 128 * ct * 4
    r = torch.arange(rows).unsqueeze(1)
    c = torch.arange(cols).unsqueeze(0)
    offsets = (r // 128) * (ct * 512) + (c // 4) * 512 + (r % 32) * 16 + ((r % 128) // 32) * 4 + (c % 4)
    assert offsets.unique().numel() == rows * cols  # the formula is one-to-one
    out = torch.zeros(size, dtype=torch.uint8)
    out[offsets.flatten()] = scales.flatten()
    return out


@pytest.mark.parametrize("n, k", SHAPES)
def test_weight_scale_is_the_128x4_layout_bit_exactly(layer_factory, n, k):
    layer, _ = layer_factory(n, k, seed=n + k)
    original = layer.weight_scale.detach().clone()
    assert original.unique().numel() > 10  # the test data really varies
    Kernel(Mxfp8LinearLayerConfig(k, n)).process_weights_after_loading(layer)
    swizzled = layer.weight_scale
    assert swizzled.dtype == torch.uint8 and swizzled.dim() == 1 and swizzled.is_contiguous()
    # FlashInfer's size check for b_descale: round_up(N, 128) * round_up(K/32, 4).
    assert swizzled.numel() == -(-n // 128) * 128 * -(-(k // 32) // 4) * 4
    assert torch.equal(swizzled, expected_swizzled(original))


@pytest.mark.parametrize("n, k", [(160, 160), (384, 224)])
def test_padding_bytes_are_zero(layer_factory, n, k):
    layer, _ = layer_factory(n, k)
    scales = layer.weight_scale.detach().clone()
    Kernel(Mxfp8LinearLayerConfig(k, n)).process_weights_after_loading(layer)
    padding = torch.ones_like(layer.weight_scale, dtype=torch.bool)
    padding[expected_swizzled(torch.ones_like(scales)).bool()] = False
    assert padding.sum() == layer.weight_scale.numel() - n * (k // 32) > 0
    assert (layer.weight_scale[padding] == 0).all()


@pytest.mark.parametrize("n, k", [(160, 160), (384, 224)])
def test_flashinfer_reads_back_the_same_scales(layer_factory, n, k):
    """Cross-check with FlashInfer's own (private, pure torch) 128x4 unswizzle."""
    gemm_bf16_fp4 = pytest.importorskip("flashinfer.gemm.gemm_bf16_fp4")
    unswizzle = getattr(gemm_bf16_fp4, "_unswizzle_sf_128x4", None)
    if unswizzle is None:
        pytest.skip("this FlashInfer has no _unswizzle_sf_128x4")
    layer, _ = layer_factory(n, k)
    original = layer.weight_scale.detach().clone()
    Kernel(Mxfp8LinearLayerConfig(k, n)).process_weights_after_loading(layer)
    assert torch.equal(unswizzle(layer.weight_scale, n, k // 32).reshape(n, k // 32), original)


@pytest.mark.parametrize("n, k", SHAPES)
def test_weight_is_k_by_n_column_major(layer_factory, n, k):
    layer, _ = layer_factory(n, k)
    original = layer.weight.detach().view(torch.uint8).clone()
    Kernel(Mxfp8LinearLayerConfig(k, n)).process_weights_after_loading(layer)
    weight = layer.weight
    assert weight.dtype == torch.float8_e4m3fn
    assert tuple(weight.shape) == (k, n)
    assert weight.stride() == (1, k)  # column-major [K, N]
    assert weight.t().is_contiguous()  # FlashInfer's CUTLASS path checks b.T
    assert torch.equal(weight.t().view(torch.uint8), original)
    assert isinstance(weight, torch.nn.Parameter) and not weight.requires_grad


def test_non_contiguous_checkpoint_weight_is_made_contiguous(layer_factory):
    layer, _ = layer_factory(256, 256)
    data = layer.weight.detach().view(torch.uint8)
    # the same values stored column-major
    layer.weight = torch.nn.Parameter(data.t().contiguous().t().view(torch.float8_e4m3fn), requires_grad=False)
    assert not layer.weight.is_contiguous()
    Kernel(Mxfp8LinearLayerConfig(256, 256)).process_weights_after_loading(layer)
    assert layer.weight.t().is_contiguous()
    assert torch.equal(layer.weight.t().view(torch.uint8), data)


def test_processing_does_not_copy_a_contiguous_weight(layer_factory):
    layer, _ = layer_factory(256, 512)
    pointer = layer.weight.data_ptr()
    Kernel(Mxfp8LinearLayerConfig(512, 256)).process_weights_after_loading(layer)
    assert layer.weight.data_ptr() == pointer


def test_prepare_weights_is_pure(layer_factory):
    layer, _ = layer_factory(160, 224)
    weight, scale = layer.weight.detach(), layer.weight_scale.detach()
    before = weight.view(torch.uint8).clone(), scale.clone()
    Kernel(Mxfp8LinearLayerConfig(224, 160)).prepare_weights(weight, scale)
    assert torch.equal(weight.view(torch.uint8), before[0]) and torch.equal(scale, before[1])
    assert tuple(weight.shape) == (160, 224)


def test_failing_processing_leaves_the_layer_unchanged(layer_factory, monkeypatch):
    layer, _ = layer_factory(256, 256)
    weight, scale = layer.weight, layer.weight_scale
    snapshot = weight.detach().view(torch.uint8).clone(), scale.detach().clone()

    def broken(_scales):
        raise RuntimeError("swizzle failed")

    monkeypatch.setattr(kernel_module, "swizzle_scales_128x4", broken)
    with pytest.raises(RuntimeError, match="swizzle failed"):
        Kernel(Mxfp8LinearLayerConfig(256, 256)).process_weights_after_loading(layer)
    assert layer.weight is weight and layer.weight_scale is scale
    assert torch.equal(weight.detach().view(torch.uint8), snapshot[0]) and torch.equal(scale, snapshot[1])
    assert getattr(layer, PROCESSED_ATTR, None) is None


def test_processing_twice_is_a_no_op(layer_factory):
    layer, _ = layer_factory(256, 256)
    kernel = Kernel(Mxfp8LinearLayerConfig(256, 256))
    kernel.process_weights_after_loading(layer)
    weight, scale = layer.weight, layer.weight_scale
    kernel.process_weights_after_loading(layer)
    assert layer.weight is weight and layer.weight_scale is scale
    assert getattr(layer, PROCESSED_ATTR) == "flashinfer_cutlass"


def test_wrong_checkpoint_shape_is_a_clear_error(layer_factory):
    layer, _ = layer_factory(256, 256)
    with pytest.raises(ValueError, match=r"layer.weight must be float8_e4m3fn of shape \(512, 256\)"):
        Kernel(Mxfp8LinearLayerConfig(256, 512)).process_weights_after_loading(layer)
