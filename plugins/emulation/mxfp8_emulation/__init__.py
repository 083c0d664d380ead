"""mxfp8-emulation: the pure-PyTorch MXFP8 linear kernel (runs anywhere)."""

from .kernel import EmulationKernel

__all__ = ["EmulationKernel"]
