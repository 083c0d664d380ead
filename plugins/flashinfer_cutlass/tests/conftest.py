"""Fixtures for the flashinfer_cutlass plugin's tests."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

from mxfp8_core import Mxfp8LinearLayerConfig, quantize_mxfp8


class TinyLayer(torch.nn.Module):
    """The two checkpoint tensors an MXFP8 linear layer carries, and nothing else."""

    def __init__(self, weight: torch.Tensor, weight_scale: torch.Tensor) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(weight, requires_grad=False)
        self.weight_scale = torch.nn.Parameter(weight_scale, requires_grad=False)


def make_layer(n: int, k: int, *, seed: int = 0, device: str = "cpu") -> tuple[TinyLayer, torch.Tensor]:
    """A layer whose weight is ``w [n, k]`` (float32, returned too) quantized to MXFP8
    with rceil scales; rows have different magnitudes so the scales vary."""
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(n, k, generator=gen) * torch.logspace(-3, 2, n).unsqueeze(1)
    data, scale = quantize_mxfp8(w, rounding="rceil")
    return TinyLayer(data.to(device), scale.to(device)), w


@pytest.fixture
def layer_factory():
    return make_layer


def config(k: int, n: int, **kwargs) -> Mxfp8LinearLayerConfig:
    return Mxfp8LinearLayerConfig(in_features=k, out_features=n, **kwargs)


@pytest.fixture
def make_config():
    return config


def run_python(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (same environment); fail with its output."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"subprocess failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture
def python_subprocess():
    return run_python
