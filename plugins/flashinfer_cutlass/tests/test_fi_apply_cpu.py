"""apply_weights on a CPU, with FlashInfer's two GPU calls stood in for:

- ``mxfp8_quantize`` by the core's rceil quantizer plus the 128x4 swizzle (the sm_100
  test checks that FlashInfer's quantizer gives exactly that);
- ``mm_mxfp8`` by FlashInfer's own argument check (``_check_mm_mxfp8_problem_size``:
  shapes, dtypes, scale-buffer lengths) and its own pure-torch reference of what
  ``mm_mxfp8`` computes from those arguments (``_mm_mxfp8_reference``).

So the plumbing (orientation, layouts, leading shapes, M = 0, bias, output dtype) is
checked against FlashInfer's reading of the arguments, here, without a Blackwell GPU.
The device guard is tested separately.
"""

from __future__ import annotations

import pytest
import torch

import mxfp8_flashinfer_cutlass.kernel as kernel_module
from mxfp8_core import Mxfp8LinearLayerConfig, Target, dequantize_mxfp8, quantize_mxfp8, swizzle_scales_128x4
from mxfp8_flashinfer_cutlass import FlashInferCutlassMxfp8Kernel as Kernel
from mxfp8_flashinfer_cutlass import _flashinfer

gemm_base = pytest.importorskip("flashinfer.gemm.gemm_base")
templates = pytest.importorskip("flashinfer.trace.templates.gemm")


class StandIn:
    def __init__(self):
        self.quantize_calls = 0
        self.skip_checks = []

    def quantize(self, x):
        assert x.is_contiguous() and x.dim() == 2 and x.dtype in (torch.bfloat16, torch.float16)
        self.quantize_calls += 1
        data, scales = quantize_mxfp8(x, rounding="rceil")
        return data, swizzle_scales_128x4(scales)

    def gemm(self, a, b, a_scale, b_scale, out_dtype, skip_check):
        assert gemm_base._check_mm_mxfp8_problem_size(
            a, b, a_scale, b_scale, out_dtype=out_dtype, use_8x4_sf_layout=False, backend="cutlass"
        )
        assert a.is_contiguous() and b.t().is_contiguous()  # CUTLASS CHECK_INPUT on a and b.T
        self.skip_checks.append(skip_check)
        return templates._mm_mxfp8_reference(a, b, a_scale, b_scale).to(out_dtype)


@pytest.fixture
def standin(monkeypatch):
    fake = StandIn()
    monkeypatch.setattr(_flashinfer, "quantize", fake.quantize)
    monkeypatch.setattr(_flashinfer, "gemm", fake.gemm)
    # CPU tensors stand for sm_100 ones here; the guard itself is tested below.
    monkeypatch.setattr(Kernel, "_verify_device", lambda self, device: None)
    return fake


def build(layer_factory, n, k, **config_kwargs):
    layer, _ = layer_factory(n, k, seed=7)
    reference_weight = dequantize_mxfp8(layer.weight.detach(), layer.weight_scale.detach(), torch.float32)
    kernel = Kernel(Mxfp8LinearLayerConfig(k, n, **config_kwargs))
    kernel.process_weights_after_loading(layer)
    return kernel, layer, reference_weight


def relative_error(y, ref):
    return ((y.float() - ref).norm() / ref.norm()).item()


@pytest.mark.parametrize("n, k", [(128, 128), (160, 224), (384, 1024)])
@pytest.mark.parametrize("lead", [(1,), (7,), (130,), (2, 3), (2, 1, 65)])
def test_output_matches_reference(standin, layer_factory, n, k, lead):
    kernel, layer, w = build(layer_factory, n, k)
    x = torch.randn(*lead, k).to(torch.bfloat16)
    y = kernel.apply_weights(layer, x)
    assert y.shape == (*lead, n) and y.dtype == torch.bfloat16
    ref = x.float() @ w.t()
    assert relative_error(y, ref) <= kernel.tolerance(kernel.config)
    assert relative_error(y, ref) > 0  # activations really were quantized (W8A8)


def test_one_dimensional_input(standin, layer_factory):
    kernel, layer, w = build(layer_factory, 256, 256)
    x = torch.randn(256).to(torch.bfloat16)
    y = kernel.apply_weights(layer, x)
    assert y.shape == (256,)
    assert relative_error(y, x.float() @ w.t()) <= kernel.tolerance(kernel.config)


@pytest.mark.parametrize("act, out", [(torch.float16, torch.float16), (torch.bfloat16, torch.float16), (torch.float16, torch.bfloat16)])
def test_output_dtype_as_configured(standin, layer_factory, act, out):
    kernel, layer, w = build(layer_factory, 256, 512, act_dtype=act, out_dtype=out)
    x = torch.randn(5, 512).to(act)
    y = kernel.apply_weights(layer, x)
    assert y.dtype == out
    assert relative_error(y, x.float() @ w.t()) <= kernel.tolerance(kernel.config)


def test_bias(standin, layer_factory):
    kernel, layer, w = build(layer_factory, 256, 256, has_bias=True)
    x = torch.randn(3, 4, 256).to(torch.bfloat16)
    bias = torch.randn(256).to(torch.bfloat16) * 10
    y = kernel.apply_weights(layer, x, bias)
    ref = x.float() @ w.t() + bias.float()
    assert relative_error(y, ref) <= kernel.tolerance(kernel.config)
    no_bias = kernel.apply_weights(layer, x)
    assert not torch.equal(y, no_bias)
    assert torch.equal(y, no_bias + bias)  # added once, to the output in its dtype


def test_input_on_another_device_than_the_weights_is_an_error(standin, layer_factory):
    kernel, layer, _ = build(layer_factory, 256, 256)
    with pytest.raises(ValueError, match="input is on meta but the layer's weights are on cpu"):
        kernel.apply_weights(layer, torch.empty(2, 256, dtype=torch.bfloat16, device="meta"))
    assert standin.quantize_calls == 0


def test_wrong_bias_shape_is_an_error(standin, layer_factory):
    kernel, layer, _ = build(layer_factory, 256, 256, has_bias=True)
    with pytest.raises(ValueError, match=r"bias must be \[256\] in torch.bfloat16"):
        kernel.apply_weights(layer, torch.randn(2, 256).to(torch.bfloat16), torch.randn(1).to(torch.bfloat16))


@pytest.mark.parametrize("shape", [(0, 256), (2, 0, 256), (0, 0, 256)])
def test_empty_batch(standin, layer_factory, shape):
    kernel, layer, _ = build(layer_factory, 128, 256, out_dtype=torch.float16)
    y = kernel.apply_weights(layer, torch.empty(shape, dtype=torch.bfloat16))
    assert y.shape == (*shape[:-1], 128) and y.dtype == torch.float16
    assert standin.quantize_calls == 0 and standin.skip_checks == []


def test_non_contiguous_input(standin, layer_factory):
    kernel, layer, w = build(layer_factory, 128, 256)
    x = torch.randn(256, 9).to(torch.bfloat16).t()  # [9, 256], strides (1, 9)
    y = kernel.apply_weights(layer, x)
    assert relative_error(y, x.float() @ w.t()) <= kernel.tolerance(kernel.config)


def test_flashinfer_checks_only_the_first_call(standin, layer_factory):
    kernel, layer, _ = build(layer_factory, 128, 256)
    for m in (1, 33, 300):
        kernel.apply_weights(layer, torch.randn(m, 256).to(torch.bfloat16))
    assert standin.skip_checks == [False, True, True]


def test_unprocessed_layer_is_refused(standin, layer_factory):
    layer, _ = layer_factory(128, 256)
    kernel = Kernel(Mxfp8LinearLayerConfig(256, 128))
    with pytest.raises(RuntimeError, match="process_weights_after_loading"):
        kernel.apply_weights(layer, torch.randn(2, 256).to(torch.bfloat16))
    assert standin.quantize_calls == 0


def test_wrong_input_is_refused(standin, layer_factory):
    kernel, layer, _ = build(layer_factory, 128, 256)
    with pytest.raises(ValueError, match=r"expects input \[\.\.\., 256\] in torch.bfloat16"):
        kernel.apply_weights(layer, torch.randn(2, 256))


# ----------------------------------------------------------------- the device guard
def test_cpu_tensors_are_refused_before_flashinfer(layer_factory, monkeypatch):
    fake = StandIn()
    monkeypatch.setattr(_flashinfer, "quantize", fake.quantize)
    kernel, layer, _ = build(layer_factory, 128, 256)
    with pytest.raises(RuntimeError, match="runs on CUDA tensors only; the input is on cpu"):
        kernel.apply_weights(layer, torch.randn(2, 256).to(torch.bfloat16))
    assert fake.quantize_calls == 0


@pytest.mark.parametrize("capability", [(9, 0), (8, 0), (12, 2)])
def test_unsupported_gpu_is_refused_before_flashinfer(capability, monkeypatch):
    """On an H100 (sm_90) mxfp8_quantize would return uninitialised memory: never call it."""
    monkeypatch.setattr(kernel_module, "current_target", lambda device: Target("cuda", capability))
    kernel = Kernel(Mxfp8LinearLayerConfig(256, 128))
    with pytest.raises(RuntimeError) as error:
        kernel._verify_device(torch.device("cuda", 0))
    message = str(error.value)
    assert f"cannot run on cuda:0 (CUDA sm_{capability[0]}{capability[1]})" in message
    # the quantizer's garbage is the reason below sm_100 only (it had been given on sm_122 too)
    assert ("uninitialised memory" in message) == (capability < (10, 0))
    if capability < (10, 0):
        assert "Blackwell" in message and "compute capability >= 10.0" in message


def test_supported_gpu_passes_the_guard(monkeypatch):
    monkeypatch.setattr(kernel_module, "current_target", lambda device: Target("cuda", (10, 0)))
    Kernel(Mxfp8LinearLayerConfig(256, 128))._verify_device(torch.device("cuda", 0))
