"""The format helpers give the same bits on CUDA as on the CPU (whose results the
reference tests pin down): quantize, dequantize and the 128x4 swizzle."""

from __future__ import annotations

import pytest
import torch

from mxfp8_core import dequantize_mxfp8, quantize_mxfp8, swizzle_scales_128x4, unswizzle_scales_128x4

pytestmark = pytest.mark.gpu

DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def hard_inputs(dtype: torch.dtype) -> torch.Tensor:
    """Random blocks at many magnitudes plus every edge case of the format."""
    g = torch.Generator().manual_seed(0)
    finfo = torch.finfo(dtype)
    rows = [torch.randn(64, 256, generator=g) * 10.0 ** torch.randint(-30, 30, (64, 1), generator=g)]
    edge = torch.randn(8, 256, generator=g)
    edge[0, :32] = 0.0  # all-zero block
    edge[1, :32] = finfo.tiny / 4  # subnormal amax
    edge[2, 5] = float("inf")
    edge[3, 40] = float("nan")
    edge[4, 64:96] = finfo.max / 2  # amax near the largest finite scale
    edge[5, 96:128] = torch.tensor([448.0, 449.0, 464.0, 512.0]).repeat(8)  # rceil/floor boundaries
    edge[6, :] = (torch.arange(256) % 17 - 8) * 0.0625 * 2.0**-3  # e4m3 ties
    rows.append(edge)
    return torch.cat(rows).to(dtype)  # values past fp16's range become inf: one more edge case


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rounding", ("rceil", "floor"))
def test_quantize_is_bit_identical_on_cuda(dtype, rounding):
    x = hard_inputs(dtype)
    data_cpu, scales_cpu = quantize_mxfp8(x, rounding=rounding)
    data_gpu, scales_gpu = quantize_mxfp8(x.cuda(), rounding=rounding)
    assert torch.equal(scales_gpu.cpu(), scales_cpu)
    assert torch.equal(data_gpu.cpu().view(torch.uint8), data_cpu.view(torch.uint8))


@pytest.mark.parametrize("dtype", DTYPES + (torch.float64,))
def test_dequantize_is_bit_identical_on_cuda(dtype):
    data = torch.arange(256, dtype=torch.int32).to(torch.uint8).repeat(9, 1).view(torch.float8_e4m3fn)
    scales = torch.tensor([0, 1, 100, 127, 128, 200, 253, 254, 255], dtype=torch.uint8)
    scales = scales[:, None].expand(9, 8).contiguous()
    cpu = dequantize_mxfp8(data, scales, dtype)
    gpu = dequantize_mxfp8(data.cuda(), scales.cuda(), dtype).cpu()
    assert torch.equal(gpu.view(-1).isnan(), cpu.view(-1).isnan())
    assert torch.equal(torch.nan_to_num(gpu), torch.nan_to_num(cpu))


def test_swizzle_is_identical_on_cuda():
    scales = torch.randint(0, 255, (300, 40), dtype=torch.uint8)
    swizzled = swizzle_scales_128x4(scales.cuda())
    assert torch.equal(swizzled.cpu(), swizzle_scales_128x4(scales))
    assert torch.equal(unswizzle_scales_128x4(swizzled, 300, 40).cpu(), scales)
