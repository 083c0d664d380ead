"""Entry point of the ``mxfp8-flashinfer-cutlass`` plugin (group ``mxfp8_core.plugins``).

Importing this module does not import FlashInfer: the kernel imports it lazily, so the
plugin loads, and explains itself, where FlashInfer is missing or broken.
"""

from mxfp8_core import hookimpl

from .kernel import FlashInferCutlassMxfp8Kernel


@hookimpl
def mxfp8_core_kernels():
    return [FlashInferCutlassMxfp8Kernel]
