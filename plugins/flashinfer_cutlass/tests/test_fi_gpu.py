"""On GPUs. ``sm100``: a Blackwell-class GPU runs the kernel for real (skipped elsewhere;
none was available when this was written). ``gpu``: a pre-Blackwell GPU (the H100) must
turn the kernel down with the right reason, never call FlashInfer, and selection must
fall through to marlin. The root conftest skips these where the hardware is missing."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import mxfp8_core
from mxfp8_core import (
    Mxfp8Linear,
    Mxfp8LinearLayerConfig,
    dequantize_mxfp8,
    quantize_mxfp8,
    swizzle_scales_128x4,
    unswizzle_scales_128x4,
)
from mxfp8_flashinfer_cutlass import FlashInferCutlassMxfp8Kernel as Kernel
from mxfp8_flashinfer_cutlass import _flashinfer


def relative_error(y, ref):
    return ((y.float() - ref.float()).norm() / ref.float().norm()).item()


def varied(m, k, *, seed=0, dtype=torch.bfloat16, device="cuda"):
    """Rows spanning five orders of magnitude, with an all-zero block and a tiny one."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(m, k, generator=gen) * torch.logspace(-3, 2, m).unsqueeze(1)
    x[0, :32] = 0
    if m > 1:
        x[1, 32:64] *= 1e-30
    return x.to(dtype).to(device)


@pytest.fixture
def processed(layer_factory):
    """``processed(n, k, **config)`` -> (kernel, processed CUDA layer, float32 weight)."""

    def build(n, k, **config_kwargs):
        return _processed(layer_factory, n, k, **config_kwargs)

    return build


def _processed(layer_factory, n, k, **config_kwargs):
    layer, _ = layer_factory(n, k, seed=n ^ k, device="cuda")
    w = dequantize_mxfp8(layer.weight.detach(), layer.weight_scale.detach(), torch.float32)
    kernel = Kernel(Mxfp8LinearLayerConfig(k, n, **config_kwargs))
    kernel.process_weights_after_loading(layer)
    return kernel, layer, w


# ===================================================================== Blackwell
@pytest.mark.sm100
def test_supported_here():
    assert Kernel.is_supported().ok, Kernel.is_supported().reason


@pytest.mark.sm100
@pytest.mark.parametrize("m, k", [(1, 128), (100, 224), (257, 4096)])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_flashinfer_quantizer_is_the_core_rceil_layout_bit_exactly(m, k, dtype):
    """What the kernel's CPU tests assume: FlashInfer's activation quantizer equals the
    core's rceil quantizer followed by the 128x4 swizzle, padding included."""
    x = varied(m, k, seed=m + k, dtype=dtype)
    x_q, sf = _flashinfer.quantize(x)
    data, scales = quantize_mxfp8(x.cpu(), rounding="rceil")
    assert x_q.dtype == torch.float8_e4m3fn and tuple(x_q.shape) == (m, k)
    assert torch.equal(x_q.cpu().view(torch.uint8), data.view(torch.uint8))
    assert torch.equal(sf.cpu().view(torch.uint8).flatten(), swizzle_scales_128x4(scales))


@pytest.mark.sm100
def test_weight_scales_match_flashinfer_quantizing_the_weight(layer_factory):
    n, k = 384, 4096
    w = varied(n, k, seed=3)
    w_q, w_sf = _flashinfer.quantize(w)
    layer = layer_factory(n, k)[0].cuda()
    layer.weight.data = w_q
    layer.weight_scale.data = unswizzle_scales_128x4(w_sf.view(torch.uint8).flatten().cpu(), n, k // 32).cuda()
    Kernel(Mxfp8LinearLayerConfig(k, n)).process_weights_after_loading(layer)
    assert torch.equal(layer.weight_scale.cpu(), w_sf.view(torch.uint8).flatten().cpu())


@pytest.mark.sm100
@pytest.mark.parametrize("n, k", [(128, 128), (160, 224), (4096, 4096), (14336, 4096), (1024, 7168)])
@pytest.mark.parametrize("m", [1, 7, 128, 300])
def test_matches_dequantized_reference(n, k, m, processed):
    kernel, layer, w = processed(n, k)
    x = torch.randn(m, k, device="cuda").to(torch.bfloat16)
    y = kernel.apply_weights(layer, x)
    assert y.shape == (m, n) and y.dtype == torch.bfloat16 and torch.isfinite(y).all()
    assert relative_error(y, x.float() @ w.t()) <= kernel.tolerance(kernel.config)


@pytest.mark.sm100
@pytest.mark.parametrize("act, out", [(torch.float16, torch.float16), (torch.bfloat16, torch.float16), (torch.float16, torch.bfloat16)])
def test_dtypes_and_bias(act, out, processed):
    kernel, layer, w = processed(512, 1024, act_dtype=act, out_dtype=out, has_bias=True)
    x = torch.randn(3, 5, 1024, device="cuda").to(act)
    bias = torch.randn(512, device="cuda").to(out)
    y = kernel.apply_weights(layer, x, bias)
    assert y.shape == (3, 5, 512) and y.dtype == out
    assert relative_error(y, x.float() @ w.t() + bias.float()) <= kernel.tolerance(kernel.config)


@pytest.mark.sm100
def test_empty_batch_and_leading_shapes(processed):
    kernel, layer, w = processed(256, 256)
    for shape in [(0, 256), (2, 0, 256), (256,), (2, 3, 4, 256)]:
        x = torch.randn(shape, device="cuda").to(torch.bfloat16)
        y = kernel.apply_weights(layer, x)
        assert y.shape == (*shape[:-1], 256)
        if x.numel():
            assert relative_error(y, x.float() @ w.t()) <= kernel.tolerance(kernel.config)


@pytest.mark.sm100
def test_repeated_calls_after_the_validated_first_are_identical(processed):
    kernel, layer, _ = processed(1024, 1024)
    x = torch.randn(64, 1024, device="cuda").to(torch.bfloat16)
    first = kernel.apply_weights(layer, x)  # FlashInfer validates its arguments
    again = kernel.apply_weights(layer, x)  # skip_check=True
    assert torch.equal(first, again)


@pytest.mark.sm100
def test_cuda_graph_replay(processed):
    kernel, layer, _ = processed(1024, 1024)
    x = torch.randn(16, 1024, device="cuda").to(torch.bfloat16)
    eager = kernel.apply_weights(layer, x)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        captured = kernel.apply_weights(layer, x)
    x.copy_(torch.randn_like(x))
    graph.replay()
    assert torch.equal(captured, kernel.apply_weights(layer, x))
    assert not torch.equal(captured, eager)


@pytest.mark.sm100
def test_selected_by_the_layer_on_blackwell():
    torch.manual_seed(0)
    linear = nn.Linear(4096, 4096).cuda().to(torch.bfloat16)
    layer = Mxfp8Linear.from_linear(linear)
    assert layer.kernel.name == "flashinfer_cutlass"
    x = torch.randn(8, 4096, device="cuda").to(torch.bfloat16)
    assert relative_error(layer(x), linear(x).detach()) < 0.08


@pytest.mark.sm100
def test_vllm_54223_small_projection_falls_through_and_runs():
    """Qwen3.5's 32 x 1024 in_proj_ba crashed vLLM on a B200 at start-up; here it
    selects the next kernel and runs."""
    linear = nn.Linear(1024, 32, bias=False).cuda().to(torch.bfloat16)
    layer = Mxfp8Linear.from_linear(linear)
    assert layer.kernel.name != "flashinfer_cutlass"
    [ours] = [c for c in layer.selection.candidates if c.name == "flashinfer_cutlass"]
    assert ours.verdict == "rejected" and any("N (out_features) >= 128" in r for r in ours.reasons)
    y = layer(torch.randn(4, 1024, device="cuda").to(torch.bfloat16))
    assert y.shape == (4, 32) and torch.isfinite(y).all()


# ===================================================================== pre-Blackwell (H100)
def _pre_blackwell_or_skip():
    capability = torch.cuda.get_device_capability()
    if capability >= (10, 0):
        pytest.skip(f"sm_{capability[0]}{capability[1]} is Blackwell-class: the kernel is supported here")
    return capability


@pytest.mark.gpu
def test_h100_rejected_and_selection_falls_through_to_marlin(python_subprocess):
    """On sm_90 selection turns flashinfer_cutlass down (GPU generation named) and picks
    marlin, without importing FlashInfer; run in a fresh process so that nothing else
    has imported FlashInfer first."""
    major, minor = _pre_blackwell_or_skip()
    python_subprocess(
        f"""
        import sys
        import mxfp8_core
        from mxfp8_core import Mxfp8LinearLayerConfig
        selection = mxfp8_core.select_kernel(Mxfp8LinearLayerConfig(4096, 4096))
        assert selection.kernel.name == "marlin", selection.explain()
        [ours] = [c for c in selection.candidates if c.name == "flashinfer_cutlass"]
        assert ours.verdict == "rejected", selection.explain()
        text = " ".join(ours.reasons)
        assert "needs compute capability >= 10.0; the target is {major}.{minor}" in text, text
        assert "Blackwell" in text, text
        assert "flashinfer" not in sys.modules, "selection on sm_{major}{minor} imported FlashInfer"
        print(selection.explain())
        """
    )


@pytest.mark.gpu
def test_h100_apply_refuses_before_touching_flashinfer(monkeypatch, processed):
    """Below sm_100 mxfp8_quantize returns uninitialised memory without raising: even a
    kernel reached by mistake must refuse before calling it."""
    _pre_blackwell_or_skip()

    def never(*args, **kwargs):
        raise AssertionError("FlashInfer was called on a pre-Blackwell GPU")

    monkeypatch.setattr(_flashinfer, "quantize", never)
    monkeypatch.setattr(_flashinfer, "gemm", never)
    monkeypatch.setattr(_flashinfer, "load", never)
    kernel, layer, _ = processed(256, 256)  # weight processing is plain torch: fine here
    x = torch.randn(4, 256, device="cuda").to(torch.bfloat16)
    with pytest.raises(RuntimeError, match="Blackwell") as error:
        kernel.apply_weights(layer, x)
    assert "cannot run on cuda" in str(error.value)


@pytest.mark.gpu
def test_h100_forcing_the_kernel_is_an_error_that_says_why():
    _pre_blackwell_or_skip()
    with pytest.raises(mxfp8_core.NoKernelAvailable, match="Blackwell"):
        mxfp8_core.select_kernel(Mxfp8LinearLayerConfig(4096, 4096), kernels="flashinfer_cutlass")
