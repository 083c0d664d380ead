"""mxfp8-marlin: weight-only MXFP8 (W8A16) linear kernels for SM80+ GPUs, in Triton."""

from .kernel import MarlinKernel

__all__ = ["MarlinKernel"]
