"""Everything this plugin knows about FlashInfer, behind a lazy import.

``import flashinfer`` takes seconds (it loads its JIT machinery and CUDA Python
bindings), so nothing here imports it at module import. Questions that can be
answered without it (is it installed? which capabilities did the release we were
written against support?) never import it; the authoritative capability answer comes
from FlashInfer itself (``mm_mxfp8.is_backend_supported``) and is cached per capability.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from types import ModuleType

import torch

MODULE = "flashinfer"
DISTRIBUTION = "flashinfer-python"
INSTALL_HINT = f"pip install {DISTRIBUTION}"
BACKEND = "cutlass"

# What FlashInfer 0.7.2 declares for ``mm_mxfp8(backend="cutlass")``
# (``@supported_compute_capability`` on its cutlass requirement). Used only to answer
# planning questions when FlashInfer is not installed; when it is, FlashInfer is asked.
KNOWN_VERSION = "0.7.2"
KNOWN_CUTLASS_CAPABILITIES = frozenset({(10, 0), (10, 3), (10, 7), (11, 0), (12, 0), (12, 1)})

# Capabilities probed to list what an installed FlashInfer supports, for reasons.
_PROBED = tuple((major, minor) for major in range(10, 16) for minor in range(10))


def format_capability(capability: tuple[int, int]) -> str:
    return f"sm_{capability[0]}{capability[1]}"


def format_capabilities(capabilities) -> str:
    return ", ".join(format_capability(c) for c in sorted(capabilities))


@functools.cache
def installed() -> bool:
    """Is a ``flashinfer`` package findable? (Cheap: does not import it.)"""
    try:
        return importlib.util.find_spec(MODULE) is not None
    except (ImportError, ValueError):
        return False


@functools.cache
def _load() -> tuple[ModuleType | None, str | None]:
    try:
        return importlib.import_module(MODULE), None
    except Exception as exc:  # a broken install may fail in many ways; report, never raise
        return None, f"{type(exc).__name__}: {exc}"


def load() -> ModuleType | None:
    """The ``flashinfer`` module, or ``None`` when it cannot be imported (see :func:`import_error`)."""
    return _load()[0] if installed() else None


def import_error() -> str | None:
    """Why ``flashinfer`` cannot be imported, or ``None`` when it can."""
    if not installed():
        return f"FlashInfer is not installed: {INSTALL_HINT}"
    error = _load()[1]
    if error is None:
        return None
    return f"FlashInfer is installed but failed to import ({error}); reinstall it: pip install --force-reinstall {DISTRIBUTION}"


def require() -> ModuleType:
    """The ``flashinfer`` module, or an ImportError that says how to get it."""
    module = load()
    if module is None:
        raise ImportError(f"the flashinfer_cutlass MXFP8 kernel needs FlashInfer. {import_error()}")
    return module


def version() -> str:
    module = load()
    return getattr(module, "__version__", "?") if module is not None else "not installed"


@functools.cache
def cutlass_supports(capability: tuple[int, int]) -> bool | None:
    """FlashInfer's own answer for ``mm_mxfp8(backend="cutlass")`` on ``capability``;
    ``None`` when it cannot be asked (not importable, or too old to say)."""
    module = load()
    ask = getattr(getattr(module, "mm_mxfp8", None), "is_backend_supported", None)
    if ask is None:
        return None
    return bool(ask(BACKEND, capability[0] * 10 + capability[1]))


def supported_capabilities() -> frozenset[tuple[int, int]] | None:
    """The capabilities (among sm_100..sm_159) the installed FlashInfer runs the cutlass
    ``mm_mxfp8`` on, or ``None`` when it cannot be asked."""
    if cutlass_supports(_PROBED[0]) is None:
        return None
    return frozenset(c for c in _PROBED if cutlass_supports(c))


# ------------------------------------------------------------------ the calls
# Thin wrappers so that the kernel has one place that touches FlashInfer's API (and
# tests have one place to stand in for it on a CPU).


def quantize(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``x [M, K]`` (bf16/fp16, contiguous, CUDA sm_100+) -> ``(x_q [M, K] e4m3, sf 1-D 128x4)``."""
    return require().mxfp8_quantize(x, is_sf_swizzled_layout=True)


def gemm(
    a: torch.Tensor,
    b: torch.Tensor,
    a_scale: torch.Tensor,
    b_scale: torch.Tensor,
    out_dtype: torch.dtype,
    skip_check: bool,
) -> torch.Tensor:
    """``a [M, K] @ b [K, N]`` (``b`` column-major) with 1-D 128x4 scales, on FlashInfer's
    CUTLASS backend. ``skip_check`` bypasses FlashInfer's per-call argument validation."""
    return require().mm_mxfp8(a, b, a_scale, b_scale, out_dtype=out_dtype, backend=BACKEND, skip_check=skip_check)
