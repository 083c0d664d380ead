"""Probe for output elements the Gluon kernel leaves unwritten or wrong (a device-only
debugging aid): the caching allocator hands run_gemm's output the block of a NaN-filled
tensor just freed. It ran at ``0cbafc5`` (``bench/results/marlin_round16_flaky_h100_nan.txt``:
three stages with M = 300 failed); since ``0295467`` ``run_gemm`` refuses those shapes, so
check that commit out to run it as it was."""
import itertools

import torch

from mxfp8_core import dequantize_mxfp8, quantize_mxfp8
from mxfp8_marlin.configs import Config
from mxfp8_marlin.kernel import run_gemm
from mxfp8_marlin.packing import pack_weights

torch.manual_seed(0)
for k, m, stages, bm in itertools.product((320, 4096), (256, 300), (4, 3, 2), (128, 64)):
    q, s = quantize_mxfp8(torch.randn(4096, k, device="cuda") * 0.02)
    p = pack_weights(q, s)
    x = torch.randn(m, k, device="cuda").to(torch.bfloat16)
    ref = x.float() @ dequantize_mxfp8(q, s, torch.float32).T
    cfg = Config("wgmma", block_m=bm, block_n=64, block_k=128, num_warps=4, num_stages=stages)
    results = []
    for _ in range(5):
        junk = torch.full((m, 4096), float("nan"), dtype=torch.bfloat16, device="cuda")
        del junk
        y = run_gemm(x, p["marlin_weight"], p["marlin_scale"], p["marlin_row_scale"], None, torch.bfloat16, config=cfg)
        nan = torch.isnan(y)
        rows = nan.any(1).nonzero().flatten().tolist()
        err = float((y.float().nan_to_num() - ref).norm() / ref.norm())
        results.append((int(nan.sum()), rows[:3], len(rows), round(err, 4)))
    print(f"k={k} m={m} s{stages} bm{bm}: (nan count, first rows, rows, err) {results}", flush=True)
