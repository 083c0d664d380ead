"""The conformance kit of mxfp8-core, run on this plugin's kernel: the two ways to use it."""

import pytest

from mxfp8_core.testing import check_kernel
from mxfp8_example_blockscaled import BlockScaledKernel


# One pytest test per conformance check (class attributes, can_implement, numerics[cpu],
# process_atomic[cpu], ...): a failure names the check and says what went wrong.
@pytest.mark.mxfp8_conformance(BlockScaledKernel, quick=True)
def test_conformance(mxfp8_check):
    mxfp8_check.assert_ok()


# The same suite as a plain function, here on the full grid of shapes.
def test_conformance_full_grid():
    report = check_kernel(BlockScaledKernel)
    assert report.ok, report.format_table()
    assert "cpu" in report.devices  # the runtime checks really ran here
