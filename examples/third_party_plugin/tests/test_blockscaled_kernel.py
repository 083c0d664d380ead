"""What the conformance kit cannot know: this kernel's own semantics and its packaging."""

import torch

from mxfp8_core import (
    BLOCK_SIZE, Mxfp8Linear, Mxfp8LinearLayerConfig, dequantize_mxfp8, get_registry, quantize_mxfp8, select_kernel,
)
from mxfp8_example_blockscaled import BlockScaledKernel


def make_layer(k=96, n=40, dtype=torch.float32, bias=True, seed=0):
    gen = torch.Generator().manual_seed(seed)
    layer = Mxfp8Linear(k, n, bias=bias, act_dtype=dtype)
    layer.weight.data, layer.weight_scale.data = quantize_mxfp8(torch.randn(n, k, generator=gen))
    if bias:
        layer.bias.data = torch.randn(n, generator=gen).to(dtype)
    return layer


def test_matches_mx_semantics_quantized_activations_times_dequantized_weights():
    # W8A8 MX semantics: y = deq(quant(x)) @ deq(W).T + b. In float64 that is the exact
    # value; the kernel sums fp8 block products in float32, so it agrees to ~1e-6.
    layer = make_layer()
    weight = dequantize_mxfp8(layer.weight, layer.weight_scale, torch.float64)
    bias = layer.bias.double()
    kernel = BlockScaledKernel(layer.config)
    kernel.process_weights_after_loading(layer)
    x = torch.randn(7, 96)
    expected = dequantize_mxfp8(*quantize_mxfp8(x), torch.float64) @ weight.T + bias
    y = kernel.apply_weights(layer, x, layer.bias)
    assert torch.allclose(y.double(), expected, rtol=1e-5, atol=1e-5)


def test_weights_are_repacked_block_major():
    layer = make_layer(k=64, n=8, bias=False)
    weight, scale = layer.weight.detach().clone(), layer.weight_scale.detach().clone()
    BlockScaledKernel(layer.config).process_weights_after_loading(layer)
    assert not hasattr(layer, "weight") and not hasattr(layer, "weight_scale")
    assert layer.blockscaled_weight.shape == (64 // BLOCK_SIZE, BLOCK_SIZE, 8)
    assert torch.equal(layer.blockscaled_weight[1, 3].view(torch.uint8), weight[:, 32 + 3].view(torch.uint8))
    assert torch.equal(layer.blockscaled_scale, scale.T)


def test_registered_through_its_entry_point_with_a_negative_priority():
    entry = get_registry().get("example_blockscaled")
    assert entry.kernel is BlockScaledKernel
    assert entry.plugin.distribution == "mxfp8-example-blockscaled"
    assert BlockScaledKernel.priority < 0


def test_opt_in_only(monkeypatch):
    config = Mxfp8LinearLayerConfig(256, 128)
    monkeypatch.delenv("MXFP8_KERNELS", raising=False)
    monkeypatch.delenv("MXFP8_DISABLED_KERNELS", raising=False)
    chosen = select_kernel(config, capability="cpu")
    others = [c for c in chosen.candidates if c.name != "example_blockscaled" and c.verdict in ("selected", "usable")]
    if others:  # any kernel of priority >= 0 that can run wins over this one
        assert chosen.name != "example_blockscaled"
    forced = select_kernel(config, capability="cpu", kernels="example_blockscaled")
    assert forced.name == "example_blockscaled"


def test_end_to_end_through_mxfp8_linear():
    linear = torch.nn.Linear(128, 48)
    layer = Mxfp8Linear.from_linear(linear, kernels="example_blockscaled")
    assert layer.kernel.name == "example_blockscaled"
    x = torch.randn(2, 5, 128)
    y = layer(x)
    expected = linear(x)
    assert y.shape == (2, 5, 48)
    assert (y - expected).norm() / expected.norm() < 0.08  # weight and activation rounding to MXFP8
