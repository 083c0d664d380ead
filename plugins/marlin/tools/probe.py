"""Probe: how fast can a Triton kernel with our loop structure stream an [N, K] uint8
weight at M=1, with the weight row-major or stored as contiguous [BN, BK] tiles?
(No scales, hardware fp8 convert, a dot against a 16-row activation tile.)

    python plugins/marlin/tools/probe.py
"""

from __future__ import annotations

import statistics

import torch
import triton
import triton.language as tl


@triton.jit
def stream_dot(q_ptr, x_ptr, y_ptr, N, K, BN: tl.constexpr, BK: tl.constexpr, SPLIT: tl.constexpr,
               TILED: tl.constexpr):
    pid_n = tl.program_id(0)
    pid_k = tl.program_id(1)
    kt_total = K // BK
    per = kt_total // SPLIT
    kt0 = pid_k * per
    rows = pid_n * BN + tl.arange(0, BN)
    offs_k = tl.arange(0, BK)
    if TILED:
        q_ptrs = q_ptr + (pid_n * kt_total + kt0).to(tl.int64) * (BN * BK) + tl.arange(0, BN)[:, None] * BK + offs_k[None, :]
        step = BN * BK
    else:
        q_ptrs = q_ptr + rows[:, None].to(tl.int64) * K + (kt0 * BK + offs_k)[None, :]
        step = BK
    x_ptrs = x_ptr + tl.arange(0, 16)[:, None] * 0 + (kt0 * BK + offs_k)[None, :]
    acc = tl.zeros((16, BN), dtype=tl.float32)
    for _ in range(per):
        q = tl.load(q_ptrs)
        x = tl.load(x_ptrs)
        w = q.to(tl.float8e4nv, bitcast=True).to(tl.float16)
        acc = tl.dot(x, tl.trans(w), acc)
        q_ptrs += step
        x_ptrs += BK
    tl.atomic_add(y_ptr + tl.arange(0, 16)[:, None] * 0 + rows[None, :], acc, sem="relaxed")


@triton.jit
def stream_tma(q_desc, x_desc, y_ptr, N, K, BN: tl.constexpr, BK: tl.constexpr, SPLIT: tl.constexpr):
    pid_n = tl.program_id(0)
    pid_k = tl.program_id(1)
    kt_total = K // BK
    per = kt_total // SPLIT
    kt0 = pid_k * per
    rows = pid_n * BN + tl.arange(0, BN)
    offs_k = tl.arange(0, BK)
    acc = tl.zeros((16, BN), dtype=tl.float32)
    for i in range(per):
        q = q_desc.load([pid_n * BN, (kt0 + i) * BK])
        x = x_desc.load([0, (kt0 + i) * BK])
        w = q.to(tl.float8e4nv, bitcast=True).to(tl.float16)
        acc = tl.dot(x, tl.trans(w), acc)
    tl.atomic_add(y_ptr + tl.arange(0, 16)[:, None] * 0 + rows[None, :], acc, sem="relaxed")


def graph_time_us(fn, reps, flush):
    fn()
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fn()
    st = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    en = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    for i in range(reps):
        flush.zero_()
        st[i].record()
        g.replay()
        en[i].record()
    torch.cuda.synchronize()
    return statistics.median(a.elapsed_time(b) for a, b in zip(st, en)) * 1e3


def main():
    flush = torch.empty(256 << 20, dtype=torch.uint8, device="cuda")
    src = torch.empty(1 << 30, dtype=torch.uint8, device="cuda").random_()
    dst = torch.empty_like(src)
    for _ in range(3):
        dst.copy_(src)
    torch.cuda.synchronize()
    ev = [torch.cuda.Event(enable_timing=True) for _ in range(2)]
    times = []
    for _ in range(10):
        ev[0].record()
        dst.copy_(src)
        ev[1].record()
        torch.cuda.synchronize()
        times.append(ev[0].elapsed_time(ev[1]))
    print(f"eager copy: {2 * src.numel() / (statistics.median(times) * 1e-3) / 1e12:.2f} TB/s; "
          f"graph copy: {2 * src.numel() / graph_time_us(lambda: dst.copy_(src), 10, flush) / 1e6:.2f} TB/s")
    del src, dst
    n = k = 8192
    q = torch.randint(0, 120, (n, k), dtype=torch.uint8, device="cuda")
    x = torch.randn(1, k, device="cuda").half()
    y = torch.zeros(16, n, device="cuda")
    roof = n * k / 3.0e12 * 1e6
    print(f"8192x8192 uint8: {n * k / 1e6:.0f} MB, at 3.0 TB/s {roof:.1f} us")
    from triton.tools.tensor_descriptor import TensorDescriptor

    for bn, bk, warps, stages in [(64, 256, 4, 3), (64, 256, 4, 4), (64, 256, 4, 6), (128, 256, 8, 3), (128, 256, 8, 4),
                                  (128, 128, 4, 4), (128, 128, 4, 6), (64, 128, 4, 6), (256, 128, 8, 4), (32, 256, 4, 6)]:
        desc = TensorDescriptor.from_tensor(q, [bn, bk])
        xdesc = TensorDescriptor.from_tensor(x, [16, bk])
        for split in (1, 2, 4):
            grid = (n // bn, split)
            fn = lambda: stream_tma[grid](desc, xdesc, y, n, k, BN=bn, BK=bk, SPLIT=split,  # noqa: E731
                                          num_warps=warps, num_stages=stages)
            try:
                us = graph_time_us(fn, 20, flush)
                print(f"TMA BN{bn:4d} BK{bk:5d} w{warps} s{stages} split{split}: {us:6.1f} us  {n * k / us / 1e6:.2f} TB/s",
                      flush=True)
            except Exception as exc:  # noqa: BLE001
                print(f"TMA BN{bn} BK{bk} w{warps} s{stages} split{split}: {type(exc).__name__} {str(exc)[:200]}")
    for bn, bk, warps, stages in [(64, 256, 4, 3), (128, 256, 8, 3), (128, 128, 4, 3)]:
        kt = k // bk
        tiled = q.view(n // bn, bn, kt, bk).permute(0, 2, 1, 3).contiguous()
        for split in (1, 2, 4):
            for is_tiled, qq in ((False, q), (True, tiled)):
                grid = (n // bn, split)
                fn = lambda: stream_dot[grid](qq, x, y, n, k, BN=bn, BK=bk, SPLIT=split, TILED=is_tiled,  # noqa: E731
                                              num_warps=warps, num_stages=stages)
                us = graph_time_us(fn, 20, flush)
                print(f"BN{bn:4d} BK{bk:5d} w{warps} s{stages} split{split} {'tiled' if is_tiled else 'rowmj'}: "
                      f"{us:6.1f} us  {n * k / us / 1e6:.2f} TB/s", flush=True)


if __name__ == "__main__":
    main()
