"""Kernel selection: filter by support, rank, explain, cache.

Candidates are filtered by ``is_supported(target)`` and ``can_implement(config)`` and
ranked by priority (higher first), ties broken by name, so every process makes the same
choice. Overrides, read at every call (arguments win over the environment):

- ``MXFP8_KERNELS`` / ``kernels=``: only these kernels, tried in this order. If none of
  them can run, selection fails with each one's reasons; it never falls back to others.
- ``MXFP8_DISABLED_KERNELS`` / ``disabled=``: never consider these.

Unknown names in either are errors that list the known names.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from .config import Mxfp8LinearLayerConfig
from .discovery import KernelEntry, PluginInfo, PluginRegistry, get_registry
from .errors import NoKernelAvailable, UnknownKernelError
from .kernel import Mxfp8LinearKernel
from .platform import Target, resolve_target
from .support import Support

logger = logging.getLogger("mxfp8_core")

ENV_KERNELS = "MXFP8_KERNELS"
ENV_DISABLED = "MXFP8_DISABLED_KERNELS"

SELECTED, USABLE, REJECTED, DISABLED, NOT_REQUESTED = "selected", "usable", "rejected", "disabled", "not requested"

# What to install when no kernel at all is found.
KNOWN_DISTRIBUTIONS = (
    ("mxfp8-emulation", "pure PyTorch, runs anywhere, CPU included"),
    ("mxfp8-marlin", "fast weight-only kernel for NVIDIA GPUs, sm_80 and newer"),
    ("mxfp8-flashinfer-cutlass", "native MXFP8 tensor cores on NVIDIA Blackwell, sm_100 and newer"),
)


@dataclass(frozen=True)
class Candidate:
    """One discovered kernel and the verdict on it."""

    name: str
    plugin: str
    distribution: str | None
    version: str | None
    priority: int
    scheme: str
    verdict: str  # selected, usable, rejected, disabled, not requested
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "plugin": self.plugin,
            "distribution": self.distribution,
            "version": self.version,
            "priority": self.priority,
            "scheme": self.scheme,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class Selection:
    """The chosen kernel and the full account of how it was chosen."""

    kernel: type[Mxfp8LinearKernel]
    config: Mxfp8LinearLayerConfig
    target: Target
    candidates: tuple[Candidate, ...]
    forced: tuple[str, ...] | None
    disabled: tuple[str, ...]
    plugin_errors: tuple[PluginInfo, ...]

    @property
    def name(self) -> str:
        return self.kernel.name

    def explain(self) -> str:
        return _render(self.config, self.target, self.candidates, self.forced, self.disabled, self.plugin_errors)

    def to_dict(self) -> dict[str, Any]:
        return _as_dict(self.config, self.target, self.candidates, self.forced, self.disabled, self.plugin_errors) | {
            "selected": self.kernel.name
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)


def _make_getenv():
    """``os.environ.get`` for the two override names, without its per-call key encoding:
    engines select on every layer and step, and ``os.environ.get`` costs ~1 us a call.
    CPython's ``os.environ`` keeps its encoded keys in ``_data``; anywhere else, or if
    that ever changes, this is plain ``os.environ.get``."""
    environ = os.environ
    data, encode, decode = (getattr(environ, attr, None) for attr in ("_data", "encodekey", "decodevalue"))
    if not (isinstance(data, dict) and callable(encode) and callable(decode)):
        return environ.get
    keys = {name: encode(name) for name in (ENV_KERNELS, ENV_DISABLED)}

    def getenv(name: str) -> str | None:
        raw = data.get(keys[name])
        return None if raw is None else decode(raw)

    return getenv


_getenv = _make_getenv()
# How messages name the two overrides when they come as arguments; the command line names its
# options instead (``argument_names``), down to the layers its demo processes.
_argument_names: ContextVar[tuple[str, str]] = ContextVar("mxfp8_argument_names", default=("kernels=", "disabled="))


@contextmanager
def argument_names(kernels: str, disabled: str) -> Iterator[None]:
    """Within the block, errors and verdicts name the ``kernels``/``disabled`` arguments
    so (e.g. ``--kernels``: the option the user typed)."""
    if not (isinstance(kernels, str) and isinstance(disabled, str) and kernels and disabled):
        raise TypeError(f"argument_names needs two non-empty strings, got {kernels!r}, {disabled!r}")
    token = _argument_names.set((kernels, disabled))
    try:
        yield
    finally:
        _argument_names.reset(token)


_cache: dict[tuple, Selection] = {}
_cache_lock = threading.Lock()


def clear_selection_cache() -> None:
    """Forget every cached selection (plugins changing clears it implicitly)."""
    with _cache_lock:
        _cache.clear()


def select_kernel(
    config: Mxfp8LinearLayerConfig,
    *,
    capability: object = None,
    kernels: str | Sequence[str] | None = None,
    disabled: str | Sequence[str] | None = None,
    registry: PluginRegistry | None = None,
) -> Selection:
    """Choose the best installed kernel for ``config`` on ``capability`` (default: the
    current device). Raises :class:`~mxfp8_core.NoKernelAvailable` with every candidate's
    reasons when none can run."""
    registry = registry if registry is not None else get_registry()
    target = resolve_target(capability)
    if not isinstance(config, Mxfp8LinearLayerConfig):
        raise TypeError(f"select_kernel needs an Mxfp8LinearLayerConfig, got {type(config).__name__}")
    kernels_name, disabled_name = _argument_names.get()
    forced_by = kernels_name if kernels is not None else ENV_KERNELS
    banned_by = disabled_name if disabled is not None else ENV_DISABLED
    # Checked before the cache, so an argument is valid or not whatever was cached.
    forced_raw = _freeze(kernels if kernels is not None else _getenv(ENV_KERNELS), forced_by)
    disabled_raw = _freeze(disabled if disabled is not None else _getenv(ENV_DISABLED), banned_by)
    # The sources too: a verdict names where a kernel was disabled. The registry's serial,
    # not its id(): a new registry may reuse a freed one's id at the same generation.
    key = (config, target, forced_raw, disabled_raw, forced_by, banned_by, registry.serial, registry.generation)
    hit = _cache.get(key)
    if hit is not None:
        return hit
    entries = registry.kernels()
    forced = _parse_names(forced_raw, forced_by, entries, registry)
    if forced == ():
        if kernels is not None:
            raise ValueError(f"{forced_by} names no kernel; leave it out for no override")
        forced = None  # MXFP8_KERNELS="" means no override
    banned = _parse_names(disabled_raw, banned_by, entries, registry) or ()
    if forced is not None:
        clash = sorted(set(forced) & set(banned))
        if clash:
            raise ValueError(f"kernel(s) {', '.join(clash)} are both forced ({forced_by}) and disabled "
                             f"({banned_by}); remove them from one list")
    selection = _select(config, target, entries, forced, tuple(banned), banned_by, registry)
    with _cache_lock:
        _cache[key] = selection
    return selection


def _select(
    config: Mxfp8LinearLayerConfig,
    target: Target,
    entries: tuple[KernelEntry, ...],
    forced: tuple[str, ...] | None,
    banned: tuple[str, ...],
    banned_by: str,
    registry: PluginRegistry,
) -> Selection:
    by_name = {entry.name: entry for entry in entries}
    ranked = sorted(entries, key=lambda e: (-e.kernel.priority, e.name))
    order = [by_name[name] for name in forced] if forced is not None else [e for e in ranked if e.name not in banned]
    verdicts: dict[str, tuple[str, tuple[str, ...]]] = {}
    chosen: KernelEntry | None = None
    for entry in order:
        reasons = evaluate(entry.kernel, config, target)
        if reasons:
            verdicts[entry.name] = (REJECTED, reasons)
        elif chosen is None:
            chosen = entry
            verdicts[entry.name] = (SELECTED, ())
        else:
            verdicts[entry.name] = (USABLE, ())
    for entry in ranked:
        if entry.name in banned:
            verdicts[entry.name] = (DISABLED, (f"disabled by {banned_by}",))
        elif entry.name not in verdicts:
            verdicts[entry.name] = (NOT_REQUESTED, ("not in the forced kernel list",))
    listed = order + [e for e in ranked if e not in order]
    candidates = tuple(_candidate(entry, *verdicts[entry.name]) for entry in listed)
    plugin_errors = tuple(info for info in registry.plugins() if info.errors)
    if chosen is None:
        raise _no_kernel(config, target, candidates, forced, banned, plugin_errors, registry)
    skipped = [c.name for c in candidates[: [c.name for c in candidates].index(chosen.name)]]
    if forced is not None and skipped:
        logger.warning(
            "mxfp8: forced kernel(s) %s cannot run %s on %s; using %s (see Selection.explain())",
            ", ".join(skipped), config.describe(), target, chosen.name,
        )
    else:
        logger.info("mxfp8: using kernel %s for %s on %s", chosen.name, config.describe(), target)
    return Selection(chosen.kernel, config, target, candidates, forced, banned, plugin_errors)


def evaluate(kernel: type[Mxfp8LinearKernel], config: Mxfp8LinearLayerConfig, target: Target) -> tuple[str, ...]:
    """Every reason ``kernel`` cannot run ``config`` on ``target`` (empty when it can).
    A plugin's check that raises or returns garbage becomes a reason, never a crash."""
    return ask(kernel, "is_supported", target) + ask(kernel, "can_implement", config)


def ask(kernel: type[Mxfp8LinearKernel], method: str, arg: object) -> tuple[str, ...]:
    """The reasons of one of ``kernel``'s checks; raising or answering garbage is a reason."""
    try:
        answer = getattr(kernel, method)(arg)
    except Exception as exc:  # noqa: BLE001 - third-party code
        return (f"{method} raised {type(exc).__name__}: {exc}",)
    support = _as_support(answer)
    if support is None:
        return (f"{method} returned {answer!r}, not a Support or an (ok, reason) pair",)
    return support.reasons


def _as_support(answer: object) -> Support | None:
    if isinstance(answer, Support):
        return answer
    if isinstance(answer, tuple) and len(answer) == 2 and isinstance(answer[0], bool):
        ok, reason = answer
        if ok:
            return Support.yes()
        return Support.no(str(reason) if reason else "rejected without a reason")
    return None


def _candidate(entry: KernelEntry, verdict: str, reasons: tuple[str, ...]) -> Candidate:
    plugin = entry.plugin
    return Candidate(
        entry.name, plugin.name, plugin.distribution, plugin.version,
        entry.kernel.priority, entry.kernel.scheme, verdict, reasons,
    )


def _parse_names(
    raw: str | tuple[str, ...] | None, source: str, entries: tuple[KernelEntry, ...], registry: PluginRegistry
) -> tuple[str, ...] | None:
    if raw is None:
        return None
    items = raw.split(",") if isinstance(raw, str) else raw
    names = tuple(dict.fromkeys(item.strip() for item in items if item.strip()))
    known = {entry.name for entry in entries}
    unknown = [name for name in names if name not in known]
    if unknown:
        failed = [info.name for info in registry.plugins() if not info.ok]
        hint = "" if registry.autoload else f" ({registry.autoload_off_reason()})"
        if failed:
            hint += (f"; {len(failed)} plugin(s) failed to load ({', '.join(failed)}): "
                     f"run `mxfp8 plugins` for their errors")
        raise UnknownKernelError(
            f"{source} names unknown kernel(s) {', '.join(repr(n) for n in unknown)}; known kernels: "
            f"{', '.join(sorted(known)) or 'none'}{hint}"
        )
    return names


def _freeze(raw: object, source: str) -> str | tuple[str, ...] | None:
    """An override as the cache key holds it, or a TypeError when it is no list of names."""
    if raw is None or isinstance(raw, str):
        return raw
    if isinstance(raw, Sequence) and all(isinstance(item, str) for item in raw):
        return tuple(raw)
    raise TypeError(f"{source}: expected kernel names (a string or a sequence of strings), got {raw!r}")


def _no_kernel(config, target, candidates, forced, banned, plugin_errors, registry) -> NoKernelAvailable:
    text = _render(config, target, candidates, forced, banned, plugin_errors)
    if not candidates:
        lines = ["no MXFP8 kernel is installed; install at least one of:"]
        lines += [f"  pip install {dist:<26} # {what}" for dist, what in KNOWN_DISTRIBUTIONS]
        if not registry.autoload:
            lines.append(f"({registry.autoload_off_reason()})")
        text = "\n".join(lines) + "\n" + text
    elif forced is not None:
        text = f"none of the forced kernels ({', '.join(forced)}) can run this layer\n" + text
    else:
        text = "no installed kernel can run this layer\n" + text
    error = NoKernelAvailable(text)
    error.candidates = candidates
    error.config = config
    error.target = target
    return error


def _overrides(forced: tuple[str, ...] | None, banned: tuple[str, ...]) -> str:
    parts = []
    if forced is not None:
        parts.append(f"forced: {', '.join(forced)}")
    if banned:
        parts.append(f"disabled: {', '.join(banned)}")
    return "; ".join(parts) or "none"


def _render(config, target, candidates: Iterable[Candidate], forced, banned, plugin_errors) -> str:
    candidates = list(candidates)
    lines = [f"MXFP8 kernel selection for {config.describe()} on {target}"]
    order = "in the forced order" if forced is not None else "by priority, ties by name"
    lines.append(f"  candidates {order}; overrides: {_overrides(forced, banned)}")
    width = max([len(c.name) for c in candidates] + [4])
    for c in candidates:
        dist = f"{c.distribution} {c.version}" if c.distribution else f"plugin {c.plugin}"
        lines.append(f"  {c.verdict:<13} {c.name:<{width}}  priority {c.priority:>4}  {c.scheme:<8}  {dist}")
        lines.extend(f"  {'':<13} - {reason}" for reason in c.reasons)
    if not candidates:
        lines.append("  (no kernels found)")
    for info in plugin_errors:
        lines.append(f"  plugin {info.name} ({info.label}) failed: {'; '.join(info.errors)}")
    return "\n".join(lines)


def _as_dict(config, target, candidates, forced, banned, plugin_errors) -> dict[str, Any]:
    return {
        "config": config.to_dict(),
        "target": target.to_dict() | {"name": str(target)},
        "overrides": {"kernels": list(forced) if forced is not None else None, "disabled": list(banned)},
        "candidates": [c.to_dict() for c in candidates],
        "plugin_errors": [info.to_dict() for info in plugin_errors],
    }
