"""The result of a conformance run: :class:`CheckResult` per check, :class:`ConformanceReport`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

PASS, FAIL, SKIP = "pass", "fail", "skip"
STATUSES = (PASS, FAIL, SKIP)


class ConformanceError(AssertionError):
    """Raised by :meth:`ConformanceReport.assert_ok` and :meth:`CheckResult.assert_ok`."""


@dataclass(frozen=True)
class CheckResult:
    """One check: its name (``numerics[cpu]`` for a check run on a device, ``can_implement``
    for a static one), ``status`` (``"pass"``, ``"fail"`` or ``"skip"``) and a message:
    what was checked for a pass, every problem found (or the first few) for a fail, the
    reason for a skip."""

    name: str
    status: str
    message: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    @property
    def check(self) -> str:
        """The name without the device: ``numerics`` for ``numerics[cpu]``."""
        return self.name.split("[", 1)[0]

    @property
    def device(self) -> str | None:
        """The device a runtime check ran on, ``None`` for a static check."""
        return self.name[self.name.index("[") + 1 : -1] if "[" in self.name else None

    @property
    def ok(self) -> bool:
        """True unless the check failed (a skip is not a failure)."""
        return self.status != FAIL

    def assert_ok(self) -> None:
        if self.status == FAIL:
            raise ConformanceError(f"{self.name}: {self.message}")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "check": self.check, "device": self.device, "status": self.status,
                "message": self.message}


@dataclass(frozen=True)
class ConformanceReport:
    """Every check of one kernel class. Truthy-free on purpose: use :attr:`ok`."""

    kernel: str  # the kernel's declared name (or the class's qualified name if it has none)
    kernel_class: str  # module.QualName
    results: tuple[CheckResult, ...]
    devices: tuple[str, ...] = ()  # devices the runtime checks ran on
    skipped_devices: tuple[tuple[str, str], ...] = ()  # (device, why not)
    quick: bool = False
    seed: int = 0
    duration_s: float = 0.0
    kernel_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """No check failed."""
        return all(r.ok for r in self.results)

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if r.status == FAIL)

    @property
    def failed(self) -> set[str]:
        """Names of the failed checks (``numerics[cpu]``, ``can_implement``...)."""
        return {r.name for r in self.failures}

    @property
    def failed_checks(self) -> set[str]:
        """Failed checks without their device (``numerics``, ``can_implement``...)."""
        return {r.check for r in self.failures}

    def counts(self) -> dict[str, int]:
        return {status: sum(r.status == status for r in self.results) for status in STATUSES}

    def __getitem__(self, name: str) -> CheckResult:
        for result in self.results:
            if result.name == name:
                return result
        raise KeyError(f"no check named {name!r} in this report; checks: {', '.join(self.names())}")

    def __iter__(self) -> Iterator[CheckResult]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __bool__(self) -> bool:  # __len__ would make every report true, the failing ones too
        raise TypeError("a ConformanceReport has no truth value: use report.ok (or report.assert_ok())")

    def names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.results)

    def summary(self) -> str:
        c = self.counts()
        where = ", ".join(self.devices) if self.devices else "no device (static checks only)"
        verdict = "PASS" if self.ok else "FAIL"
        return (f"{self.kernel}: {verdict} - {c[PASS]} passed, {c[FAIL]} failed, {c[SKIP]} skipped; "
                f"runtime checks on {where}; seed {self.seed}{' (quick)' if self.quick else ''}; "
                f"{self.duration_s:.1f} s")

    def format_table(self, *, width: int = 100) -> str:
        """A text table: one row per check with its status and message."""
        title = f"conformance of kernel {self.kernel!r} ({self.kernel_class})"
        if self.kernel_kwargs:
            title += f" with {', '.join(f'{k}={v!r}' for k, v in self.kernel_kwargs.items())}"
        lines = [title]
        name_w = max([len(r.name) for r in self.results] + [5])
        for result in self.results:
            lines.extend(_row(result, name_w, width))
        if self.devices:  # otherwise the "runtime" row already says why
            for device, why in self.skipped_devices:
                lines.append(f"  (no runtime checks on {device}: {why})")
        lines.append(self.summary())
        return "\n".join(lines)

    def assert_ok(self) -> None:
        """Raise :class:`ConformanceError` with the table unless every check passed or skipped."""
        if not self.ok:
            raise ConformanceError("\n" + self.format_table())

    def to_dict(self) -> dict[str, Any]:
        return {
            "kernel": self.kernel,
            "kernel_class": self.kernel_class,
            "ok": self.ok,
            "counts": self.counts(),
            "devices": list(self.devices),
            "skipped_devices": {device: why for device, why in self.skipped_devices},
            "quick": self.quick,
            "seed": self.seed,
            "duration_s": round(self.duration_s, 3),
            "kernel_kwargs": {k: repr(v) for k, v in self.kernel_kwargs.items()},
            "results": [r.to_dict() for r in self.results],
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)


def _row(result: CheckResult, name_w: int, width: int) -> list[str]:
    label = {PASS: "pass", FAIL: "FAIL", SKIP: "skip"}[result.status]
    prefix = f"  {label:<4}  {result.name:<{name_w}}  "
    room = max(width - len(prefix), 30)
    lines: list[str] = []
    for paragraph in (result.message or "-").splitlines() or ["-"]:
        while len(paragraph) > room:
            cut = paragraph.rfind(" ", 0, room)
            cut = cut if cut > room // 2 else room
            lines.append(paragraph[:cut])
            paragraph = paragraph[cut:].lstrip()
        lines.append(paragraph)
    indent = " " * len(prefix)
    return [prefix + lines[0]] + [indent + line for line in lines[1:]]
