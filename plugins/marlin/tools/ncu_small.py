"""The small-M kernels at 8192x8192 for Nsight Compute (a program, not a test):

    ncu --clock-control none -k regex:mx_w8a16 --section SpeedOfLight --section Occupancy \
        --section WarpStateStats --section MemoryWorkloadAnalysis python3 plugins/marlin/tools/ncu_small.py

Runs the M=1 CUDA-core kernel and the M=16 tensor-core kernel once each, after a warm-up
call of each (so ncu sees compiled kernels; profile with ``--launch-skip 2``)."""

import torch

from mxfp8_core import quantize_mxfp8
from mxfp8_marlin.kernel import run_gemm
from mxfp8_marlin.packing import pack_weights

q, s = quantize_mxfp8(torch.randn(8192, 8192, device="cuda") * 0.02)
p = pack_weights(q, s)
args = (p["marlin_weight"], p["marlin_scale"], p["marlin_row_scale"], None, torch.bfloat16)
xs = [torch.randn(m, 8192, device="cuda", dtype=torch.bfloat16) for m in (1, 16)]
for x in xs:  # warm-up: compile
    run_gemm(x, *args)
torch.cuda.synchronize()
for x in xs:
    run_gemm(x, *args)
torch.cuda.synchronize()
