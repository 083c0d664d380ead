"""Small text helpers for error messages."""

from __future__ import annotations

import torch


def describe(obj: object) -> str:
    """``a torch.uint8 tensor of shape (4, 2)``, or the type name of a non-tensor."""
    if isinstance(obj, torch.Tensor):
        return f"a {obj.dtype} tensor of shape {tuple(obj.shape)}"
    return "None" if obj is None else type(obj).__name__
