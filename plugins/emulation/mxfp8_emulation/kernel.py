"""The emulation kernel: dequantize, then ``F.linear`` in the activation dtype (in float32
where the output dtype differs).

Two weight modes (``weights=`` or ``MXFP8_EMULATION_WEIGHTS``):

- ``"mxfp8"`` (default): the layer keeps its MXFP8 weight (1.03 bytes a weight) and
  dequantizes it on every call. Choosing MXFP8 is choosing its memory footprint, so the
  fallback keeps it; it costs a dequantization per call.
- ``"dequantized"``: dequantize once at load into the dtype the GEMM runs in (the
  activation dtype, or float32 where the output dtype differs: 2 or 4 bytes a weight);
  calls run at plain ``F.linear`` speed.

Two activation modes (``activations=`` or ``MXFP8_EMULATION_ACTIVATIONS``):

- ``"unquantized"`` (default): activations are used as given, the numerics of a
  weight-only (W8A16) kernel such as marlin.
- ``"mxfp8"``: activations are quantized to MXFP8 (rceil, as NVIDIA hardware does) and
  dequantized first, so the numerics match a W8A8 kernel such as flashinfer_cutlass.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F

from mxfp8_core import Mxfp8LinearKernel, Mxfp8LinearLayerConfig, dequantize_mxfp8, quantize_mxfp8
from mxfp8_core.kernel import ACT_QUANT_TOLERANCE, hybridmethod

ENV_WEIGHTS = "MXFP8_EMULATION_WEIGHTS"
ENV_ACTIVATIONS = "MXFP8_EMULATION_ACTIVATIONS"
WEIGHT_MODES = ("mxfp8", "dequantized")
ACTIVATION_MODES = ("unquantized", "mxfp8")
_DTYPES = frozenset({torch.bfloat16, torch.float16, torch.float32})


def _mode(value: str | None, env: str, allowed: tuple[str, ...], argument: str = "") -> str:
    source = f"{argument}=" if value is not None else env
    value = value if value is not None else (os.environ.get(env) or allowed[0])
    if value not in allowed:
        raise ValueError(f"emulation kernel: {source} must be one of {', '.join(allowed)}; got {value!r}")
    return value


class EmulationKernel(Mxfp8LinearKernel):
    """Dequantize-then-matmul in PyTorch; lowest priority, runs on any device."""

    name = "emulation"
    priority = 0
    scheme = "emulated"
    devices = None
    act_dtypes = _DTYPES
    out_dtypes = _DTYPES

    def __init__(
        self, config: Mxfp8LinearLayerConfig, *, weights: str | None = None, activations: str | None = None
    ) -> None:
        super().__init__(config)
        self.weights = _mode(weights, ENV_WEIGHTS, WEIGHT_MODES, "weights")
        self.activations = _mode(activations, ENV_ACTIVATIONS, ACTIVATION_MODES, "activations")

    @hybridmethod
    def tolerance(self_or_cls, config: Mxfp8LinearLayerConfig) -> float:
        bound = super().tolerance(config)
        activations = getattr(self_or_cls, "activations", None)  # an instance's mode
        if isinstance(self_or_cls, type):  # the class: the mode its environment selects
            activations = _mode(None, ENV_ACTIVATIONS, ACTIVATION_MODES)
        return bound + ACT_QUANT_TOLERANCE if activations == "mxfp8" else bound

    def weights_layout(self) -> str:
        # the two weight modes leave different tensors on the layer
        return f"{self.name}(weights={self.weights})"

    def _gemm_dtype(self) -> torch.dtype:
        # Mixed dtypes: the GEMM runs in float32 and rounds once to out_dtype (what the
        # declared tolerance allows); in act_dtype it would round a bf16 product for an fp32
        # output, and an fp16 weight would lose its subnormals (below 2**-14) for nothing.
        config = self.config
        return config.act_dtype if config.out_dtype == config.act_dtype else torch.float32

    def prepare_weights(self, weight, weight_scale):
        if self.weights == "mxfp8":
            return {}
        return {"weight": dequantize_mxfp8(weight, weight_scale, self._gemm_dtype()), "weight_scale": None}

    def apply_2d(self, layer, x, bias):
        config = self.config
        dtype = self._gemm_dtype()
        if self.weights == "mxfp8":
            weight = dequantize_mxfp8(layer.weight, layer.weight_scale, dtype)
        else:
            weight = layer.weight
        if self.activations == "mxfp8":
            x = dequantize_mxfp8(*quantize_mxfp8(x), config.act_dtype)
        if config.out_dtype == config.act_dtype:
            return F.linear(x, weight, bias)
        y = F.linear(x.to(dtype), weight).to(config.out_dtype)
        return y if bias is None else y.add_(bias)

    def __repr__(self) -> str:
        return f"EmulationKernel(weights={self.weights!r}, activations={self.activations!r}, {self.config.describe()})"
