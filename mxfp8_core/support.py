"""``Support``: the answer of ``is_supported`` and ``can_implement``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator


@dataclass(frozen=True)
class Support:
    """Whether a kernel can run, and every reason why not.

    Unpacks as ``(ok, reason)`` like vLLM's kernels (``reason`` is ``None`` when ok), and
    is truthy when ok. ``reasons`` keeps each failed check separately.
    """

    ok: bool
    reasons: tuple[str, ...] = ()

    @classmethod
    def yes(cls) -> "Support":
        return _YES

    @classmethod
    def no(cls, *reasons: str) -> "Support":
        if not reasons:
            raise ValueError("Support.no() needs at least one reason")
        return cls(False, tuple(reasons))

    @classmethod
    def from_reasons(cls, reasons: "list[str] | tuple[str, ...]") -> "Support":
        return cls(False, tuple(reasons)) if reasons else _YES

    @property
    def reason(self) -> str | None:
        return "; ".join(self.reasons) if self.reasons else None

    def __bool__(self) -> bool:
        return self.ok

    def __iter__(self) -> Iterator[object]:
        yield self.ok
        yield self.reason

    def __post_init__(self) -> None:
        if self.ok and self.reasons:
            raise ValueError("a positive Support carries no reasons")
        if not self.ok and not self.reasons:
            raise ValueError("a negative Support needs at least one reason")


_YES = Support(True)
