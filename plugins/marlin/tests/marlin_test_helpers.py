"""Shared test helpers: a bare layer module and the float32 reference."""

from __future__ import annotations

import torch
from torch import nn

from mxfp8_core import Mxfp8LinearLayerConfig, dequantize_mxfp8, quantize_mxfp8


class Layer(nn.Module):
    def __init__(self, weight: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None = None) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.weight_scale = nn.Parameter(scale, requires_grad=False)
        self.bias = None if bias is None else nn.Parameter(bias, requires_grad=False)


def make(n: int, k: int, *, device="cpu", act=torch.bfloat16, bias=False, seed=0, std=0.05):
    """A random MXFP8 layer, its config, and the float32 dequantized weight."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(n, k, generator=g) * std
    # Rows of very different magnitudes exercise the per-row / per-block scaling.
    w = w * torch.exp2(torch.randint(-6, 7, (n, 1), generator=g).float())
    q, s = quantize_mxfp8(w)
    b = (torch.randn(n, generator=g) * 0.5).to(act) if bias else None
    layer = Layer(q.to(device), s.to(device), None if b is None else b.to(device))
    config = Mxfp8LinearLayerConfig(k, n, act, has_bias=bias)
    return layer, config, dequantize_mxfp8(q, s, torch.float32)


def reference(x: torch.Tensor, w32: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    y = x.float().cpu() @ w32.T
    if bias is not None:
        y = y + bias.float().cpu()
    return y


def rel_err(y: torch.Tensor, ref: torch.Tensor) -> float:
    y = y.float().cpu()
    assert torch.isfinite(y).all(), "non-finite output"
    denom = ref.norm()
    return float((y - ref).norm() / denom) if denom > 0 else float((y - ref).norm())
