"""The layer configuration every kernel decision is made from."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .format import BLOCK_SIZE

ACT_DTYPES = (torch.bfloat16, torch.float16, torch.float32)
DTYPE_NAMES = {torch.bfloat16: "bf16", torch.float16: "fp16", torch.float32: "fp32"}


@dataclass(frozen=True)
class Mxfp8LinearLayerConfig:
    """Shapes and dtypes of one MXFP8 linear layer (one partition of it, under tensor
    parallelism): ``y[..., out_features] = x[..., in_features] @ W.T (+ bias)``.

    ``out_dtype`` defaults to ``act_dtype``. ``bmm_batch_size`` is set for batched
    (per-expert/per-head) weights and ``None`` for a plain linear layer.
    """

    in_features: int
    out_features: int
    act_dtype: torch.dtype = torch.bfloat16
    out_dtype: torch.dtype | None = None
    has_bias: bool = False
    bmm_batch_size: int | None = None

    def __post_init__(self) -> None:
        for field in ("in_features", "out_features"):
            value = getattr(self, field)
            if not _is_int(value) or value <= 0:
                raise ValueError(f"Mxfp8LinearLayerConfig: {field} must be a positive int, got {value!r}")
        if self.in_features % BLOCK_SIZE:
            raise ValueError(
                f"Mxfp8LinearLayerConfig: in_features (K={self.in_features}) must be a multiple of "
                f"{BLOCK_SIZE}, the MXFP8 block size"
            )
        if self.out_dtype is None:
            object.__setattr__(self, "out_dtype", self.act_dtype)
        for field in ("act_dtype", "out_dtype"):
            value = getattr(self, field)
            if value not in ACT_DTYPES:
                raise TypeError(
                    f"Mxfp8LinearLayerConfig: {field} must be one of "
                    f"{', '.join(str(d) for d in ACT_DTYPES)}, got {value!r}"
                )
        if not isinstance(self.has_bias, bool):
            raise TypeError(f"Mxfp8LinearLayerConfig: has_bias must be a bool, got {self.has_bias!r}")
        if self.bmm_batch_size is not None and (not _is_int(self.bmm_batch_size) or self.bmm_batch_size <= 0):
            raise ValueError(
                f"Mxfp8LinearLayerConfig: bmm_batch_size must be None or a positive int, "
                f"got {self.bmm_batch_size!r}"
            )

    def describe(self) -> str:
        text = (
            f"K={self.in_features} N={self.out_features} act={DTYPE_NAMES[self.act_dtype]} "
            f"out={DTYPE_NAMES[self.out_dtype]} bias={'yes' if self.has_bias else 'no'}"
        )
        return text if self.bmm_batch_size is None else f"{text} bmm={self.bmm_batch_size}"

    def to_dict(self) -> dict[str, object]:
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "act_dtype": DTYPE_NAMES[self.act_dtype],
            "out_dtype": DTYPE_NAMES[self.out_dtype],
            "has_bias": self.has_bias,
            "bmm_batch_size": self.bmm_batch_size,
        }


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
