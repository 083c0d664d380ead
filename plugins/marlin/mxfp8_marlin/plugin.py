"""Entry point of the mxfp8-marlin distribution (cheap to import: no Triton here)."""

from mxfp8_core import hookimpl

from .kernel import MarlinKernel


@hookimpl
def mxfp8_core_kernels():
    return [MarlinKernel]
