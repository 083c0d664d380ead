"""The core's conformance kit on this kernel: static checks here, runtime on sm_100."""

from __future__ import annotations

import pytest

from mxfp8_core.testing import check_kernel
from mxfp8_flashinfer_cutlass import FlashInferCutlassMxfp8Kernel as Kernel


def test_static_conformance():
    report = check_kernel(Kernel, seed=0)
    assert report.ok, report.format_table()


@pytest.mark.sm100
def test_runtime_conformance_on_blackwell():
    report = check_kernel(Kernel, devices="cuda", seed=0)
    assert report.ok, report.format_table()
    assert report.devices == ("cuda",), report.format_table()
