"""can_implement: every constraint that would otherwise be an assert (or NaNs) inside
FlashInfer at run time, checked at selection so that selection falls through."""

from __future__ import annotations

import pytest
import torch

from mxfp8_core import Mxfp8LinearLayerConfig
from mxfp8_flashinfer_cutlass import FlashInferCutlassMxfp8Kernel as Kernel


def cfg(k, n, **kwargs):
    return Mxfp8LinearLayerConfig(in_features=k, out_features=n, **kwargs)


@pytest.mark.parametrize(
    "k, n",
    [(128, 128), (128, 160), (160, 128), (4096, 4096), (4096, 14336), (7168, 576), (1024, 4000)],
)
def test_accepts(k, n):
    support = Kernel.can_implement(cfg(k, n))
    assert support.ok, support.reason
    Kernel(cfg(k, n))  # constructs


@pytest.mark.parametrize("n", [32, 64, 96, 127])
def test_n_below_128_rejected(n):
    ok, reason = Kernel.can_implement(cfg(1024, n))
    assert not ok
    assert f"needs N (out_features) >= 128, got {n}" in reason


def test_vllm_54223_projection_falls_through():
    """Qwen3.5's in_proj_ba: 32 x 1024 (N=32, K=1024) crashed vLLM on a B200 at start-up."""
    ok, reason = Kernel.can_implement(cfg(1024, 32))
    assert not ok and "N (out_features) >= 128" in reason
    with pytest.raises(ValueError, match="cannot implement"):
        Kernel(cfg(1024, 32))


@pytest.mark.parametrize("k", [32, 64, 96])
def test_k_below_128_rejected(k):
    ok, reason = Kernel.can_implement(cfg(k, 256))
    assert not ok
    assert f"needs K (in_features) >= 128, got {k}" in reason


def test_k_not_multiple_of_32_cannot_even_be_configured():
    # The core refuses such a config outright (MXFP8 blocks are 32 wide); the kernel's
    # declared multiple repeats the requirement for FlashInfer's quantizer.
    with pytest.raises(ValueError, match="multiple of 32"):
        cfg(144, 256)
    assert Kernel.in_features_multiple == 32


@pytest.mark.parametrize("n, ok", [(128, True), (144, False), (160, True), (200, False), (4000, True), (4001, False)])
def test_n_must_be_multiple_of_32(n, ok):
    """Every CUTLASS mm_mxfp8 needs N % 32 == 0 (sm_120/121 in FlashInfer's problem check,
    sm_100/110 in the kernel, at the call)."""
    support = Kernel.can_implement(cfg(256, n))
    assert support.ok == ok
    if not ok:
        assert f"needs N (out_features) to be a multiple of 32, got {n}" in support.reason


@pytest.mark.parametrize(
    "act, out, ok",
    [
        (torch.bfloat16, torch.bfloat16, True),
        (torch.float16, torch.float16, True),
        (torch.bfloat16, torch.float16, True),
        (torch.float16, torch.bfloat16, True),
        (torch.float32, torch.bfloat16, False),
        (torch.bfloat16, torch.float32, False),
        (torch.float32, torch.float32, False),
    ],
)
def test_dtypes(act, out, ok):
    support = Kernel.can_implement(cfg(256, 256, act_dtype=act, out_dtype=out))
    assert support.ok == ok, support.reason
    if act == torch.float32:
        assert "activation dtype fp32 not supported (takes bf16, fp16)" in support.reason
    if out == torch.float32:
        assert "output dtype fp32 not supported (gives bf16, fp16)" in support.reason


def test_bias_supported_bmm_not():
    assert Kernel.can_implement(cfg(256, 256, has_bias=True)).ok
    ok, reason = Kernel.can_implement(cfg(256, 256, bmm_batch_size=8))
    assert not ok and "bmm" in reason


def test_every_reason_is_collected():
    support = Kernel.can_implement(cfg(64, 100, act_dtype=torch.float32, bmm_batch_size=2))
    assert len(support.reasons) == 6, support.reasons  # act, out, K>=128, N>=128, N%32, bmm

