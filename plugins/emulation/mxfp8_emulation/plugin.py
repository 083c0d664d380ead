"""Entry point of the mxfp8-emulation distribution."""

from mxfp8_core import hookimpl

from .kernel import EmulationKernel


@hookimpl
def mxfp8_core_kernels():
    return [EmulationKernel]
