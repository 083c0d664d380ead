"""Where the host time of one eager marlin call goes (a program, not a test; needs a GPU).

    python plugins/marlin/tools/host_time.py

Times ``run_gemm`` and the bare Triton launch of the same kernel (no GPU work to wait
for: the weight is 256 x 256), then prints a cProfile of ``run_gemm``; on sm_90 with the
Gluon kernels on, also ``run_gemm``'s default path (``wgmma`` at M = 16, ``pingpong`` at
M = 256) and its cProfile.
"""

from __future__ import annotations

import cProfile
import pstats
import time

import torch

from mxfp8_core import quantize_mxfp8
from mxfp8_marlin import configs, kernel
from mxfp8_marlin.kernel import _dummies, default_decode, num_sms, run_gemm
from mxfp8_marlin.packing import pack_weights


def per_call_us(fn, number: int = 2000) -> float:
    for _ in range(100):
        fn()
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        torch.cuda.synchronize()
        best = min(best, (time.perf_counter() - t0) / number * 1e6)
    return best


def main() -> None:
    from mxfp8_marlin import _triton as kern

    q, s = quantize_mxfp8(torch.randn(256, 256, device="cuda") * 0.02)
    p = pack_weights(q, s)
    qp, dp, rsp = p["marlin_weight"], p["marlin_scale"], p["marlin_row_scale"]
    for m in (1, 16):
        x = torch.randn(m, 256, device="cuda", dtype=torch.bfloat16)
        # 256 rows are too few for the CUDA-core kernel's grid: the tile kernel, split-K 1.
        cfg = configs.choose(m, 256, 256, num_sms(x.device), tile_k=qp.shape[2])
        assert cfg.strategy == "fused" and cfg.split_k == 1, cfg
        call = lambda: run_gemm(x, qp, dp, rsp, None, torch.bfloat16, config=cfg)  # noqa: E731
        y = torch.empty(m, 256, device="cuda", dtype=torch.bfloat16)
        ws, cnt = _dummies(x.device)
        tiles = configs.output_tiles(m, 256, cfg)
        launch = lambda: kern.mx_w8a16_gemm[(tiles, 1)](  # noqa: E731  (the launch run_gemm makes)
            x, qp, dp, rsp, y, y, ws, cnt, m, 256, 256, x.stride(0), x.stride(1), y.stride(0),
            qp.stride(0), dp.stride(0), HAS_BIAS=False, TK=qp.shape[2], BLOCK_M=cfg.block_m, BLOCK_N=cfg.block_n,
            BLOCK_K=cfg.block_k, SPLIT_K=1, GROUP_N=cfg.group_n,
            DECODE=default_decode(x.device, False, cfg, x.dtype), DOT=kern.tl.bfloat16, SWAP=cfg.swap,
            num_warps=cfg.num_warps, num_stages=cfg.num_stages)
        empty = lambda: torch.empty(m, 256, device="cuda", dtype=torch.bfloat16)  # noqa: E731
        print(f"M={m} {cfg.describe()}: run_gemm {per_call_us(call):.1f} us, bare launch {per_call_us(launch):.1f} us, "
              f"torch.empty {per_call_us(empty):.1f} us")
        profile(call)
    if kernel.GLUON and kernel.wgmma_ready(qp.device, False):
        for m in (16, 256):
            x = torch.randn(m, 256, device="cuda", dtype=torch.bfloat16)
            cfg = configs.choose(m, 256, 256, num_sms(x.device), tile_k=qp.shape[2], wgmma=True)
            call = lambda: run_gemm(x, qp, dp, rsp, None, torch.bfloat16)  # noqa: E731
            print(f"M={m} {cfg.describe()} (Gluon): run_gemm {per_call_us(call):.1f} us")
            profile(call)


def profile(call) -> None:
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(2000):
        call()
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(12)


if __name__ == "__main__":
    main()
