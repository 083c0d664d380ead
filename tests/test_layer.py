"""Mxfp8Linear end to end with the emulation plugin (CPU)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import mxfp8_core
from mxfp8_core import Mxfp8Linear, dequantize_mxfp8, quantize_mxfp8


def reference(layer_weight, layer_scale, x, bias):
    w = dequantize_mxfp8(layer_weight, layer_scale, torch.float32)
    y = x.float() @ w.T
    return y if bias is None else y + bias.float()


def rel_err(a, b):
    return float((a.float() - b.float()).norm() / b.float().norm())


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_from_linear_runs_through_the_emulation_kernel(dtype):
    torch.manual_seed(0)
    linear = nn.Linear(96, 40).to(dtype)
    data, scales = quantize_mxfp8(linear.weight.detach())
    layer = Mxfp8Linear.from_linear(linear)
    assert layer.selection.name == "emulation" and layer.kernel.name == "emulation"
    assert torch.equal(layer.weight.view(torch.uint8), data.view(torch.uint8))
    assert torch.equal(layer.weight_scale, scales)
    assert layer.config == mxfp8_core.Mxfp8LinearLayerConfig(96, 40, dtype, has_bias=True)
    x = torch.randn(2, 3, 96, dtype=dtype)
    y = layer(x)
    assert y.shape == (2, 3, 40) and y.dtype == dtype
    bound = layer.kernel.tolerance(layer.config)
    assert rel_err(y, reference(data, scales, x, linear.bias.detach())) <= bound
    # MXFP8 weights stay close to the original layer: e4m3 keeps 3 mantissa bits.
    assert rel_err(y, linear(x).detach()) < 0.05


def test_empty_batch_and_any_leading_shape():
    layer = Mxfp8Linear.from_linear(nn.Linear(64, 8, bias=False))
    for shape in [(0, 64), (2, 0, 64), (64,), (1, 1, 1, 64)]:
        y = layer(torch.randn(shape))
        assert y.shape == (*shape[:-1], 8)


def test_non_contiguous_input_is_not_modified():
    torch.manual_seed(1)
    layer = Mxfp8Linear.from_linear(nn.Linear(64, 16))
    base = torch.randn(64, 10)
    x = base.T  # [10, 64], non-contiguous
    before = x.clone()
    y = layer(x)
    assert torch.equal(x, before)
    assert torch.allclose(y, layer(x.contiguous()))


@pytest.mark.parametrize("convert", [lambda m: m.half(), lambda m: m.to(torch.float32), lambda m: m.bfloat16(),
                                     lambda m: m.to("cpu", torch.float16)], ids=["half", "to_fp32", "bf16", "to_both"])
@pytest.mark.parametrize("weights", ["mxfp8", "dequantized"])
def test_a_models_dtype_conversion_leaves_the_layer_as_its_config_says(convert, weights, monkeypatch):
    """model.half() had turned the float8 weight (and a kernel's dequantized weight) into
    fp16, and the bias with it: the next forward failed, or ran another layer than loaded."""
    monkeypatch.setenv("MXFP8_EMULATION_WEIGHTS", weights)
    torch.manual_seed(2)
    model = nn.Sequential(Mxfp8Linear.from_linear(nn.Linear(64, 16).to(torch.bfloat16)), nn.LayerNorm(16))
    x = torch.randn(3, 64, dtype=torch.bfloat16)
    before = {name: t.clone() for name, t in model[0].state_dict().items()}
    y = model[0](x)
    convert(model)
    after = model[0].state_dict()
    assert before.keys() == after.keys()
    assert all(t.dtype == after[name].dtype and torch.equal(t.view(torch.uint8), after[name].view(torch.uint8))
               for name, t in before.items())
    assert model[1].weight.dtype == convert(nn.Linear(1, 1)).weight.dtype  # the rest of the model converted
    assert torch.equal(model[0](x), y)


def test_engine_lifecycle_load_state_dict_then_process():
    torch.manual_seed(2)
    source = Mxfp8Linear.from_linear(nn.Linear(128, 32))
    state = {"weight": source.weight.detach().clone(), "weight_scale": source.weight_scale.detach().clone(),
             "bias": source.bias.detach().clone()}
    layer = Mxfp8Linear(128, 32, bias=True, act_dtype=torch.float32)
    assert layer.kernel is None and "not selected" in repr(layer)
    with pytest.raises(RuntimeError, match="call process_weights_after_loading"):
        layer(torch.randn(1, 128))
    layer.load_state_dict(state)
    selection = layer.process_weights_after_loading()
    assert selection is layer.selection and layer.process_weights_after_loading() is selection
    x = torch.randn(5, 128)
    assert torch.equal(layer(x), source(x))
    assert "kernel=emulation" in repr(layer)


def test_nan_scale_rejected_before_any_change():
    layer = Mxfp8Linear(64, 4, act_dtype=torch.float32)
    data, scales = quantize_mxfp8(torch.randn(4, 64))
    scales[2, 1] = 0xFF
    layer.weight.data, layer.weight_scale.data = data, scales
    params = dict(layer.named_parameters())
    with pytest.raises(ValueError, match=r"NaN scale bytes \(0xFF\) in 1 row\(s\), first row 2"):
        layer.process_weights_after_loading()
    assert layer.kernel is None and layer.selection is None
    assert dict(layer.named_parameters()) == params


def test_failed_selection_leaves_the_layer_unprocessed():
    layer = Mxfp8Linear(64, 4, act_dtype=torch.float32)
    layer.weight.data, layer.weight_scale.data = quantize_mxfp8(torch.randn(4, 64))
    with pytest.raises(mxfp8_core.UnknownKernelError):
        layer.process_weights_after_loading(kernels=["marlinn"])
    with pytest.raises(mxfp8_core.NoKernelAvailable):
        layer.process_weights_after_loading(disabled=list(mxfp8_core.get_registry().names()))
    assert layer.kernel is None
    assert layer.process_weights_after_loading().name == "emulation"


def test_overrides_on_a_processed_layer_are_checked_not_ignored():
    pytest.importorskip("mxfp8_example_blockscaled")  # a second kernel that runs fp32 on the CPU
    layer = Mxfp8Linear(64, 4, act_dtype=torch.float32)
    layer.weight.data, layer.weight_scale.data = quantize_mxfp8(torch.randn(4, 64))
    selection = layer.process_weights_after_loading()
    assert selection.name == "emulation"
    assert layer.process_weights_after_loading(kernels="emulation") is selection  # the same kernel: a no-op
    assert layer.process_weights_after_loading(disabled="marlin") is selection
    with pytest.raises(RuntimeError, match=r"already processed by kernel 'emulation', and these overrides select "
                                           r"'example_blockscaled'; load the checkpoint into a new layer"):
        layer.process_weights_after_loading(kernels="example_blockscaled")
    with pytest.raises(RuntimeError, match="overrides select 'example_blockscaled'"):
        layer.process_weights_after_loading(disabled="emulation")
    with pytest.raises(mxfp8_core.UnknownKernelError, match="'no_such_kernel'"):
        layer.process_weights_after_loading(kernels="no_such_kernel")
    assert layer.kernel.name == "emulation" and layer.selection is selection


def test_bad_inputs_raise_clear_errors():
    layer = Mxfp8Linear.from_linear(nn.Linear(64, 8))
    with pytest.raises(ValueError, match=r"expects input \[..., 64\] in torch.float32, got \(2, 32\)"):
        layer(torch.randn(2, 32))
    with pytest.raises(ValueError, match="in torch.float32, got .* in torch.float16"):
        layer(torch.randn(2, 64, dtype=torch.float16))
    with pytest.raises(ValueError, match="multiple of 32"):
        Mxfp8Linear.from_linear(nn.Linear(48, 8))
    # Each error names the bad value: the layer's dtype, or the act_dtype= argument.
    convert = r"cannot be quantized to MXFP8; convert the layer first, e.g. linear.float\(\) or linear.to\(torch.bf"
    for act_dtype in (None, torch.float32):  # act_dtype= cannot help: the weight itself is quantized
        with pytest.raises(TypeError, match=r"the layer's dtype torch.float64 " + convert):
            Mxfp8Linear.from_linear(nn.Linear(64, 8).double(), act_dtype=act_dtype)
    with pytest.raises(TypeError, match=r"act_dtype=torch.int8 is not an activation dtype; pass one of torch.bfloat16"):
        Mxfp8Linear.from_linear(nn.Linear(64, 8).bfloat16(), act_dtype=torch.int8)
    converted = Mxfp8Linear.from_linear(nn.Linear(64, 8).double().float(), act_dtype=torch.bfloat16)  # the advice
    assert converted.config.act_dtype == torch.bfloat16
    with pytest.raises(TypeError, match="expects an nn.Linear"):
        Mxfp8Linear.from_linear(nn.Conv1d(64, 8, 1))


def test_out_dtype_and_bias_dtype():
    torch.manual_seed(3)
    linear = nn.Linear(64, 8).bfloat16()
    layer = Mxfp8Linear.from_linear(linear, out_dtype=torch.float32)
    assert layer.bias.dtype == torch.float32
    x = torch.randn(3, 64, dtype=torch.bfloat16)
    y = layer(x)
    assert y.dtype == torch.float32
    assert rel_err(y, reference(layer.weight, layer.weight_scale, x, layer.bias)) <= 2 * 2.0**-8
