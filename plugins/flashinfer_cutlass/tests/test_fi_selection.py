"""Selection through the core with this plugin, asked about named GPUs from this host:
on sm_90 and for shapes FlashInfer cannot run it falls through to the next kernel; on
sm_100 it wins."""

from __future__ import annotations

import importlib.util
import types

import pytest
import torch

import mxfp8_core
from mxfp8_core import Mxfp8LinearKernel, Mxfp8LinearLayerConfig, PluginRegistry, hookimpl, select_kernel
from mxfp8_flashinfer_cutlass import plugin


class WeightOnlyStub(Mxfp8LinearKernel):
    """Stands for marlin: priority 200, sm_80 and newer, bf16."""

    name = "weight_only_stub"
    priority = 200
    scheme = "w8a16"
    min_capability = (8, 0)

    def prepare_weights(self, weight, weight_scale):
        return {}

    def apply_2d(self, layer, x, bias):
        raise NotImplementedError


@pytest.fixture
def registry():
    stub = types.SimpleNamespace(mxfp8_core_kernels=hookimpl(lambda: [WeightOnlyStub]))
    registry = PluginRegistry(autoload=False)
    registry.register(plugin, "flashinfer_cutlass")
    registry.register(stub, "stub")
    mxfp8_core.clear_selection_cache()
    yield registry
    mxfp8_core.clear_selection_cache()


def verdict(selection, name):
    [candidate] = [c for c in selection.candidates if c.name == name]
    return candidate.verdict, " ".join(candidate.reasons)


# On Blackwell the plugin asks FlashInfer which GPUs its cutlass backend supports.
needs_flashinfer = pytest.mark.skipif(
    importlib.util.find_spec("flashinfer") is None, reason="needs flashinfer-python installed"
)


@needs_flashinfer
def test_wins_on_blackwell(registry):
    for capability in [(10, 0), (10, 3), (12, 0)]:
        selection = select_kernel(Mxfp8LinearLayerConfig(4096, 4096), capability=capability, registry=registry)
        assert selection.name == "flashinfer_cutlass"
        assert verdict(selection, "weight_only_stub") == ("usable", "")


def test_h100_falls_through_with_the_reason(registry):
    selection = select_kernel(Mxfp8LinearLayerConfig(4096, 4096), capability=(9, 0), registry=registry)
    assert selection.name == "weight_only_stub"
    status, reasons = verdict(selection, "flashinfer_cutlass")
    assert status == "rejected"
    assert "needs compute capability >= 10.0; the target is 9.0" in reasons and "sm_90 is Hopper" in reasons


@needs_flashinfer
@pytest.mark.parametrize(
    "config, reason",
    [
        (Mxfp8LinearLayerConfig(1024, 32), "needs N (out_features) >= 128, got 32"),  # vLLM #54223
        (Mxfp8LinearLayerConfig(96, 4096), "needs K (in_features) >= 128, got 96"),
        (Mxfp8LinearLayerConfig(4096, 200), "needs N (out_features) to be a multiple of 32, got 200"),
    ],
)
def test_shapes_flashinfer_cannot_run_fall_through_on_blackwell(registry, config, reason):
    selection = select_kernel(config, capability=(10, 0), registry=registry)
    assert selection.name == "weight_only_stub"
    assert verdict(selection, "flashinfer_cutlass") == ("rejected", reason)


def test_fp32_activations_fall_through(registry):
    config = Mxfp8LinearLayerConfig(4096, 4096, act_dtype=torch.float32)
    with pytest.raises(mxfp8_core.NoKernelAvailable, match="activation dtype fp32 not supported"):
        select_kernel(config, capability=(10, 0), registry=registry)  # the stub takes bf16 only too


def test_installed_plugins_never_pick_it_below_blackwell():
    """With whatever plugins are installed (CI: all of them)."""
    mxfp8_core.clear_selection_cache()
    for capability in [(8, 0), (9, 0)]:
        try:
            selection = select_kernel(Mxfp8LinearLayerConfig(4096, 4096), capability=capability)
        except mxfp8_core.NoKernelAvailable:
            continue
        assert selection.name != "flashinfer_cutlass"
        assert verdict(selection, "flashinfer_cutlass")[0] == "rejected"
