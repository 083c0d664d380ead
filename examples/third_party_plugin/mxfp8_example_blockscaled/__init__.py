"""mxfp8-example-blockscaled: an example third-party MXFP8 kernel plugin.

The kernel, :class:`BlockScaledKernel` (name ``example_blockscaled``), computes an MXFP8
linear layer the way MX tensor cores do: both operands are MXFP8, each 32-element block
product is summed from the raw fp8 values, and the two blocks' E8M0 scales are applied
to that partial sum.
"""

from .kernel import BlockScaledKernel

__all__ = ["BlockScaledKernel"]
