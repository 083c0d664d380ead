"""A third-party kernel: float32 dequantize-then-matmul on the CPU, priority 100."""

import torch

from mxfp8_core import Mxfp8LinearKernel, dequantize_mxfp8, hookimpl


class Float32ReferenceKernel(Mxfp8LinearKernel):
    name = "thirdparty_fp32"
    priority = 100
    scheme = "emulated"
    devices = frozenset({"cpu"})
    act_dtypes = frozenset({torch.float32, torch.bfloat16})

    def prepare_weights(self, weight, weight_scale):
        return {"weight": dequantize_mxfp8(weight, weight_scale, torch.float32), "weight_scale": None}

    def apply_2d(self, layer, x, bias):
        y = x.float() @ layer.weight.T
        if bias is not None:
            y = y + bias.float()
        return y.to(self.config.out_dtype)


@hookimpl
def mxfp8_core_kernels():
    return [Float32ReferenceKernel]
