"""Targets: the platform a kernel is asked about (a CUDA capability, the CPU, ...).

``capability`` arguments across the API accept ``None`` (the current device), a
``(major, minor)`` tuple for a CUDA GPU, the string ``"cpu"``, a string such as
``"9.0"``/``"sm_90"``, or a :class:`Target`.
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

import torch

CPU = "cpu"
CUDA = "cuda"
ROCM = "rocm"


class Target(NamedTuple):
    kind: str  # "cuda", "cpu", "rocm", or another torch device type ("xpu", "mps", "meta")
    capability: tuple[int, int] | None = None

    def __str__(self) -> str:
        if self.kind == CUDA:
            return f"CUDA sm_{self.capability[0]}{self.capability[1]}"
        if self.kind == ROCM:
            return "ROCm" if self.capability is None else f"ROCm {self.capability[0]}.{self.capability[1]}"
        return "CPU" if self.kind == CPU else self.kind

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "capability": list(self.capability) if self.capability else None}


CPU_TARGET = Target(CPU)
_CAPABILITY_RE = re.compile(r"^(?:sm_?)?(\d+)(?:\.(\d+))?$")
MIN_COMPACT_MAJOR = 3  # the oldest CUDA capability written without a dot is "30" (3.0)


def resolve_target(capability: object = None) -> Target:
    """Turn any accepted ``capability`` argument into a :class:`Target`."""
    if capability is None:
        return current_target()
    if isinstance(capability, Target):
        return _check_target(capability)
    if isinstance(capability, str):
        return _parse(capability)
    if _is_capability(capability):
        return Target(CUDA, (capability[0], capability[1]))
    raise ValueError(
        f"capability must be None, a (major, minor) tuple of ints, 'cpu' or a string such as "
        f"'9.0' or 'sm_90'; got {capability!r}"
    )


def _is_capability(value: object) -> bool:
    return (
        isinstance(value, tuple)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
    )


def _check_target(target: Target) -> Target:
    """``target`` if it is one a kernel can be asked about; a Target is a plain tuple, so
    nothing checked it when it was built."""
    kind, capability = target
    if not (kind == ROCM or (isinstance(kind, str) and _is_device_type(kind))):
        raise ValueError(
            f"Target: unknown kind {kind!r}; use 'cuda', 'cpu', 'rocm' or another torch device type such as 'xpu'"
        )
    if kind == CUDA and not _is_capability(capability):
        raise ValueError(
            f"Target('cuda') needs a (major, minor) capability tuple of ints, e.g. Target('cuda', (9, 0)); "
            f"got {capability!r}"
        )
    if kind == ROCM and capability is not None and not _is_capability(capability):
        raise ValueError(f"Target('rocm') takes None or a (major, minor) tuple of ints; got {capability!r}")
    if kind not in (CUDA, ROCM) and capability is not None:
        raise ValueError(f"Target({kind!r}) takes no capability (only 'cuda' and 'rocm' do); got {capability!r}")
    return target


@functools.cache
def _is_device_type(kind: str) -> bool:
    """Whether ``kind`` is a torch device type (``"cuda:0"`` is a device, not a type)."""
    try:
        device = torch.device(kind)
    except RuntimeError:
        return False
    return device.type == kind and device.index is None


def _parse(text: str) -> Target:
    text = text.strip().lower()
    if text == CPU:
        return CPU_TARGET
    match = _CAPABILITY_RE.match(text)
    if match is None:
        raise ValueError(f"cannot read {text!r} as a capability; use e.g. '9.0', 'sm_90', '10.0' or 'cpu'")
    digits, minor = match.groups()
    if minor is not None:
        return Target(CUDA, (int(digits), int(minor)))
    if len(digits) < 2:
        return Target(CUDA, (int(digits), 0))
    major, minor = int(digits[:-1]), int(digits[-1])  # "sm_90" / "90": the last digit is the minor version
    if major < MIN_COMPACT_MAJOR:  # "10" meant for Blackwell had planned for sm_10
        raise ValueError(
            f"{text!r} reads as capability {major}.{minor} (the last digit is the minor version), which no CUDA "
            f"GPU has; for capability {digits}.0 write '{digits}.0' or 'sm_{digits}0'"
        )
    return Target(CUDA, (major, minor))


def current_target(device: torch.device | str | None = None) -> Target:
    """The target of ``device`` (default: the current CUDA device if there is one, else the CPU)."""
    if device is not None:
        device = torch.device(device)
        if device.type != "cuda":
            return CPU_TARGET if device.type == "cpu" else Target(device.type)
        if not _cuda_available():
            raise RuntimeError(f"{device} was asked for but CUDA is not available")
        index = device.index if device.index is not None else torch.cuda.current_device()
    elif not _cuda_available():
        return CPU_TARGET
    else:
        index = torch.cuda.current_device()
    return _cuda_target(index)


@functools.cache
def _cuda_available() -> bool:
    return torch.cuda.is_available()


@functools.cache
def _cuda_target(index: int) -> Target:
    major, minor = torch.cuda.get_device_capability(index)
    return Target(ROCM if torch.version.hip else CUDA, (major, minor))
