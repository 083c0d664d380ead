"""``Mxfp8Linear``: an ``nn.Module`` whose weight is MXFP8 and whose GEMM is a plugin kernel."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .config import ACT_DTYPES, Mxfp8LinearLayerConfig
from .format import BLOCK_SIZE, QUANTIZE_DTYPES, quantize_mxfp8
from .kernel import Mxfp8LinearKernel
from .platform import current_target
from .selection import Selection, select_kernel


class Mxfp8Linear(nn.Module):
    """``y = x @ dequantize(weight, weight_scale).T + bias`` through the best kernel.

    Lifecycle, as in inference engines: construct (tensors uninitialised), load the
    checkpoint into ``weight`` (float8_e4m3fn ``[N, K]``), ``weight_scale`` (uint8 E8M0
    ``[N, K/32]``) and ``bias``, then call :meth:`process_weights_after_loading` once:
    it selects the kernel for the layer's device and lets the kernel repack the
    weights. ``forward`` accepts ``[..., K]`` inputs in ``act_dtype``. Dtype conversions of
    a model (``.half()``, ``.to(torch.bfloat16)``) leave the layer's tensors as they are;
    device moves apply.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        act_dtype: torch.dtype = torch.bfloat16,
        out_dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.config = Mxfp8LinearLayerConfig(in_features, out_features, act_dtype, out_dtype, has_bias=bool(bias))
        n, k = out_features, in_features
        self.weight = nn.Parameter(torch.empty(n, k, dtype=torch.float8_e4m3fn, device=device), requires_grad=False)
        self.weight_scale = nn.Parameter(
            torch.empty(n, k // BLOCK_SIZE, dtype=torch.uint8, device=device), requires_grad=False
        )
        if bias:
            self.bias = nn.Parameter(torch.empty(n, dtype=self.config.out_dtype, device=device), requires_grad=False)
        else:
            self.register_parameter("bias", None)
        self.kernel: Mxfp8LinearKernel | None = None
        self.selection: Selection | None = None

    def _apply(self, fn, recurse: bool = True):
        # model.half() or model.to(torch.bfloat16) converts every floating tensor: here the
        # float8 weight and a kernel's float32 scales, which no kernel could then run. The
        # layer's dtypes are its config's, so such a call moves its tensors and converts none
        # (as PyTorch's quantized modules keep their packed weights).
        def keep_dtype(t: torch.Tensor) -> torch.Tensor:
            moved = fn(t)
            return moved if moved.dtype == t.dtype else t.to(moved.device)

        return super()._apply(keep_dtype, recurse)

    @property
    def in_features(self) -> int:
        return self.config.in_features

    @property
    def out_features(self) -> int:
        return self.config.out_features

    @classmethod
    def from_linear(
        cls,
        linear: nn.Linear,
        *,
        rounding: str = "rceil",
        act_dtype: torch.dtype | None = None,
        out_dtype: torch.dtype | None = None,
        kernels: str | Sequence[str] | None = None,
        disabled: str | Sequence[str] | None = None,
    ) -> "Mxfp8Linear":
        """Quantize ``linear``'s weight to MXFP8 and return a ready layer on its device.

        ``act_dtype`` defaults to the linear layer's dtype. ``kernels``/``disabled`` are
        passed to :func:`~mxfp8_core.select_kernel`.
        """
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"from_linear expects an nn.Linear, got {type(linear).__name__}")
        weight = linear.weight.detach()
        if act_dtype is not None and act_dtype not in ACT_DTYPES:
            raise TypeError(
                f"from_linear: act_dtype={act_dtype} is not an activation dtype; "
                f"pass one of {', '.join(str(d) for d in ACT_DTYPES)}"
            )
        if weight.dtype not in QUANTIZE_DTYPES:  # whatever act_dtype is: the weight itself is quantized
            raise TypeError(
                f"from_linear: the layer's dtype {weight.dtype} cannot be quantized to MXFP8; convert the "
                f"layer first, e.g. linear.float() or linear.to(torch.bfloat16)"
            )
        act_dtype = act_dtype or weight.dtype
        data, scales = quantize_mxfp8(weight, rounding=rounding)
        layer = cls(
            linear.in_features, linear.out_features, linear.bias is not None,
            act_dtype=act_dtype, out_dtype=out_dtype, device=weight.device,
        )
        layer.weight.data = data
        layer.weight_scale.data = scales
        if linear.bias is not None:
            layer.bias.data = linear.bias.detach().to(layer.config.out_dtype).clone()
        layer.process_weights_after_loading(kernels=kernels, disabled=disabled)
        return layer

    def process_weights_after_loading(
        self,
        *,
        kernels: str | Sequence[str] | None = None,
        disabled: str | Sequence[str] | None = None,
    ) -> Selection:
        """Select the kernel for this layer's device and let it process the loaded
        weights. On failure the layer is left as it was; a second call is a no-op, and
        raises if its ``kernels=`` or ``disabled=`` would now select another kernel."""
        if self.kernel is not None:
            if kernels is not None or disabled is not None:
                asked = select_kernel(self.config, capability=self.selection.target, kernels=kernels, disabled=disabled)
                if asked.name != self.kernel.name:
                    raise RuntimeError(
                        f"Mxfp8Linear: the weights were already processed by kernel {self.kernel.name!r}, and these "
                        f"overrides select {asked.name!r}; load the checkpoint into a new layer to change kernels"
                    )
            return self.selection
        selection = select_kernel(
            self.config, capability=current_target(self.weight.device), kernels=kernels, disabled=disabled
        )
        kernel = selection.kernel(self.config)
        kernel.process_weights_after_loading(self)
        self.kernel, self.selection = kernel, selection
        return selection

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel = self.kernel
        if kernel is None:
            raise RuntimeError(
                "Mxfp8Linear: weights are not processed yet; call process_weights_after_loading() "
                "after loading the checkpoint"
            )
        return kernel.apply_weights(self, x, self.bias)

    def extra_repr(self) -> str:
        kernel = self.kernel.name if self.kernel is not None else "not selected"
        return f"{self.config.describe()}, kernel={kernel}"
