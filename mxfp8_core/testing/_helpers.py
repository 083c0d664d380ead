"""Helpers of the conformance kit: random layers and inputs, layer snapshots, a simulated
current GPU, and turning answers and exceptions into short text."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn

from .. import platform
from ..config import DTYPE_NAMES, Mxfp8LinearLayerConfig
from ..errors import Mxfp8Error
from ..format import BLOCK_SIZE, dequantize_mxfp8, quantize_mxfp8
from ..kernel import PROCESSED_ATTR
from ..layer import Mxfp8Linear
from ..platform import CUDA, Target
from ..support import Support

# Errors a kernel may raise for bad input: they say what was wrong, unlike an IndexError
# from deep inside a GEMM.
CLEAR_ERRORS = (ValueError, TypeError, Mxfp8Error)


class Problem(Exception):
    """A conformance problem found while evaluating an answer (not a kernel exception)."""


# --------------------------------------------------------------------------- text
def exc_text(exc: BaseException, limit: int = 240) -> str:
    text = " / ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def dtype_name(dtype: torch.dtype) -> str:
    return DTYPE_NAMES.get(dtype, str(dtype).replace("torch.", ""))


def target_text(target: Target) -> str:
    return str(target) if target.kind != CUDA else f"sm_{target.capability[0]}{target.capability[1]}"


def limited(problems: list[str], most: int = 4) -> str:
    shown = problems[:most]
    more = len(problems) - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more else "")


# --------------------------------------------------------------------------- answers
def as_support(answer: object, what: str) -> tuple[bool, tuple[str, ...]]:
    """``(ok, reasons)`` from a ``Support`` or an ``(ok, reason)`` pair; :class:`Problem`
    when the answer has neither shape or rejects without a reason."""
    if isinstance(answer, Support):
        ok, reasons = answer.ok, answer.reasons
    elif isinstance(answer, tuple) and len(answer) == 2 and isinstance(answer[0], bool):
        ok, reason = answer
        reasons = () if ok else (reason,)
    else:
        raise Problem(f"{what} returned {answer!r:.80}, not a Support or an (ok, reason) pair")
    if not ok and not all(isinstance(r, str) and r.strip() for r in reasons):
        raise Problem(f"{what} rejects without saying why (reasons {reasons!r:.80})")
    return ok, tuple(reasons)


# --------------------------------------------------------------------------- data
def pow2(exponents: torch.Tensor) -> torch.Tensor:
    """``2**e`` for integer ``e`` in [-126, 127], exactly (built from the float32 bits)."""
    return ((exponents.to(torch.int32) + 127) << 23).view(torch.float32)


def random_mxfp8_weight(n: int, k: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A random MXFP8 weight ``[n, k]``, on the CPU: Gaussian values whose blocks span
    2**-6..2**6 in magnitude, so scale bytes differ from block to block."""
    values = torch.randn(n, k, generator=gen)
    block_exp = torch.randint(-6, 7, (n, k // BLOCK_SIZE), generator=gen)
    values = values * pow2(block_exp).repeat_interleave(BLOCK_SIZE, dim=1)
    return quantize_mxfp8(values, rounding="rceil")


class Built:
    """A layer filled with random MXFP8 weights, and what the reference needs."""

    def __init__(self, config: Mxfp8LinearLayerConfig, device: torch.device, gen: torch.Generator,
                 twin_of: "Built | None" = None) -> None:
        n, k = config.out_features, config.in_features
        if twin_of is None:
            data, scales = random_mxfp8_weight(n, k, gen)
        else:
            data, scales = twin_of.weight, twin_of.weight_scale
        layer = Mxfp8Linear(k, n, bias=config.has_bias, act_dtype=config.act_dtype,
                            out_dtype=config.out_dtype, device=device)
        self.weight = data.to(device)  # kept apart from the layer's copies, for the reference
        self.weight_scale = scales.to(device)
        layer.weight.data = self.weight.clone()
        layer.weight_scale.data = self.weight_scale.clone()
        self.ref_weight = dequantize_mxfp8(self.weight, self.weight_scale, torch.float32)
        self.bias: torch.Tensor | None = None
        if config.has_bias:
            # About the size of the product's outputs, so a kernel that drops it is far off.
            rms = float(self.ref_weight.pow(2).mean().sqrt()) * k**0.5
            if twin_of is None:
                bias = (torch.randn(n, generator=gen) * rms).to(config.out_dtype).to(device)
            else:
                bias = twin_of.bias
            layer.bias.data = bias.clone()
            self.bias = bias
        self.layer = layer
        self.config = config
        self.device = device

    def twin(self) -> "Built":
        """A new layer holding the same weights and bias (in new tensors)."""
        return Built(self.config, self.device, None, twin_of=self)

    def reference(self, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        """The float32 dequantize-then-matmul reference for input ``x [..., K]``, plus
        ``bias`` (default: the layer's)."""
        ref = torch.matmul(x.float(), self.ref_weight.t())
        bias = self.bias if bias is None else bias
        return ref if bias is None else ref + bias.float()


def random_input(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device, gen: torch.Generator,
                 view: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Gaussian activations of ``shape`` on ``device``; ``view`` then makes a (non-contiguous)
    view of it on the device itself (moving a view between devices would compact it)."""
    base = torch.randn(shape, generator=gen).to(dtype).to(device)
    return base if view is None else view(base)


def rel_error(y: torch.Tensor, ref: torch.Tensor) -> float:
    """``||y - ref|| / ||ref||`` (Frobenius), in float32."""
    denom = float(ref.norm())
    diff = float((y.float() - ref).norm())
    return diff / denom if denom else (0.0 if diff == 0 else float("inf"))


# --------------------------------------------------------------------------- snapshots
def _tensors(layer: Any, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor a kernel could keep on ``layer``: parameters, buffers, attributes, the
    tensors inside dicts, lists and tuples held as attributes, and those of submodules."""
    found: dict[str, torch.Tensor] = {}
    if isinstance(layer, nn.Module):
        found.update({f"parameter {prefix}{k}": v for k, v in layer._parameters.items() if v is not None})
        found.update({f"buffer {prefix}{k}": v for k, v in layer._buffers.items() if v is not None})
        for name, module in layer._modules.items():
            if module is not None:
                found.update(_tensors(module, f"{prefix}{name}."))
    for key, value in vars(layer).items():
        if not key.startswith("_"):  # nn.Module's own dicts (parameters, hooks...) are above
            _collect(value, f"attribute {prefix}{key}", found, depth=3)
    return found


def _collect(value: Any, name: str, found: dict[str, torch.Tensor], depth: int) -> None:
    if isinstance(value, torch.Tensor):
        found[name] = value
    elif depth and isinstance(value, dict):
        for key, item in value.items():
            _collect(item, f"{name}[{key!r}]", found, depth - 1)
    elif depth and isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _collect(item, f"{name}[{index}]", found, depth - 1)


def _bytes(t: torch.Tensor) -> torch.Tensor:
    flat = t.detach().reshape(-1).clone()
    return flat.view(torch.uint8) if flat.dtype != torch.bool else flat


class Snapshot:
    """Every tensor on a layer (object, storage, shape, strides, bytes) and the marker
    the base class sets once a kernel processed it."""

    def __init__(self, layer: Any) -> None:
        self.tensors = {
            name: (t, t.data_ptr(), tuple(t.shape), t.stride(), t.dtype, _bytes(t))
            for name, t in _tensors(layer).items()
        }
        self.marker = getattr(layer, PROCESSED_ATTR, None)

    def changes(self, layer: Any) -> list[str]:
        """What differs on ``layer`` now; empty when it is exactly as it was."""
        now = _tensors(layer)
        problems = [f"{name} was added" for name in now if name not in self.tensors]
        problems += [f"{name} was removed" for name in self.tensors if name not in now]
        for name, (obj, ptr, shape, stride, dtype, data) in self.tensors.items():
            t = now.get(name)
            if t is None:
                continue
            if t is not obj:
                problems.append(f"{name} was replaced by another tensor object")
            elif t.dtype != dtype or tuple(t.shape) != shape or t.stride() != stride:
                problems.append(f"{name} changed shape, strides or dtype")
            elif t.data_ptr() != ptr:
                problems.append(f"{name} now points at other memory")
            elif not torch.equal(_bytes(t), data):
                problems.append(f"{name} has different bytes")
        marker = getattr(layer, PROCESSED_ATTR, None)
        if marker != self.marker:
            problems.append(f"{PROCESSED_ATTR} changed from {self.marker!r} to {marker!r}")
        return problems


def same_tensor(before: torch.Tensor, after: torch.Tensor, stride: tuple[int, ...]) -> bool:
    return after.stride() == stride and torch.equal(_bytes(before), _bytes(after))


# --------------------------------------------------------------------------- simulated GPU
@contextlib.contextmanager
def simulated_current_device(capability: tuple[int, int] | None) -> Iterator[None]:
    """Make this process look as if its current device were a CUDA GPU of ``capability``
    (or, for ``None``, as if it had no GPU), as far as torch.cuda's device queries and
    mxfp8_core's platform detection go. Nothing is allocated on the fake device."""
    if capability is None:
        fake_target = None
        patches: dict[tuple[object, str], object] = {
            (torch.cuda, "is_available"): lambda: False,
            (torch.cuda, "device_count"): lambda: 0,
            (platform, "_cuda_available"): lambda: False,
        }
    else:
        major, minor = capability
        name = f"simulated sm_{major}{minor} (mxfp8 conformance kit)"
        props = SimpleNamespace(major=major, minor=minor, name=name, multi_processor_count=132,
                                total_memory=80 << 30, gcnArchName="")
        fake_target = Target(CUDA, capability)
        patches = {
            (torch.cuda, "is_available"): lambda: True,
            (torch.cuda, "device_count"): lambda: 1,
            (torch.cuda, "current_device"): lambda: 0,
            (torch.cuda, "get_device_capability"): lambda device=None: (major, minor),
            (torch.cuda, "get_device_name"): lambda device=None: name,
            (torch.cuda, "get_device_properties"): lambda device=None: props,
            (platform, "_cuda_available"): lambda: True,
            (platform, "_cuda_target"): lambda index=0: fake_target,
        }
    saved = {key: getattr(*key) for key in patches}
    try:
        for (obj, attr), value in patches.items():
            setattr(obj, attr, value)
        yield
    finally:
        for (obj, attr), value in saved.items():
            setattr(obj, attr, value)


def clear_error(exc: BaseException) -> bool:
    return isinstance(exc, CLEAR_ERRORS) and bool(str(exc).strip())
