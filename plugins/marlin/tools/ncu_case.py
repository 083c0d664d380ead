"""One GEMM for Nsight Compute (a program, not a test): ``marlin`` (the default config,
or ``--config``) or cuBLAS bf16 (``--cublas``) at one shape, called twice (the first
call compiles), so ``ncu --launch-skip 1 --launch-count 1 -k regex:NAME`` profiles the
second. Used by ``tools/ncu_case.sh``.

    python plugins/marlin/tools/ncu_case.py N K M [--cublas] [--config strategy,BM,BN,BK,stages,split]
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from mxfp8_core import quantize_mxfp8
from mxfp8_marlin import configs
from mxfp8_marlin.kernel import num_sms, run_gemm
from mxfp8_marlin.packing import pack_weights

ap = argparse.ArgumentParser()
ap.add_argument("n", type=int)
ap.add_argument("k", type=int)
ap.add_argument("m", type=int)
ap.add_argument("--cublas", action="store_true")
ap.add_argument("--config", default="", help="strategy,block_m,block_n,block_k,stages,split_k")
a = ap.parse_args()

torch.manual_seed(0)
w = torch.randn(a.n, a.k, device="cuda") * 0.02
x = torch.randn(a.m, a.k, device="cuda").to(torch.bfloat16)
if a.cublas:
    wb = w.to(torch.bfloat16)
    call = lambda: F.linear(x, wb)  # noqa: E731
else:
    p = pack_weights(*quantize_mxfp8(w))
    args = (p["marlin_weight"], p["marlin_scale"], p["marlin_row_scale"], None, torch.bfloat16)
    cfg = None
    if a.config:
        s, bm, bn, bk, st, sk = a.config.split(",")
        cfg = configs.Config(s, block_m=int(bm), block_n=int(bn), block_k=int(bk), num_stages=int(st),
                             split_k=int(sk))
    tk = args[0].shape[2]
    print("config:", (cfg or configs.choose(a.m, a.n, a.k, num_sms(x.device), tile_k=tk, wgmma=True)).describe())
    call = lambda: run_gemm(x, *args, config=cfg)  # noqa: E731
for _ in range(2):
    call()
    torch.cuda.synchronize()
