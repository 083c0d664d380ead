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


def resolve_target(capability: object = None) -> Target:
    """Turn any accepted ``capability`` argument into a :class:`Target`."""
    if capability is None:
        return current_target()
    if isinstance(capability, Target):
        return capability
    if isinstance(capability, str):
        return _parse(capability)
    if (
        isinstance(capability, tuple)
        and len(capability) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in capability)
    ):
        return Target(CUDA, (capability[0], capability[1]))
    raise ValueError(
        f"capability must be None, a (major, minor) tuple of ints, 'cpu' or a string such as "
        f"'9.0' or 'sm_90'; got {capability!r}"
    )


def _parse(text: str) -> Target:
    text = text.strip().lower()
    if text == CPU:
        return CPU_TARGET
    match = _CAPABILITY_RE.match(text)
    if match is None:
        raise ValueError(f"cannot read {text!r} as a capability; use e.g. '9.0', 'sm_90', '10.0' or 'cpu'")
    major, minor = match.groups()
    if minor is None:  # "sm_90" / "90": the last digit is the minor version
        if len(major) < 2:
            return Target(CUDA, (int(major), 0))
        major, minor = major[:-1], major[-1]
    return Target(CUDA, (int(major), int(minor)))


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
