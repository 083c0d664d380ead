"""is_supported / can_implement: declared limits and the reasons given."""

from __future__ import annotations

import pytest
import torch

from mxfp8_core import Mxfp8LinearLayerConfig
from mxfp8_marlin import MarlinKernel
from mxfp8_marlin import kernel as kernel_module


def test_declarations():
    assert (MarlinKernel.name, MarlinKernel.priority, MarlinKernel.scheme) == ("marlin", 200, "w8a16")
    assert MarlinKernel.devices == frozenset({"cuda"}) and MarlinKernel.min_capability == (8, 0)
    assert MarlinKernel.act_dtypes == frozenset({torch.bfloat16, torch.float16})


@pytest.mark.parametrize("capability", [(8, 0), (8, 6), (8, 9), (9, 0), (10, 0), (12, 0), "sm_90", "8.0"])
def test_supported_from_sm80(capability):
    support = MarlinKernel.is_supported(capability)
    assert support.ok and support.reason is None


def test_rejects_older_gpus_and_the_cpu_with_reasons():
    ok, reason = MarlinKernel.is_supported((7, 5))
    assert not ok and "compute capability >= 8.0" in reason and "7.5" in reason
    ok, reason = MarlinKernel.is_supported("cpu")
    assert not ok and "CUDA" in reason and "CPU" in reason


def test_honours_the_capability_passed_not_the_current_device(monkeypatch):
    # Whatever this host has, the answer follows the capability asked about.
    assert MarlinKernel.is_supported((9, 0)).ok
    assert not MarlinKernel.is_supported((7, 0)).ok


def test_missing_triton_is_a_reason_on_every_target(monkeypatch):
    monkeypatch.setattr(kernel_module, "_TRITON_FOUND", False)
    for capability in [(9, 0), (7, 5), "cpu"]:
        support = MarlinKernel.is_supported(capability)
        assert not support.ok and any("Triton" in r for r in support.reasons), support.reasons
    # all reasons are kept, not only the first
    assert len(MarlinKernel.is_supported((7, 5)).reasons) == 2


def test_plugin_import_does_not_import_triton():
    """Importing Triton costs ~0.5 s; loading the plugin must not (bench/overhead.py
    measures discovery time; a unit test only checks what is imported)."""
    import subprocess
    import sys

    code = "import sys, torch, mxfp8_core; import mxfp8_marlin.plugin; print('triton' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False"]


@pytest.mark.parametrize("act", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("n,k", [(1, 32), (4993, 320), (4096, 14336), (37, 96)])
def test_can_implement_any_n_and_k_multiple_of_32(act, n, k):
    for bias in (False, True):
        assert MarlinKernel.can_implement(Mxfp8LinearLayerConfig(k, n, act, has_bias=bias)).ok


def test_can_implement_mixed_bf16_fp16_output():
    assert MarlinKernel.can_implement(Mxfp8LinearLayerConfig(64, 8, torch.bfloat16, torch.float16)).ok


def test_can_implement_rejections_with_reasons():
    ok, reason = MarlinKernel.can_implement(Mxfp8LinearLayerConfig(64, 8, torch.float32))
    assert not ok and "fp32" in reason
    ok, reason = MarlinKernel.can_implement(Mxfp8LinearLayerConfig(64, 8, bmm_batch_size=4))
    assert not ok and "bmm" in reason
    # K that is not a multiple of 32 cannot even form an MXFP8 config
    with pytest.raises(ValueError, match="multiple of 32"):
        Mxfp8LinearLayerConfig(48, 8)


def test_tolerance_follows_the_documented_bound():
    cfg = Mxfp8LinearLayerConfig(4096, 8, torch.bfloat16)
    assert MarlinKernel.tolerance(cfg) == pytest.approx(2 * 2.0**-8 + 4096 * 2.0**-24)
    cfg = Mxfp8LinearLayerConfig(320, 8, torch.float16)
    assert MarlinKernel.tolerance(cfg) == pytest.approx(2 * 2.0**-11 + 320 * 2.0**-24)


def test_discovered_through_its_entry_point():
    from importlib import metadata

    eps = [ep for ep in metadata.entry_points(group="mxfp8_core.plugins") if ep.name == "marlin"]
    assert eps and eps[0].value == "mxfp8_marlin.plugin"
    assert eps[0].load().mxfp8_core_kernels() == [MarlinKernel]
