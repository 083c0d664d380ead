"""The emulation kernel: weight and activation modes, dtypes, memory."""

from __future__ import annotations

import pytest
import torch

from mxfp8_core import Mxfp8Linear, Mxfp8LinearLayerConfig, dequantize_mxfp8, quantize_mxfp8
from mxfp8_emulation import EmulationKernel


def make_layer(n=48, k=96, dtype=torch.bfloat16, bias=True, seed=0):
    torch.manual_seed(seed)
    layer = Mxfp8Linear(k, n, bias=bias, act_dtype=dtype)
    layer.weight.data, layer.weight_scale.data = quantize_mxfp8(torch.randn(n, k))
    if bias:
        layer.bias.data = torch.randn(n).to(dtype)
    return layer


def test_declared_support():
    assert EmulationKernel.is_supported("cpu").ok
    assert EmulationKernel.is_supported((7, 0)).ok and EmulationKernel.is_supported((10, 0)).ok
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        assert EmulationKernel.can_implement(Mxfp8LinearLayerConfig(32, 1, dtype, has_bias=True)).ok
    assert not EmulationKernel.can_implement(Mxfp8LinearLayerConfig(64, 8, bmm_batch_size=4)).ok


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_both_weight_modes_compute_the_same_function(dtype):
    layer_a, layer_b = make_layer(dtype=dtype), make_layer(dtype=dtype)
    weight, scale = layer_a.weight.detach().clone(), layer_a.weight_scale.detach().clone()
    keep = EmulationKernel(layer_a.config)
    once = EmulationKernel(layer_b.config, weights="dequantized")
    assert (keep.weights, keep.activations) == ("mxfp8", "unquantized")  # the documented defaults
    keep.process_weights_after_loading(layer_a)
    once.process_weights_after_loading(layer_b)
    # keep-MXFP8 holds 1 + 1/32 bytes a weight; dequantize-at-load holds the activation dtype.
    assert layer_a.weight.dtype == torch.float8_e4m3fn and layer_a.weight_scale.dtype == torch.uint8
    assert layer_b.weight.dtype == dtype and not hasattr(layer_b, "weight_scale")
    assert torch.equal(layer_b.weight, dequantize_mxfp8(weight, scale, dtype))
    x = torch.randn(5, 96, dtype=dtype)
    assert torch.equal(keep.apply_weights(layer_a, x, layer_a.bias), once.apply_weights(layer_b, x, layer_b.bias))
    ref = x.float() @ dequantize_mxfp8(weight, scale, torch.float32).T + layer_a.bias.float()
    y = keep.apply_weights(layer_a, x, layer_a.bias)
    assert float((y.float() - ref).norm() / ref.norm()) <= EmulationKernel.tolerance(layer_a.config)


def test_a_layer_is_processed_for_one_weight_mode_and_the_other_says_so():
    layer = make_layer()
    keep = EmulationKernel(layer.config)
    once = EmulationKernel(layer.config, weights="dequantized")
    x = torch.randn(2, 96, dtype=torch.bfloat16)
    with pytest.raises(RuntimeError, match=r"kernel 'emulation\(weights=mxfp8\)': the layer's weights were not "
                                           r"processed; call process_weights_after_loading\(layer\)"):
        keep.apply_weights(layer, x, layer.bias)
    once.process_weights_after_loading(layer)
    again = r"load the checkpoint into a new layer to process it for 'emulation\(weights=mxfp8\)'"
    with pytest.raises(RuntimeError, match=r"already processed by kernel 'emulation\(weights=dequantized\)'; " + again):
        keep.process_weights_after_loading(layer)
    with pytest.raises(RuntimeError, match=r"were processed by 'emulation\(weights=dequantized\)'"):
        keep.apply_weights(layer, x, layer.bias)
    assert layer.weight.dtype == torch.bfloat16  # still the dequantized weight
    once.process_weights_after_loading(layer)  # the same mode again: a no-op
    assert once.apply_weights(layer, x, layer.bias).shape == (2, 48)


def test_activation_mode_rounds_activations_through_mxfp8():
    layer = make_layer(dtype=torch.float32, bias=False)
    kernel = EmulationKernel(layer.config, activations="mxfp8")
    kernel.process_weights_after_loading(layer)
    x = torch.randn(4, 96)
    xq = dequantize_mxfp8(*quantize_mxfp8(x, rounding="rceil"), torch.float32)
    w = dequantize_mxfp8(layer.weight, layer.weight_scale, torch.float32)
    assert torch.equal(kernel.apply_weights(layer, x), xq @ w.T)
    assert not torch.equal(kernel.apply_weights(layer, x), x @ w.T)


def test_environment_chooses_the_modes(monkeypatch):
    config = make_layer().config
    monkeypatch.setenv("MXFP8_EMULATION_WEIGHTS", "dequantized")
    monkeypatch.setenv("MXFP8_EMULATION_ACTIVATIONS", "mxfp8")
    kernel = EmulationKernel(config)
    assert (kernel.weights, kernel.activations) == ("dequantized", "mxfp8")
    assert EmulationKernel.tolerance(config) > 0.06  # W8A8 numerics are looser
    monkeypatch.setenv("MXFP8_EMULATION_WEIGHTS", "fp4")
    with pytest.raises(ValueError, match="MXFP8_EMULATION_WEIGHTS must be one of mxfp8, dequantized; got 'fp4'"):
        EmulationKernel(config)
    with pytest.raises(ValueError, match="activations= must be one of unquantized, mxfp8; got 'int8'"):
        EmulationKernel(config, weights="mxfp8", activations="int8")


def test_output_dtype_differs_from_activation_dtype():
    torch.manual_seed(4)
    layer = Mxfp8Linear(64, 16, bias=True, act_dtype=torch.bfloat16, out_dtype=torch.float32)
    layer.weight.data, layer.weight_scale.data = quantize_mxfp8(torch.randn(16, 64))
    layer.bias.data = torch.randn(16)
    layer.process_weights_after_loading()
    x = torch.randn(3, 64, dtype=torch.bfloat16)
    y = layer(x)
    assert y.dtype == torch.float32
    ref = x.float() @ dequantize_mxfp8(layer.weight, layer.weight_scale, torch.float32).T + layer.bias
    # the kernel's own bound (4e-6 here): a GEMM in bf16 cast to float32 errs 1e-3, which
    # 2 * 2**-8 had let through
    assert float((y - ref).norm() / ref.norm()) <= layer.kernel.tolerance(layer.config)


@pytest.mark.parametrize("out", [torch.bfloat16, torch.float16])
def test_float32_activations_into_a_narrower_output(out):
    """The GEMM's dtype is the activations' here: the output must still be rounded to out."""
    torch.manual_seed(6)
    layer = Mxfp8Linear(64, 16, bias=True, act_dtype=torch.float32, out_dtype=out)
    layer.weight.data, layer.weight_scale.data = quantize_mxfp8(torch.randn(16, 64))
    layer.bias.data = torch.randn(16).to(out)
    layer.process_weights_after_loading(kernels=["emulation"])
    x = torch.randn(3, 64)
    y = layer(x)
    ref = x @ dequantize_mxfp8(layer.weight, layer.weight_scale, torch.float32).T + layer.bias.float()
    assert y.dtype == out
    assert float((y.float() - ref).norm() / ref.norm()) <= layer.kernel.tolerance(layer.config)


@pytest.mark.parametrize("weights", ["mxfp8", "dequantized"])
def test_fp16_activations_into_float32_keep_weights_below_fp16s_normal_range(weights):
    """Where the output is float32, the weight is dequantized straight into it: through fp16,
    weights of about 1e-5 (fp16 subnormals) had erred 6x the kernel's tolerance."""
    torch.manual_seed(5)
    config = Mxfp8LinearLayerConfig(1024, 64, torch.float16, torch.float32)
    layer = Mxfp8Linear(1024, 64, act_dtype=torch.float16, out_dtype=torch.float32)
    layer.weight.data, layer.weight_scale.data = quantize_mxfp8(torch.randn(64, 1024) * 1e-5)
    ref_w = dequantize_mxfp8(layer.weight, layer.weight_scale, torch.float64)
    kernel = EmulationKernel(config, weights=weights)
    kernel.process_weights_after_loading(layer)
    x = torch.randn(8, 1024).to(torch.float16)
    y = kernel.apply_weights(layer, x)
    ref = x.double() @ ref_w.T
    assert y.dtype == torch.float32
    assert float((y.double() - ref).norm() / ref.norm()) <= kernel.tolerance(config)


@pytest.mark.gpu
def test_runs_on_cuda_too():
    layer = make_layer().cuda()
    layer.process_weights_after_loading(kernels=["emulation"])
    x = torch.randn(7, 96, dtype=torch.bfloat16, device="cuda")
    y = layer(x)
    ref = x.float() @ dequantize_mxfp8(layer.weight, layer.weight_scale, torch.float32).T + layer.bias.float()
    assert y.device.type == "cuda"
    assert float((y.float() - ref).norm() / ref.norm()) <= EmulationKernel.tolerance(layer.config)
