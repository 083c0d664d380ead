"""Conformance kit for MXFP8 kernel plugins.

Check that a kernel class keeps the :class:`~mxfp8_core.Mxfp8LinearKernel` contract::

    from mxfp8_core.testing import check_kernel

    report = check_kernel(MyKernel)          # runs on every device MyKernel supports here
    assert report.ok, report.format_table()

The same checks run as pytest tests (``pytest --mxfp8-kernel=NAME``, or the
``mxfp8_conformance`` marker; see :mod:`mxfp8_core.testing.pytest_plugin`) and from the
command line (``mxfp8 check [KERNEL ...]``).

Names are imported lazily, so importing this package (as the pytest plugin does in
every pytest run) costs nothing until the kit is used.
"""

from __future__ import annotations

from .._lazy import lazy_namespace

_EXPORTS = {
    "check_kernel": "conformance",
    "planned_checks": "conformance",
    "devices_here": "conformance",
    "STATIC_CHECKS": "conformance",
    "RUNTIME_CHECKS": "conformance",
    "CheckResult": "report",
    "ConformanceReport": "report",
    "ConformanceError": "report",
    "PASS": "report",
    "FAIL": "report",
    "SKIP": "report",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_namespace(__name__, globals(), _EXPORTS)
