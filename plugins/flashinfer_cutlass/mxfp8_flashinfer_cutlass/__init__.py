"""mxfp8-flashinfer-cutlass: W8A8 MXFP8 GEMM on Blackwell (sm_100+) via FlashInfer's CUTLASS backend."""

from .kernel import FlashInferCutlassMxfp8Kernel

__all__ = ["FlashInferCutlassMxfp8Kernel"]
__version__ = "0.1.0"
