"""``BlockScaledKernel``: an MXFP8 x MXFP8 (W8A8) linear layer computed block by block.

MX hardware never dequantizes a whole operand. For every 32-element block along K it
multiplies the raw fp8 values of the activation block and the weight block, sums the 32
products, and only then multiplies that partial sum by the two blocks' scales
``2**(ex - 127) * 2**(ew - 127)``. This kernel does the same with PyTorch operations,
so it runs on any device (the CPU included), and its numerics are those of a W8A8
MX GEMM:

    y[m, n] = sum over blocks g of  2**(ex[m, g] - 127) * 2**(ew[n, g] - 127)
                                    * sum over k in g of  x8[m, k] * w8[n, k]

- Activations are quantized to MXFP8 per call (``quantize_mxfp8``, rceil rounding as
  NVIDIA hardware does); that rounding is the only approximation, which is why the
  scheme is ``"w8a8"`` and the base class's W8A8 tolerance applies.
- A product of two e4m3 values has at most 8 significant bits, so every product is
  exact in float32 (and in TF32, should a user enable it); the block sums and the sum
  over blocks run in float32.
- The weights are repacked once, at load, block-major: ``[K/32, 32, N]`` fp8 plus
  ``[K/32, N]`` scale bytes, so each block's product is one batched matmul.

It is an example, not a fast kernel: it materializes ``[blocks, M, N]`` partial sums
(in chunks of at most 16 Mi elements).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from mxfp8_core import BLOCK_SIZE, Mxfp8LinearKernel, quantize_mxfp8

# Largest number of float32 partial sums held at once (chunks of blocks).
PARTIALS_PER_CHUNK = 1 << 24


class BlockScaledKernel(Mxfp8LinearKernel):
    """Block-scaled W8A8 MXFP8 GEMM in PyTorch; runs on any device; opt-in (priority -10)."""

    # --- identity: the name users type in MXFP8_KERNELS, and where it ranks.
    name = "example_blockscaled"
    # Negative: never chosen over the repository's kernels (emulation is 0) unless a
    # user asks for it with MXFP8_KERNELS=example_blockscaled.
    priority = -10
    scheme = "w8a8"

    # --- declared limits: the base class turns these into rejection reasons.
    devices = None  # any device PyTorch runs on
    act_dtypes = frozenset({torch.bfloat16, torch.float16, torch.float32})
    out_dtypes = frozenset({torch.bfloat16, torch.float16, torch.float32})
    # K must be a multiple of 32 (the base class's default); any N; bias supported.

    # ------------------------------------------------------------------ load time
    def prepare_weights(self, weight: torch.Tensor, weight_scale: torch.Tensor) -> Mapping[str, torch.Tensor | None]:
        """Repack ``weight [N, K]`` and ``weight_scale [N, K/32]`` block-major. Pure: it
        returns new tensors and the base class installs them (all or nothing)."""
        n, k = weight.shape
        blocks = k // BLOCK_SIZE
        # [N, K] -> [N, blocks, 32] -> [blocks, 32, N]: block g is a [32, N] matrix.
        packed = weight.view(torch.uint8).reshape(n, blocks, BLOCK_SIZE).permute(1, 2, 0).contiguous()
        return {
            "blockscaled_weight": packed.view(torch.float8_e4m3fn),
            "blockscaled_scale": weight_scale.t().contiguous(),  # [blocks, N] E8M0 bytes
            # The repacked copy replaces the checkpoint's tensors.
            "weight": None,
            "weight_scale": None,
        }

    # ------------------------------------------------------------------ run time
    def apply_2d(self, layer: torch.nn.Module, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """``x [M, K]`` (already checked by the base class: dtype, K, M >= 1) -> ``[M, N]``."""
        w8 = layer.blockscaled_weight  # [blocks, 32, N] fp8
        w_exp = layer.blockscaled_scale.to(torch.int32) - 127  # [blocks, N]
        blocks, _, n = w8.shape
        m = x.shape[0]

        x8, x_scale = quantize_mxfp8(x)  # [M, K] fp8, [M, blocks] uint8; x itself is not modified
        x8 = x8.reshape(m, blocks, BLOCK_SIZE).transpose(0, 1)  # [blocks, M, 32]
        x_exp = x_scale.t().to(torch.int32) - 127  # [blocks, M]

        acc = torch.zeros(m, n, dtype=torch.float32, device=x.device)
        chunk = max(1, PARTIALS_PER_CHUNK // max(m * n, 1))
        for g in range(0, blocks, chunk):
            sl = slice(g, g + chunk)
            # Raw fp8 block products, summed over each block's 32 elements: [c, M, N].
            partial = torch.bmm(x8[sl].to(torch.float32), w8[sl].to(torch.float32))
            # Then the two E8M0 scales, each an exact power of two.
            partial = torch.ldexp(partial, x_exp[sl].unsqueeze(2))
            partial = torch.ldexp(partial, w_exp[sl].unsqueeze(1))
            acc += partial.sum(dim=0)
        if bias is not None:
            acc += bias.to(torch.float32)
        return acc.to(self.config.out_dtype)
