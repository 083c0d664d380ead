"""The Triton kernels, end to end through the kernel class. Without a GPU they run in
the Triton interpreter (see conftest.py) on small shapes; with one, on the GPU."""

from __future__ import annotations

import os

import pytest
import torch

from mxfp8_core import Mxfp8LinearLayerConfig, quantize_mxfp8
from mxfp8_marlin import MarlinKernel, configs, packing
from mxfp8_marlin import kernel as kernel_module
from mxfp8_marlin.configs import Config
from mxfp8_marlin.kernel import run_gemm
from mxfp8_marlin.packing import pack_weights

from marlin_test_helpers import Layer, make, reference, rel_err

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
DECODES = ["bits", "cvt"] + (["asm"] if DEVICE == "cuda" else [])
DTYPES = [torch.bfloat16, torch.float16]


def processed(n, k, act, bias=False, seed=0, out=None):
    layer, config, w32 = make(n, k, device=DEVICE, act=act, bias=bias, seed=seed)
    if out is not None:
        config = Mxfp8LinearLayerConfig(k, n, act, out, has_bias=bias)
    kernel = MarlinKernel(config)
    kernel.process_weights_after_loading(layer)
    return layer, kernel, w32


def x_for(shape, act, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g).to(act).to(DEVICE)


@pytest.mark.parametrize("act", DTYPES)
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("m", [0, 1, 3, 16, 17, 40])
@pytest.mark.parametrize("n,k", [(37, 96), (80, 320)])
def test_matches_the_float32_reference(m, n, k, act, bias):
    layer, kernel, w32 = processed(n, k, act, bias)
    x = x_for((m, k), act)
    y = kernel.apply_weights(layer, x, layer.bias)
    assert y.shape == (m, n) and y.dtype == act and y.device.type == DEVICE
    if m:
        err = rel_err(y, reference(x, w32, layer.bias))
        assert err <= kernel.tolerance(kernel.config), err


@pytest.mark.parametrize("act", DTYPES)
def test_3d_and_non_contiguous_inputs(act):
    layer, kernel, w32 = processed(48, 128, act, bias=True)
    x3 = x_for((2, 5, 128), act)
    y3 = kernel.apply_weights(layer, x3, layer.bias)
    assert y3.shape == (2, 5, 48)
    assert rel_err(y3.reshape(10, 48), reference(x3.reshape(10, 128), w32, layer.bias)) <= kernel.tolerance(
        kernel.config
    )
    wide = x_for((7, 256), act)
    x_strided = wide[:, ::2]  # stride along K is 2
    x_t = x_for((128, 6), act).t()  # column-major
    for x in (x_strided, x_t, x3.transpose(0, 1)):
        assert not x.is_contiguous()
        y = kernel.apply_weights(layer, x, layer.bias)
        ref = reference(x.reshape(-1, 128), w32, layer.bias).reshape(*x.shape[:-1], 48)
        assert rel_err(y, ref) <= kernel.tolerance(kernel.config)
    empty = kernel.apply_weights(layer, x_for((3, 0, 128), act), layer.bias)
    assert empty.shape == (3, 0, 48) and empty.dtype == act


def test_output_dtype_may_differ_from_activation_dtype():
    layer, kernel, w32 = processed(40, 64, torch.bfloat16, bias=True, out=torch.float16)
    x = x_for((5, 64), torch.bfloat16)
    y = kernel.apply_weights(layer, x, layer.bias)
    assert y.dtype == torch.float16
    assert rel_err(y, reference(x, w32, layer.bias)) <= kernel.tolerance(kernel.config)


CONFIGS = [
    Config("fused", 16, 32, 64, 1, 2, 4, 2, True, None),
    Config("fused", 16, 32, 64, 3, 2, 4, 2, True, None),  # split-K, uneven split of 5 K tiles
    Config("fused", 16, 64, 32, 2, 1, 4, 3, False, None),
    Config("fused", 32, 32, 64, 2, 4, 4, 2, False, None),
    Config("fused", 16, 16, 64, 1, 8, 4, 2, True, None),  # BN=16: many N tiles, N not a multiple
    Config("dequant"),
    Config("dequant", chunk_mb=32 * 640 / 2**20),  # 32-row chunks: 32, 32, 6 rows
    Config("dequant", chunk_mb=32 * 640 / 2**20, overlap=True),  # side stream on a GPU
    Config("gemv", block_m=4, block_n=16, block_k=64, num_warps=4),  # 10 launches of <= 4 rows
    Config("gemv", block_m=2, block_n=32, block_k=128, num_warps=4),  # K=320: block_k fitted to 64
    Config("gemv", block_m=4, block_n=16, block_k=64, num_warps=4, k_pairs=True),  # 5 K tiles: 2 pairs, 1 alone
    Config("gemv", block_m=1, block_n=16, block_k=32, num_warps=4, k_pairs=True),  # 10 K tiles: 5 pairs
]


@pytest.mark.parametrize("decode", DECODES)
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.describe().replace(" ", "_"))
@pytest.mark.parametrize("act", DTYPES)
def test_every_config_and_decode(cfg, decode, act):
    layer, kernel, w32 = processed(70, 320, act, bias=True, seed=3)
    x = x_for((37, 320), act)
    bias = layer.bias
    y = run_gemm(x, layer.marlin_weight, layer.marlin_scale, layer.marlin_row_scale, bias, act, config=cfg,
                 decode=decode)
    err = rel_err(y, reference(x, w32, bias))
    assert err <= kernel.tolerance(kernel.config), err


def test_split_k_is_deterministic_and_resets_its_counters():
    layer, kernel, w32 = processed(70, 320, torch.bfloat16, seed=4)
    x = x_for((20, 320), torch.bfloat16)
    cfg = Config("fused", 16, 32, 32, 4, 2, 4, 2, True, None)
    args = (x, layer.marlin_weight, layer.marlin_scale, layer.marlin_row_scale, None, torch.bfloat16)
    first = run_gemm(*args, config=cfg)
    for _ in range(3):
        assert torch.equal(run_gemm(*args, config=cfg), first)
    counters = kernel_module._tile_counters(x.device, 1)
    assert int(counters.abs().sum()) == 0


def test_a_tile_wider_than_the_row_padding_is_refused():
    layer, _, _ = processed(40, 96, torch.bfloat16)
    x = x_for((3, 96), torch.bfloat16)
    with pytest.raises(ValueError, match="block_n=512 must divide the padded row count 256"):
        run_gemm(x, layer.marlin_weight, layer.marlin_scale, layer.marlin_row_scale, None, torch.bfloat16,
                 config=Config("fused", 16, 512, 32, 1, 8, 4, 2, False, None))


def test_each_stream_gets_its_own_slot_of_one_zeroed_counter_pool(monkeypatch):
    """A stream first seen during graph capture must not allocate (its zero-fill would be
    captured): streams take slots of a pool allocated at the first call."""
    monkeypatch.setattr(kernel_module, "_counters", {})
    monkeypatch.setattr(kernel_module, "COUNTER_SLOTS", 3)
    stream = iter(range(100))
    monkeypatch.setattr(kernel_module, "_stream_key", lambda device: ("cpu", None, next(stream)))
    slots = [kernel_module._tile_counters(torch.device("cpu"), 10) for _ in range(4)]
    pools = {s.untyped_storage().data_ptr() for s in slots}
    assert len(pools) == 2  # three slots of the first pool, then a second pool
    assert [s.numel() for s in slots] == [kernel_module.COUNTER_SLOT] * 4
    assert len({s.data_ptr() for s in slots}) == 4 and all(int(s.abs().sum()) == 0 for s in slots)
    big = kernel_module._tile_counters(torch.device("cpu"), kernel_module.COUNTER_SLOT + 1)
    assert big.numel() == kernel_module.COUNTER_SLOT + 1 and big.untyped_storage().data_ptr() not in pools


@pytest.mark.parametrize("decode", DECODES)
@pytest.mark.parametrize("act", DTYPES)
@pytest.mark.parametrize("scale", [120, 127, 134])
def test_every_e4m3_value_decodes_exactly(scale, act, decode):
    """One-hot activations pick single weights: y[j, n] must equal W[n, j] exactly, for
    all 254 finite e4m3 bytes (subnormals and both zeros included)."""
    n, k = 256, 32
    codes = (torch.arange(n)[:, None] + torch.arange(k)[None, :] * 8) % 256
    codes[(codes & 0x7F) == 0x7F] = 0x80  # NaN bytes are refused at load; use -0 instead
    weight = codes.to(torch.uint8).view(torch.float8_e4m3fn)
    scales = torch.full((n, 1), scale, dtype=torch.uint8)
    scales[::3] = scale - 3  # rows whose scale differs from their neighbours'
    layer = Layer(weight.to(DEVICE), scales.to(DEVICE))
    kernel = MarlinKernel(Mxfp8LinearLayerConfig(k, n, act))
    kernel.process_weights_after_loading(layer)
    from mxfp8_core import dequantize_mxfp8

    expected = dequantize_mxfp8(weight, scales, torch.float32).T.contiguous()  # [k, n]
    x = torch.eye(k).to(act).to(DEVICE)
    for cfg in (Config("fused", 16, 64, 32, 1, 8, 4, 2, True, None), Config("fused", 32, 64, 32, 1, 8, 4, 2, False, None),
                Config("gemv", block_m=4, block_n=64, block_k=32, num_warps=4)):
        y = run_gemm(x, layer.marlin_weight, layer.marlin_scale, layer.marlin_row_scale, None, act, config=cfg,
                     decode=decode)
        assert torch.equal(y.float().cpu(), expected.to(act).float()), cfg.describe()


@pytest.mark.parametrize("act", DTYPES)
def test_blocks_far_below_their_row_maximum(act):
    """Scales spread over 2**40 inside a row: fp16 must not lose the large blocks to
    overflow nor the relative accuracy to the small ones."""
    n, k = 32, 512
    g = torch.Generator().manual_seed(5)
    data = torch.randint(0, 256, (n, k), generator=g, dtype=torch.uint8)
    data[(data & 0x7F) == 0x7F] = 0x40
    scales = torch.randint(85, 125, (n, k // 32), generator=g, dtype=torch.uint8)
    layer = Layer(data.view(torch.float8_e4m3fn).to(DEVICE), scales.to(DEVICE))
    from mxfp8_core import dequantize_mxfp8

    w32 = dequantize_mxfp8(data.view(torch.float8_e4m3fn), scales, torch.float32)
    kernel = MarlinKernel(Mxfp8LinearLayerConfig(k, n, act))
    kernel.process_weights_after_loading(layer)
    x = x_for((9, k), act)
    err = rel_err(kernel.apply_weights(layer, x), reference(x, w32, None))
    assert err <= kernel.tolerance(kernel.config), err


@pytest.mark.skipif(DEVICE == "cuda", reason="checks the CPU interpreter path")
def test_interpreter_works_when_triton_was_imported_first():
    """Another plugin (or test) may import Triton before TRITON_INTERPRET is set: the
    kernels must not depend on Triton's compiled-mode @jit library functions."""
    import subprocess
    import sys

    code = (
        "import os, torch, triton, triton.language\n"
        "os.environ['TRITON_INTERPRET'] = '1'\n"
        "from mxfp8_core import quantize_mxfp8, dequantize_mxfp8\n"
        "from mxfp8_marlin.packing import pack_weights\n"
        "from mxfp8_marlin.kernel import run_gemm\n"
        "from mxfp8_marlin.configs import Config\n"
        "q, s = quantize_mxfp8(torch.randn(40, 128))\n"
        "p = pack_weights(q, s)\n"
        "x = torch.randn(3, 128).to(torch.bfloat16)\n"
        "y = run_gemm(x, p['marlin_weight'], p['marlin_scale'], p['marlin_row_scale'], None, torch.bfloat16,\n"
        "             config=Config('fused', 16, 32, 64, 2, 8, 4, 2, False, None))\n"
        "ref = x.float() @ dequantize_mxfp8(q, s, torch.float32).T\n"
        "print(float((y.float() - ref).norm() / ref.norm()))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert float(out.stdout.split()[-1]) < 2 * 2.0**-8 + 128 * 2.0**-24


def test_choose_gemv_only_when_enabled_and_the_grid_fills_the_gpu(monkeypatch):

    monkeypatch.setattr(configs, "GEMV_MAX_M", 4)
    configs.choose.cache_clear()
    try:
        bn = configs.GEMV.block_n
        for m, bm in ((1, 1), (2, 2), (3, 4), (4, 4)):
            cfg = configs.choose(m, 132 * bn, 4096, 132, tile_k=512)
            assert cfg.strategy == "gemv" and cfg.block_m == bm and 4096 % cfg.block_k == 0
        # Two K tiles in flight per thread only where the grid leaves room for few programs per SM.
        assert configs.choose(1, 4096, 4096, 132, tile_k=512).k_pairs
        assert not configs.choose(1, 8192, 8192, 132, tile_k=512).k_pairs
        assert not configs.choose(1, 4096, 4096, 132, (("k_pairs", False),), tile_k=512).k_pairs
        assert configs.choose(5, 132 * bn, 4096, 132, tile_k=512).strategy == "fused"
        assert configs.choose(1, 64 * bn, 4096, 132, tile_k=512).strategy == "fused"  # too few programs
        assert configs.choose(1, 132 * bn, 4096, 132, (("strategy", "fused"),), tile_k=512).strategy == "fused"
        assert configs.choose(512, 4096, 4096, 132, tile_k=512).strategy == "dequant"  # small weight
        assert configs.choose(256, 4096, 4096, 132, tile_k=512).strategy == "fused"  # up to 256 rows: fused
        assert configs.choose(512, 8192, 8192, 132, tile_k=512).strategy == "fused"
        assert configs.choose(512, 4096, 4096, 132, (("strategy", "fused"),), tile_k=512).strategy == "fused"
        assert configs.choose(513, 8192, 8192, 132, tile_k=512).strategy == "dequant"
        assert not configs.choose(16, 4096, 4096, 132, tile_k=512).swap
        mid = configs.choose(64, 4096, 4096, 132, tile_k=512)
        assert mid.swap and (mid.block_m, mid.block_n, mid.split_k) == (64, 64, 4)  # two programs an SM
        assert configs.choose(16, 4096, 4160, 132, tile_k=64).block_k == 64  # K tiles never straddle a column block
    finally:
        configs.choose.cache_clear()


def test_chunk_rows():
    from mxfp8_marlin.configs import chunk_rows

    assert chunk_rows(Config("dequant"), 4096, 4096) == 4096
    assert chunk_rows(Config("dequant", chunk_mb=16), 14336, 4096) == 2048
    assert chunk_rows(Config("dequant", chunk_mb=16), 4096, 14336) == 512  # 585 rows, down to 256s
    assert chunk_rows(Config("dequant", chunk_mb=64), 4096, 4096) == 4096  # one chunk
    assert chunk_rows(Config("dequant", chunk_mb=0.001), 70, 320) == 32  # at least one 32-row block


@pytest.mark.parametrize("capability", [(8, 0), (8, 9), (9, 0)])
def test_default_decode_follows_the_measured_rule(monkeypatch, capability):
    """sm_89+: the hardware convert, except bf16 "noswap" tiles (the bit trick ties there);
    sm_80/86 have no e4m3 convert: the bit trick; no GPU (the interpreter): integer ops."""
    from types import SimpleNamespace

    from mxfp8_marlin.configs import GEMV, choose

    major, minor = capability
    monkeypatch.setitem(kernel_module._properties_by_index, 0,
                        SimpleNamespace(major=major, minor=minor, multi_processor_count=132))
    gpu = torch.device("cuda", 0)
    noswap, swap = choose(16, 4096, 4096, 132, tile_k=512), choose(64, 4096, 4096, 132, tile_k=512)
    assert not noswap.swap and swap.swap
    new = capability >= (8, 9)
    cvt, asm = kernel_module.DECODE_CVT, kernel_module.DECODE_ASM
    assert kernel_module.default_decode(gpu, False, noswap, torch.bfloat16) == asm
    assert kernel_module.default_decode(gpu, False, noswap, torch.float16) == (cvt if new else asm)
    assert kernel_module.default_decode(gpu, False, swap, torch.bfloat16) == (cvt if new else asm)
    assert kernel_module.default_decode(gpu, False, GEMV, torch.bfloat16) == (cvt if new else asm)
    assert kernel_module.default_decode(gpu, True, swap, torch.bfloat16) == kernel_module.DECODE_BITS
    assert kernel_module.default_decode(torch.device("cpu"), False, swap, torch.bfloat16) == kernel_module.DECODE_BITS


@pytest.mark.parametrize("capability,release,ready", [((9, 0), "3.6.0", True), ((9, 0), "3.9.0", False),
                                                      ((8, 9), "3.6.0", False), ((10, 0), "3.6.0", False)])
def test_wgmma_kernel_only_on_sm90_with_its_triton_release(monkeypatch, capability, release, ready):
    """The Gluon kernels are chosen only where they were measured (sm_90, Triton 3.6): up to
    M = 32, up to 128 for large weights, and the warp-specialized one past 128 unless
    dequantize + cuBLAS is estimated faster; everywhere else the Triton tiles or dequantize + cuBLAS, and
    asking for them elsewhere is a clear error, not a fallback."""
    from types import SimpleNamespace


    major, minor = capability
    monkeypatch.setitem(kernel_module._properties_by_index, 0,
                        SimpleNamespace(major=major, minor=minor, multi_processor_count=132))
    monkeypatch.setattr(kernel_module, "_GLUON_RELEASE_OK", None)
    monkeypatch.setattr("triton.__version__", release)
    gpu = torch.device("cuda", 0)
    assert kernel_module.wgmma_ready(gpu, False) is ready
    assert not kernel_module.wgmma_ready(gpu, True) and not kernel_module.wgmma_ready(torch.device("cpu"), False)
    configs.choose.cache_clear()
    pick = lambda m, n, k: configs.choose(m, n, k, 132, tile_k=512, wgmma=ready)  # noqa: E731
    want = "wgmma" if ready else "fused"
    for m in (2, 16, 17, 32):
        assert pick(m, 4096, 4096).strategy == want, m
    for m in (33, 64, 128):
        assert pick(m, 8192, 8192).strategy == want and pick(m, 4096, 4096).strategy == want, m
    assert pick(1, 14336, 4096).strategy == "gemv"  # the CUDA-core kernel keeps M = 1
    # M > 128: the warp-specialized kernel, unless dequantize + cuBLAS is estimated faster
    # (M >= 1.5 K: 6144 rows at K = 4096, 12288 at K = 8192).
    large = "pingpong" if ready else "fused"
    big = "pingpong" if ready else "dequant"
    assert pick(256, 4096, 4096).strategy == large and pick(1024, 8192, 8192).strategy == big
    assert pick(1024, 14336, 4096).strategy == big and pick(4096, 4096, 4096).strategy == big
    assert pick(4096, 4096, 14336).strategy == big and pick(8192, 8192, 8192).strategy == big
    assert pick(6144, 4096, 4096).strategy == "dequant" and pick(12288, 8192, 8192).strategy == "dequant"
    if ready:  # 256-row tiles unless split-K would leave fewer than 64 K tiles a split
        assert pick(256, 4096, 4096).block_m == 128 and pick(256, 4096, 4096).split_k == 2
        assert pick(200, 14336, 4096).block_m == 256 and pick(200, 14336, 4096).split_k == 1
        assert pick(512, 4096, 4096).block_m == 128 and pick(512, 4096, 14336).block_m == 256
        assert pick(512, 4096, 14336).split_k == 2
        assert pick(1024, 4096, 4096).block_m == 256 and pick(2048, 14336, 4096).block_m == 256
        # 3072x8192 at M = 640: 72 tiles of 256 rows (split in two: 144 programs, past one
        # wave) or 120 of 128 rows, whole in one wave
        assert (pick(640, 3072, 8192).block_m, pick(640, 3072, 8192).split_k) == (128, 1)
        # M = 768: 144 tiles of 128 rows (past one wave) or 72 of 256 rows, 0.55 of one wave:
        # dequantize + cuBLAS (PINGPONG_FILL_EXP); at M = 1024, 96 tiles of 256 rows, the kernel
        assert pick(768, 3072, 8192).strategy == "dequant" and pick(1024, 3072, 8192).block_m == 256
        # 448 tiles on 132 SMs: the last wave's 52 tiles split in two, the others whole
        tail = pick(1024, 14336, 4096)
        assert (tail.split_k, tail.split_tail) == (2, True) and "SK2 tail" in tail.describe()
        assert not pick(1024, 8192, 8192).split_tail and not pick(4096, 14336, 4096).split_tail
        # past one wave the persistent kernel; one wave (split-K included) the plain one
        assert tail.persistent and pick(4096, 4096, 4096).persistent and pick(1024, 8192, 8192).persistent
        assert not pick(1024, 4096, 4096).persistent and not pick(256, 8192, 8192).persistent
        assert not pick(256, 4096, 4096).persistent  # 64 tiles split in two
        # a tile split in two: the first split hands K tiles to the second, four of the
        # 256-row tile's and two of the 128-row tile's (within one wave only)
        assert pick(256, 8192, 8192).split_skew == 4 and tail.split_skew == 4
        assert pick(256, 4096, 4096).split_skew == 2 and pick(200, 4096, 4096).split_skew == 2
        assert pick(1024, 8192, 8192).split_skew == 0 and pick(384, 4096, 4096).split_skew == 0  # not split
        assert pick(256, 2048, 4096).split_skew == 0  # split in four
        # a tile outside the table (asked for explicitly) gets no skew; run_gemm names the problem
        odd = configs.choose(256, 4096, 4096, 132, (("block_m", 64), ("split_k", 2)), tile_k=512, wgmma=True)
        assert (odd.strategy, odd.split_skew) == ("pingpong", 0)
        # the 256-row tile split in more than two within a wave, each split at least 20 K
        # tiles (40 where x is padded, M = 160): every split sums a share of the tile
        # (shared_fixup), with no skew; so does the 128-row tile split in four or eight
        for m, n, k, rows, split in ((256, 4096, 14336, 256, 4), (160, 4096, 10240, 256, 4), (256, 2048, 16384, 256, 8),
                                     (256, 4096, 5120, 256, 4), (200, 4096, 6144, 256, 4), (256, 2048, 10240, 256, 8),
                                     (256, 2048, 4096, 128, 4), (256, 2048, 8192, 128, 4), (160, 1024, 8192, 128, 8)):
            cfg = pick(m, n, k)
            assert (cfg.block_m, cfg.split_k, cfg.shared_fixup, cfg.split_skew, cfg.persistent) == (
                rows, split, True, 0, False), (m, n, k)
            assert "shared" in cfg.describe()
        assert not pick(256, 4096, 4096).shared_fixup  # 16 K tiles a split: the 128-row tile in two
        assert (pick(160, 4096, 6144).block_m, pick(160, 4096, 6144).shared_fixup) == (128, False)  # padded, 24
        assert (pick(160, 4096, 8192).block_m, pick(160, 4096, 8192).shared_fixup) == (128, False)  # padded, 32
        # the 128-row tile in 16 would make shares of 8 columns: in eight, shared
        assert (pick(256, 512, 16384).split_k, pick(256, 512, 16384).shared_fixup) == (8, True)
        # K = 1056 (packed 32 wide): 33 K tiles in eight runs of five leave the eighth empty (the
        # launch would split in seven, and 128 rows make no seven shares of 16-column groups):
        # the table splits in four, shared; under half a wave, that goes to dequantize + cuBLAS
        # (UNDER_HALF_DEQUANT_SPLITS), so the split is seen with that rule off
        assert configs.choose(256, 128, 1056, 132, tile_k=32, wgmma=True).strategy == "dequant"
        with monkeypatch.context() as patch:
            patch.setattr(configs, "UNDER_HALF_DEQUANT_SPLITS", ())
            configs.choose.cache_clear()
            short = configs.choose(256, 128, 1056, 132, tile_k=32, wgmma=True)
        configs.choose.cache_clear()
        assert configs.launch_split(33, 8) == 7 and configs.launch_split(33, 4) == 4
        assert (short.block_m, short.split_k, short.shared_fixup) == (128, 4, True)
        assert not configs.choose(256, 2048, 4096, 132, (("shared_fixup", False),), tile_k=512, wgmma=True).shared_fixup
        assert not pick(256, 8192, 8192).shared_fixup  # split in two: the last split sums
        assert not pick(512, 4096, 14336).shared_fixup  # 64 tiles in two
        # 36 tiles split in four would take 144 programs, more than one wave
        assert (pick(256, 4608, 14336).block_m, pick(256, 4608, 14336).shared_fixup) == (128, False)
        # the 128-row tile past one wave (144 tiles, the last wave's 12 split) runs persistent
        # with no skew; the table now gives that launch dequantize + cuBLAS (round 47)
        past_wave = configs.choose(768, 3072, 2048, 132, (("block_m", 128),), tile_k=512, wgmma=True)
        assert (past_wave.block_m, past_wave.split_tail, past_wave.split_skew, past_wave.persistent) == (128, True, 0, True)
    if ready:
        assert pick(64, 4096, 14336).split_k == 4  # at least 8 K tiles of 128 a split (28 here)
        assert pick(64, 4096, 4096).split_k == 4 and pick(128, 4096, 4096).split_k == 2  # 8 and 16 K tiles
        assert pick(64, 8192, 8192).split_k == 2
        assert pick(16, 4096, 4096).split_k == 4  # the 16-row tile: about two programs an SM
    configs.choose.cache_clear()


def test_table_splits_k_as_the_launch_does_and_shares_only_where_it_can():
    """The pingpong configs from the table: the launch runs every split the table asks for
    (a program per split of K that has K tiles, as ``_gluon._program_tile`` counts them; 33
    K tiles in eight would leave the eighth empty), each split's share of the tile whole
    16-column groups; and every config given ``shared_fixup`` can launch it (its programs
    fit one wave). Outside the last wave's tiles (``split_tail``), the split programs all fit
    one wave: the kernel runs one program per SM, and half the split, without a second round
    of programs, took 13-37% less time (round 33). K from 512 to 16384 by 32 (at K = 1056 the table had
    split the 128-row tile in eight, shared, which the launch ran as seven and refused; at
    1024x1024, M = 640, in four: 160 programs). The wgmma kernel (M <= 128) keeps splits the
    launch shortens (384x15360 at M = 16: 16, run as 15)."""
    from mxfp8_marlin.packing import tile_k

    shared = split = 0
    for k in range(512, 16385, 32):
        for n in (128, 384, 1024, 2048, 4096):
            for m in (1, 16, 64, 129, 160, 200, 256, 300, 512, 640):
                cfg = configs.choose(m, n, k, 132, tile_k=tile_k(k), wgmma=True)
                if cfg.strategy != "pingpong" or cfg.split_k == 1:
                    continue
                k_tiles = k // cfg.block_k
                per_split = -(-k_tiles // cfg.split_k)
                runs = sum(1 for s in range(cfg.split_k) if s * per_split < k_tiles)
                assert runs == cfg.split_k and cfg.block_m % (16 * runs) == 0, (m, n, k, cfg.describe())
                assert cfg.split_tail or configs.output_tiles(m, n, cfg) * runs <= 132, (m, n, k, cfg.describe())
                split += 1
                if cfg.shared_fixup:
                    shared += 1
                    assert not cfg.persistent and not cfg.split_tail, (m, n, k)
    assert shared > 1000 and split > shared  # the scan reaches both rules
    assert configs.choose(16, 384, 15360, 132, tile_k=512, wgmma=True).split_k == 16
    configs.choose.cache_clear()


@pytest.mark.parametrize("n,k,m,strategy", [
    # round 34 part 1 (H100, medians, us: the kernel / dequantize + cuBLAS), less than one wave
    (1536, 12288, 1536, "dequant"),  # 72 programs of 256 rows: 120.1 / 94.4
    (768, 4096, 1536, "dequant"),  # 72 of 128 rows: 34.8 / 29.4
    (1024, 2048, 1280, "dequant"),  # 80 of 128 rows: 21.0 / 17.4
    (768, 8192, 4096, "dequant"),  # 96 of 256 rows: 84.8 / 75.4
    (6144, 16384, 512, "pingpong"),  # 96 of 256 rows: 162.2 / 240.8
    (3072, 8192, 1024, "pingpong"),  # 96 of 256 rows: 84.4 / 92.7
    (4096, 7168, 384, "pingpong"),  # 96 of 128 rows: 55.9 / 74.2
    (768, 8704, 384, "pingpong"),  # 18 tiles of 128 rows in four, shared: 25.2 / 27.1
    (768, 12288, 2048, "pingpong"),  # 48 tiles of 256 rows in two: 69.6 / 75.1 (splits_256)
    # round 35 (held out; the old table's config, the kernel / dequantize + cuBLAS)
    (768, 14848, 1536, "dequant"),  # 72 of 128 rows: 106.6 / 66.1
    (1536, 7936, 768, "dequant"),  # 72 of 128 rows: 60.3 / 45.1
    (768, 4608, 768, "dequant"),  # 36 tiles of 128 rows in two: 25.3 / 20.1
    (1024, 10240, 1536, "pingpong"),  # 48 tiles of 256 rows in two: 59.7 / 75.0 (splits_256)
    (3072, 512, 640, "pingpong"),  # 120 of 128 rows: 11.4 / 13.6
    (2048, 128, 256, "dequant"),  # the Triton GEMM: 19.7 / 9.6
    (8192, 32, 256, "fused"),  # 9.2 / 10.1
    # round 36 (held out): the 256-row tile in two at 96 programs (splits_256)
    (1024, 8192, 1536, "pingpong"),  # 50.3 / 57.3
    # rounds 35-36, under half a wave: by the split (UNDER_HALF_DEQUANT_SPLITS)
    (768, 512, 192, "dequant"),  # 24 programs of 128 rows in two: 11.0 / 9.9
    (384, 1792, 384, "dequant"),  # 36 in four, shared: 12.9 / 12.0
    (4096, 256, 256, "pingpong"),  # 64 whole: 9.5 / 11.1
    (256, 4096, 384, "pingpong"),  # 48 in eight, shared: 13.5 / 15.0
    # rounds 38-41: the 128-row tile's term from K = 1024 (TILE128_COST, TILE128_MIN_K)
    (2048, 6656, 640, "dequant"),  # 80 programs: 51.9 / 45.5 (round 34: 52.0 / 43.3)
    (1536, 2560, 1024, "dequant"),  # 96 programs: 24.9 / 22.6 (round 35: 24.9 / 22.0)
    (2048, 4096, 640, "dequant"),  # 80 programs: 35.2 / 30.7 (round 39)
    (1024, 4096, 2048, "dequant"),  # 128 programs: 36.3 / 33.1 (round 39)
    (768, 2048, 1280, "dequant"),  # 60 tiles in two: 17.9 / 15.8 (round 39)
    (3072, 3072, 3072, "dequant"),  # 8.7 waves, split tail: 112.3 / 85.5 (round 40)
    (2560, 2304, 768, "pingpong"),  # 120 programs: 23.5 / 25.7 (round 41, held out)
    (3072, 768, 384, "pingpong"),  # 72 programs, K < 1024: 12.8 / 13.9 (round 35)
    # rounds 43-45: the 256-row tile whole from 12 K tiles (PINGPONG_WHOLE_MIN_K_TILES), past
    # one wave by launch_fill (256 rows / dequantize + cuBLAS, the 128-row tile's time after)
    (8192, 2048, 2048, "pingpong"),  # 3.9 waves: 95.7 / 110.8 (round 40), 128 rows 130.0
    (13824, 3328, 3072, "pingpong"),  # 9.8 waves: 358.2 / 391.6 (round 41), 128 rows 486.2
    (13824, 3328, 1024, "pingpong"),  # 3.3 waves, split tail: 141.5 / 189.7, 128 rows 178.2
    (16384, 3072, 512, "pingpong"),  # 1.9 waves: 72.3 / 125.8, 128 rows 100.3
    (8192, 768, 1024, "pingpong"),  # K = 768: 26.7 / 32.5, 128 rows 32.8
    (2048, 2048, 2048, "pingpong"),  # 0.97 of a wave: 29.2 / 33.7
    (14336, 1024, 1024, "pingpong"),  # 3.4 waves: 54.6 / 59.2
    (6144, 1024, 768, "dequant"),  # 1.09 waves: 30.8 / 27.2, 128 rows 31.5 (round 41)
    (4096, 1536, 1280, "dequant"),  # 1.21 waves: 40.2 / 34.6
    (3072, 2560, 3072, "dequant"),  # 2.18 waves, split tail: 81.2 / 73.5
    # round 46 (held out: launch_fill; 256 rows / dequantize + cuBLAS)
    (1536, 4096, 3072, "dequant"),  # 1.09 waves, a tail split in four: 68.7 / 58.7
    (3072, 3072, 1536, "dequant"),  # 1.09 waves, a tail split in two: 59.4 / 50.5
    (8960, 1536, 512, "dequant"),  # 1.06 waves: 40.4 / 38.0
    (5632, 2048, 1280, "pingpong"),  # 1.67 waves: 50.2 / 59.0
    (7168, 1536, 1024, "pingpong"),  # 1.70 waves: 40.4 / 49.5
    (2048, 5504, 4096, "pingpong"),  # 1.94 waves: 121.7 / 127.4
    (6144, 2048, 768, "dequant"),  # 1.09 waves, a tail split in two: 44.7 / 42.4 (round 48's cost)
    # round 48 (held out: a split tail's cost, SPLIT_TAIL_WAVES; 256 rows / dequantize + cuBLAS)
    (4608, 3840, 1024, "dequant"),  # 1.09 waves, split in two: 72.0 / 66.0
    (3072, 4864, 1536, "dequant"),  # 1.09 waves, split in four: 79.3 / 73.4
    (1536, 8960, 3072, "dequant"),  # 1.09 waves, split in eight: 126.1 / 119.1
    (3584, 2816, 1536, "dequant"),  # 1.27 waves, split in two: 57.3 / 54.2
    (2560, 5376, 2048, "dequant"),  # 1.21 waves, split in four: 88.9 / 87.0
    (8704, 2304, 2048, "pingpong"),  # 4.12 waves (SPLIT_TAIL_FIT_WAVES): 129.9 / 135.8
    (14336, 2816, 3072, "pingpong"),  # 10.2 waves: 343.3 / 367.3
    # round 49 (held out: the bound at three waves; moved to two on these)
    (1536, 11008, 3072, "dequant"),  # 1.09 waves, split in eight: 149.3 / 143.7
    (2048, 5632, 2560, "dequant"),  # 1.21 waves, split in four: 92.5 / 88.4
    (7168, 2048, 1280, "pingpong"),  # 2.12 waves: 66.9 / 70.6
    (3584, 5632, 2560, "pingpong"),  # 2.12 waves, split in four: 149.2 / 157.9
    (2560, 8192, 4096, "pingpong"),  # 2.42 waves: 221.0 / 229.1
    (4096, 3072, 2560, "pingpong"),  # 2.42 waves: 94.2 / 98.3
    (5120, 5120, 2560, "pingpong"),  # 3.03 waves, split in four: 186.5 / 202.8
    (3584, 5632, 4096, "pingpong"),  # 3.39 waves: 216.5 / 237.7
    (18944, 2048, 2560, "pingpong"),  # 11.2 waves: 267.7 / 293.6
    # round 50 (held out: the bound at two waves; moved to 1.4 on the five of 1.45 waves)
    (2048, 9216, 3072, "pingpong"),  # 1.45 waves: 153.2 / 164.1
    (1536, 14336, 4096, "pingpong"),  # 1.45 waves: 228.7 / 244.0
    (3072, 2560, 2048, "pingpong"),  # 1.45 waves: 53.4 / 55.3
    (3072, 2048, 2048, "pingpong"),  # 1.45 waves: 45.9 / 46.6 (round 49)
    (3584, 4608, 2560, "pingpong"),  # 2.12 waves, split in four: 127.0 / 131.6
    (2560, 11008, 4096, "pingpong"),  # 2.42 waves: 294.3 / 307.8
    # round 34 part 2, M = 129-256 at small K (the Triton GEMM / dequantize + cuBLAS)
    (4096, 128, 256, "dequant"),  # 20.2 / 9.7
    (8192, 64, 192, "dequant"),  # 11.0 / 9.7
    (14336, 32, 256, "fused"),  # 9.9 / 11.1
])
def test_the_strategy_measured_faster_where_the_crossover_estimate_was_refined(n, k, m, strategy):
    """The crossover estimate was fitted at full waves of the 256-row tile; a pingpong launch
    filling a share f of one wave is estimated f ** -PINGPONG_FILL_EXP slower (above
    PINGPONG_FILL_MIN), the 128-row tile's estimate adds TILE128_COST from K = TILE128_MIN_K
    (full waves too), and below DEQUANT_MIN_K the Triton GEMM keeps what the estimate gives
    dequantize + cuBLAS."""
    assert configs.choose(m, n, k, 132, tile_k=packing.tile_k(k), wgmma=True).strategy == strategy


@pytest.mark.parametrize("n,k,m,rows", [
    # round 47 (H100, us: the 128-row tile past one wave / the 256-row tile whole / dequantize
    # + cuBLAS): where the 256-row tile fills 0.53-0.70 of a wave whole, K < 8192
    (9216, 3072, 129, 256),  # 53.7 / 40.8
    (8960, 1536, 192, 256),  # 30.6 / 26.9
    (11008, 2048, 160, 256),  # 34.7 / 31.7
    (10240, 7168, 256, 256),  # 78.3 / 74.2
    (11008, 4096, 256, 256),  # 54.7 / 46.8
    (4608, 3584, 512, 256),  # 49.2 / 41.4 / 43.0
    (5120, 3072, 512, 256),  # 44.0 / 36.8 / 42.5
    (3072, 2048, 768, 0),  # 33.2 / 27.5 / 26.2
    (2304, 4096, 1024, 0),  # 49.0 / 45.5 / 38.7
    # round 48 (held out)
    (5888, 1024, 320, 256),  # 23.4 / 22.3
    (3584, 1792, 640, 256),  # 33.5 / 25.3 / 25.9
    (3840, 7680, 768, 256),  # 93.1 / 78.5 / 88.9
    (3584, 7168, 768, 256),  # 87.0 / 72.9 / 80.1
    (2816, 7168, 1024, 256),  # 87.3 / 73.0 / 74.1
    (2304, 6144, 1024, 0),  # 65.7 / 62.8 / 53.7
    (2560, 3584, 1024, 0),  # 48.3 / 40.9 / 39.5
])
def test_the_256_row_tile_runs_whole_within_one_wave_where_its_split_would_pass_one(n, k, m, rows):
    """``pingpong_for`` judges the 256-row tile by a split within one wave (``choose``
    launches no pingpong split past one); ``rows`` 0: dequantize + cuBLAS, by the fill rule."""
    cfg = configs.choose(m, n, k, 132, tile_k=packing.tile_k(k), wgmma=True)
    if rows:
        assert (cfg.strategy, cfg.block_m, cfg.split_k, cfg.persistent) == ("pingpong", rows, 1, False)
        assert configs.work_units(m, n, k, cfg) <= 132
    else:
        assert cfg.strategy == "dequant"


@pytest.mark.parametrize("n,m,rows", [
    # K = 512, past one wave (H100, us, 128 rows / 256 rows / dequantize + cuBLAS): round 48
    (32768, 256, 256),  # 25.8 / 21.8 / 37.1
    (32768, 512, 256),  # 43.8 / 35.2 / 52.4
    (24576, 192, 128),  # 21.1 / 24.2 / 26.7
    (14336, 320, 128),  # 20.8 / 24.1 / 22.0
    # round 49 (held out)
    (65536, 256, 256),  # 44.0 / 35.7 / 77.2
    (16384, 512, 256),  # 26.1 / 21.6 / 28.5
    (24576, 512, 256),  # 35.0 / 28.7 / 40.7
    (28672, 256, 256),  # 25.6 / 22.0 / 34.0
    (32768, 640, 256),  # 52.7 / 47.6 / 60.1
    (24576, 256, 128),  # 21.2 / 21.7 / 29.0
    (18432, 256, 128),  # 21.0 / 21.5 / 22.6
])
def test_at_k_512_the_tile_with_fewer_waves_runs(n, m, rows):
    """Below the 256-row tile's floor for running whole, past one wave: the 256-row tile where
    its waves, each TILE256_WAVE_COST of a 128-row wave, take less time (fewer_waves_256)."""
    cfg = configs.choose(m, n, 512, 132, tile_k=packing.tile_k(512), wgmma=True)
    assert (cfg.strategy, cfg.block_m, cfg.split_k, cfg.persistent) == ("pingpong", rows, 1, True)


def test_fewer_waves_256_refuses_a_gpu_without_sms():
    with pytest.raises(ValueError, match=r"fewer_waves_256 needs num_sms >= 1 \(got 0\)"):
        configs.fewer_waves_256(256, 32768, 0)


def test_the_128_row_tile_runs_past_one_wave_only_below_the_256_row_tiles_floor():
    """Past one wave the table gives the 128-row tile only K below 768, where the 256-row tile
    has fewer than PINGPONG_WHOLE_MIN_K_TILES K tiles (round 47 moved the rest)."""
    past = []
    for n in range(1024, 22017, 512):
        for k in range(512, 16385, 512):
            for m in (129, 192, 256, 384, 512, 640, 768, 1024, 1536, 2048, 4096):
                cfg = configs.choose(m, n, k, 132, tile_k=packing.tile_k(k), wgmma=True)
                if cfg.strategy == "pingpong" and cfg.block_m == 128 and configs.work_units(m, n, k, cfg) > 132:
                    past.append((n, k, m))
    configs.choose.cache_clear()
    assert past and {k for _, k, _ in past} == {512}


def test_launches_under_half_a_wave_go_by_split_not_by_the_estimate_and_explicit_strategies_hold():
    whole = configs.choose(256, 4096, 256, 132, tile_k=256, wgmma=True)  # 64 programs
    assert whole.strategy == "pingpong" and whole.split_k == 1
    fill = configs.work_units(256, 4096, 256, whole) / 132
    assert fill < configs.PINGPONG_FILL_MIN and configs.dequant_faster(256, 256, fill)
    pinned = configs.choose(1536, 1536, 12288, 132, (("strategy", "pingpong"),), tile_k=512, wgmma=True)
    assert pinned.strategy == "pingpong"
    for m, k, fill in ((0, 512, 1.0), (256, 0, 1.0), (256, 512, 0.0), (256, 512, 1.5), (256, 512, float("nan"))):
        with pytest.raises(ValueError, match="dequant_faster needs m, k > 0 and 0 < fill <= 1"):
            configs.dequant_faster(m, k, fill)
    # a full wave: the estimate as measured there (pingpong_for), unchanged
    assert configs.choose(1024, 14336, 4096, 132, tile_k=512, wgmma=True).strategy == "pingpong"
    assert configs.choose(6144, 4096, 4096, 132, tile_k=512, wgmma=True).strategy == "dequant"


def test_one_wave_k_cost_is_the_256_row_tiles_k_term_within_one_wave_only(monkeypatch):
    """ONE_WAVE_K_COST (round 51's probe sets it to 0) replaces PINGPONG_COST's b only for the
    256-row tile whole within one wave; until a round changes it, it is b, and the table with it."""
    assert configs.ONE_WAVE_K_COST == configs.PINGPONG_COST[1]

    def kind(m, n, k):
        cfg = configs.choose(m, n, k, 132, tile_k=packing.tile_k(k), wgmma=True)
        return cfg.strategy, cfg.block_m, cfg.split_k

    # 3584x1280 M = 768: 0.64 of a wave (round 48: the tile 20.6 us, dequantize + cuBLAS 22.8)
    under = (768, 3584, 1280)
    # where b = 0 would run the kernel but ONE_WAVE_K_COST is not theirs: 1024x768 M = 768, the
    # 128-row tile at 0.73 of a wave; 3072x2048 M = 2304, 1.64 waves of 256-row tiles (fill
    # 0.82); 4096x4096 M = 6144, full waves (pingpong_for's check)
    others = [(768, 1024, 768), (2304, 3072, 2048), (6144, 4096, 4096)]
    before = [kind(*launch) for launch in [under, *others]]
    assert [strategy for strategy, _, _ in before] == ["dequant"] * 4
    monkeypatch.setattr(configs, "ONE_WAVE_K_COST", 0.0)
    configs.choose.cache_clear()
    try:
        assert kind(*under) == ("pingpong", 256, 1)
        assert [kind(*launch) for launch in others] == before[1:]
        assert configs.dequant_faster(768, 768, 0.73, 128, one_wave=True)  # the 128-row tile keeps b
        assert not configs.dequant_faster(768, 768, 0.73, 256, one_wave=True)
        assert configs.dequant_faster(768, 768, 0.73, 256, one_wave=False)
    finally:
        configs.choose.cache_clear()


@pytest.mark.parametrize("tiles,k_tiles,split", [
    (448, 64, 2),  # 14336x4096 at M = 1024: 3 waves and 52 tiles; 104 programs fit a wave, 208 do not
    (140, 64, 4),  # 8 tiles left: split while each keeps 16 K tiles
    (140, 16, 1),  # too few K tiles to split
    (256, 64, 1),  # 124 tiles left: two splits would not fit a wave
    (396, 64, 1),  # no partial wave
    (100, 64, 1),  # one wave: the uniform split-K's business
])
def test_tail_split(tiles, k_tiles, split):
    assert configs.tail_split(tiles, k_tiles, 132) == split
    assert configs.whole_tiles(tiles, 132) == tiles // 132 * 132


@pytest.mark.parametrize("m,rows", [
    (160, 256), (300, 512), (1, 256), (129, 256), (192, 256), (448, 512),  # the last 128-row block: 1-64 rows
    (193, 193), (200, 200), (255, 255), (1000, 1000),  # 65-127 rows: fuller blocks are not copied
    (256, 256), (384, 384), (640, 640),  # whole blocks of 128 rows
    (560, 560), (1060, 1060), (2100, 2100),  # past two tiles the copy costs more than it saves
])
def test_padded_rows_pads_a_mostly_empty_last_block_of_the_256_row_tile(m, rows):
    assert configs.padded_rows(m, configs.PINGPONG_256) == rows
    assert configs.padded_rows(m, configs.PINGPONG_128) == m  # the 128-row tile measured no such cost
    assert configs.padded_rows(m, Config("fused", block_m=256)) == m


@pytest.mark.parametrize("m,head", [
    (257, 256), (300, 256), (320, 256), (560, 512), (1060, 1024), (2100, 2048), (2112, 2048),  # 1-64 rows past
    (321, 321), (400, 400),  # more than 64 rows past 256 a: not split
    (256, 256), (1024, 1024),  # whole tiles
    (160, 160),  # under one tile: padded instead (configs.padded_rows)
    (2320, 2320),  # past eight tiles: not measured, not split
])
def test_row_split_sends_a_few_rows_past_whole_256_row_tiles_to_a_launch_of_their_own(m, head):
    assert configs.row_split(m, configs.PINGPONG_256) == head
    assert configs.row_split(m, configs.PINGPONG_128) == m
    assert configs.row_split(m, Config("fused", block_m=256)) == m


@pytest.mark.parametrize("fields,message", [
    (dict(strategy="pingpnog"), "strategy must be one of fused, wgmma, pingpong, gemv, dequant \\(got 'pingpnog'\\)"),
    (dict(strategy="fused", split_k=0), r"\(got split_k=0\)"),  # an empty grid: y never written
    (dict(strategy="pingpong", split_k=0), r"\(got split_k=0\)"),  # a ZeroDivisionError in launch_split
    (dict(strategy="fused", block_n=64.0, num_stages=-1), r"\(got block_n=64.0, num_stages=-1\)"),
    (dict(strategy="wgmma", split_skew=-2), r"\(got split_skew=-2\)"),
    (dict(strategy="dequant", chunk_mb=float("nan")), r"\(got chunk_mb=nan\)"),
    (dict(strategy="fused", decode="bit"), "decode must be one of bits, cvt, asm or None \\(got 'bit'\\)"),
    # these had failed inside Triton ("arange's range must be a power of 2") or at the launch
    (dict(strategy="fused", block_k=96, block_m=24), r"\(got block_m=24, block_k=96\)"),
    (dict(strategy="gemv", block_k=16), r"\(got block_k=16\)"),
    (dict(strategy="dequant", chunk_mb=float("inf")), r"\(got chunk_mb=inf\)"),
    # a truthy string had set the mode, a fraction of a K tile had been a skew
    (dict(strategy="pingpong", split_skew=1.5, persistent="False"), r"\(got split_skew=1.5, persistent='False'\)"),
])
def test_config_refuses_fields_no_kernel_can_run(fields, message):
    """A misspelled strategy had run the Triton GEMM, and split_k = 0 had returned the
    uninitialized output: both are refused when the Config is made, as is an unknown
    decode (refused before only when a launch read it)."""
    with pytest.raises(ValueError, match=message):
        Config(**fields)


def test_fit_block_k_keeps_to_powers_of_two_that_divide_k():
    assert [configs.fit_block_k(k, bk) for k, bk in ((512, 96), (4096, 256), (96, 512), (160, 128))] == [64, 256, 32, 32]
    for k, bk in ((48, 256), (0, 256), (512, 16)):
        with pytest.raises(ValueError, match="fit_block_k needs k a positive multiple of 32 and block_k >= 32"):
            configs.fit_block_k(k, bk)


@pytest.mark.parametrize("args", [(0, 64, 128, 132), (-3, 64, 128, 132), (4, 0, 128, 132), (4, 64, 128, 0),
                                  (4.0, 64, 128, 132)])
def test_choose_refuses_shapes_no_launch_has(args):
    with pytest.raises(ValueError, match="choose needs integers m, n, k, num_sms >= 1"):
        configs.choose(*args, tile_k=128)


def test_run_gemm_refuses_an_input_of_another_k_and_returns_no_rows_for_m_0():
    """x with fewer columns than the packed weight had been multiplied by part of it, and
    with more, the kernels had read past the weight's end."""
    layer, _, _ = processed(40, 128, torch.bfloat16)
    args = (layer.marlin_weight, layer.marlin_scale, layer.marlin_row_scale, None, torch.bfloat16)
    for k in (64, 256):
        with pytest.raises(ValueError, match=f"x has K = {k} columns but the packed weight has K = 128"):
            run_gemm(x_for((3, k), torch.bfloat16), *args)
    with pytest.raises(ValueError, match=r"takes x \[M, K\] and the packed weight"):
        run_gemm(x_for((2, 3, 128), torch.bfloat16), *args)
    y = run_gemm(x_for((0, 128), torch.bfloat16), *args)  # had hit log2's domain in choose
    assert y.shape == (0, 40) and y.dtype == torch.bfloat16


def test_gemv_and_dequant_fields_are_refused_where_they_would_be_ignored_or_overrun():
    layer, _, _ = processed(40, 96, torch.bfloat16)
    x = x_for((8, 96), torch.bfloat16)
    args = (layer.marlin_weight, layer.marlin_scale, layer.marlin_row_scale, None, torch.bfloat16)
    for cfg in (Config("gemv", block_m=8, block_n=4, block_k=32), Config("gemv", block_m=4, block_n=4, split_k=4)):
        # block_m 8: rows 4-7 of each launch had been left as torch.empty made them
        with pytest.raises(ValueError, match="gemv kernel runs 1-4 rows a launch and no split-K"):
            run_gemm(x, *args, config=cfg)
    for strategy in ("fused", "gemv", "wgmma", "pingpong"):
        for fields, mode in ((dict(chunk_mb=8), "chunk_mb"), (dict(overlap=True), "overlap")):
            with pytest.raises(ValueError, match=f"{mode} is a mode of the 'dequant' strategy"):
                run_gemm(x, *args, config=Config(strategy, **fields))
    with pytest.raises(ValueError, match="overlap overlaps the dequantization of chunks: it needs chunk_mb > 0"):
        run_gemm(x, *args, config=Config("dequant", overlap=True))


def test_two_threads_on_one_stream_each_multiply_their_own_weight(monkeypatch):
    """On a GPU, two threads on the default stream enqueue in host order: both dequantize
    kernels can run before either cuBLAS call. A buffer kept per stream had then held the
    other thread's weight for one of them (relative error 1.7). The barrier makes that order
    here; the lock serialises the interpreter, which is not thread-safe."""
    import threading
    import types

    import torch.nn.functional as F

    from mxfp8_marlin import _triton

    launch, barrier = threading.Lock(), threading.Barrier(2, timeout=120)

    class Serialised:
        def __init__(self, kernel):
            self.kernel = kernel

        def __getitem__(self, grid):
            def run(*args, **kwargs):
                with launch:
                    return self.kernel[grid](*args, **kwargs)
            return run

    def linear(x, w, b=None):
        barrier.wait()  # the other thread's dequantize has run too
        return F.linear(x, w, b)

    monkeypatch.setattr(_triton, "mx_dequantize", Serialised(_triton.mx_dequantize))
    monkeypatch.setattr(kernel_module, "F", types.SimpleNamespace(linear=linear, pad=F.pad))
    x = torch.randn(600, 64, generator=torch.Generator().manual_seed(3)).to(torch.bfloat16)  # dequantize + cuBLAS
    assert configs.choose(600, 64, 64, 4, tile_k=64).strategy == "dequant"
    errors = {}

    def run(seed):
        layer, config, w32 = make(64, 64, seed=seed)
        kernel = MarlinKernel(config)
        kernel.process_weights_after_loading(layer)
        errors[seed] = (rel_err(kernel.apply_weights(layer, x), reference(x, w32, None)), kernel.tolerance(config))

    threads = [threading.Thread(target=run, args=(seed,)) for seed in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 2 and all(err <= tol for err, tol in errors.values()), errors


def test_bf16_into_fp16_past_512_rows_splits_k_for_all_the_rows(monkeypatch):
    """Where dequantize + cuBLAS would round twice, the Triton GEMM runs, with the config for
    512 rows; its split had stayed the one that fills the GPU with 512 rows (16384 rows of a
    1024x4096 layer took 512 MB of float32 partials on an H100)."""
    layer, config, w32 = make(64, 1024)
    MarlinKernel(config).process_weights_after_loading(layer)
    x = torch.randn(600, 1024, generator=torch.Generator().manual_seed(4)).to(torch.bfloat16)
    assert configs.choose(600, 64, 1024, 4, tile_k=512).strategy == "dequant"
    splits = []
    real = kernel_module._split_k_buffers

    def spy(device, tiles, split, cfg, counters=1):
        splits.append(split)
        return real(device, tiles, split, cfg, counters)

    monkeypatch.setattr(kernel_module, "_split_k_buffers", spy)
    y = run_gemm(x, layer.marlin_weight, layer.marlin_scale, layer.marlin_row_scale, None, torch.float16)
    for_512 = configs.choose(512, 64, 1024, 4, (("strategy", "fused"),), tile_k=512)
    assert for_512.split_k == 2 and splits == [1]  # three 256-row tiles: nearest one wave of 4 SMs unsplit
    assert y.dtype == torch.float16 and rel_err(y, reference(x, w32, None)) <= MarlinKernel.tolerance(
        Mxfp8LinearLayerConfig(1024, 64, torch.bfloat16, torch.float16))


def test_unknown_decode_is_refused_before_any_launch():
    layer, _, _ = processed(40, 96, torch.bfloat16)
    x = x_for((3, 96), torch.bfloat16)
    args = (layer.marlin_weight, layer.marlin_scale, layer.marlin_row_scale, None, torch.bfloat16)
    with pytest.raises(ValueError, match="decode must be one of bits, cvt, asm or None \\(got 'cvt8'\\)"):
        run_gemm(x, *args, decode="cvt8")


def test_split_tail_is_refused_where_it_would_be_ignored():
    layer, _, _ = processed(40, 96, torch.bfloat16)
    x = x_for((3, 96), torch.bfloat16)
    args = (layer.marlin_weight, layer.marlin_scale, layer.marlin_row_scale, None, torch.bfloat16)
    for strategy in ("fused", "gemv", "dequant"):
        with pytest.raises(ValueError, match="split_tail is a mode of the 'wgmma' and 'pingpong' strategies"):
            run_gemm(x, *args, config=Config(strategy, split_k=2, split_tail=True))


@pytest.mark.parametrize("k_tiles,split,stages,fits", [
    (64, 1, 4, True), (64, 2, 4, True), (224, 4, 4, True),  # 4096 and 14336 in K tiles of 64
    (64, 3, 4, False),  # runs of 22, 22, 20 K tiles: not multiples of four
    (5, 1, 4, False),  # K = 320
    (9, 1, 3, False), (18, 1, 3, True),  # a multiple of three stages must also be even (the turns)
])
def test_persistent_fits(k_tiles, split, stages, fits):
    assert configs.persistent_fits(k_tiles, split, stages) == fits
    assert not configs.persistent_fits(k_tiles, split, stages, skew=2)  # runs of 30 and 34 K tiles (or worse)
    assert configs.persistent_fits(k_tiles, split, stages, skew=2 * stages) == fits


def test_persistent_is_refused_where_it_would_be_ignored():
    layer, _, _ = processed(40, 96, torch.bfloat16)
    x = x_for((3, 96), torch.bfloat16)
    args = (layer.marlin_weight, layer.marlin_scale, layer.marlin_row_scale, None, torch.bfloat16)
    for strategy in ("fused", "gemv", "dequant", "wgmma"):
        with pytest.raises(ValueError, match="persistent is a mode of the 'pingpong' strategy"):
            run_gemm(x, *args, config=Config(strategy, persistent=True))
    for strategy in ("fused", "gemv", "dequant"):
        with pytest.raises(ValueError, match="split_skew is a mode of the 'wgmma' and 'pingpong' strategies"):
            run_gemm(x, *args, config=Config(strategy, split_k=2, split_skew=4))
    for strategy in ("fused", "dequant", "wgmma", "pingpong"):
        with pytest.raises(ValueError, match="k_pairs is a mode of the 'gemv' strategy"):
            run_gemm(x, *args, config=Config(strategy, k_pairs=True))
    for strategy in ("fused", "gemv", "dequant", "wgmma"):
        with pytest.raises(ValueError, match="shared_fixup is a mode of the 'pingpong' strategy"):
            run_gemm(x, *args, config=Config(strategy, split_k=2, shared_fixup=True))
    assert "persistent" in Config("pingpong", persistent=True).describe()
    assert "shared" in Config("pingpong", split_k=4, shared_fixup=True).describe()


def test_wgmma_kernel_refuses_configs_that_failed_validation():
    if not kernel_module.wgmma_ready(torch.device(DEVICE), False):
        pytest.skip("needs an sm_90 GPU with Triton 3.6 (the error is raised after the platform check)")
    q, s = quantize_mxfp8(torch.randn(256, 256, device=DEVICE) * 0.02)
    p = pack_weights(q, s)
    x = torch.randn(4, 256, device=DEVICE).to(torch.bfloat16)
    for cfg in (Config("wgmma", block_m=64, block_n=128, block_k=128, num_warps=8),
                Config("wgmma", block_m=128, block_n=64, block_k=128, num_warps=4),
                Config("wgmma", block_m=64, block_n=64, block_k=128, num_warps=4, num_stages=3)):
        with pytest.raises(ValueError, match="validated for num_warps=4, block_m <= 64 and num_stages=4"):
            run_gemm(x, p["marlin_weight"], p["marlin_scale"], p["marlin_row_scale"], None, torch.bfloat16,
                     config=cfg)
    for cfg in (Config("pingpong", block_m=256, block_n=256, block_k=64, num_warps=4),
                Config("pingpong", block_m=32, block_n=128, block_k=64, num_warps=4),
                Config("pingpong", block_m=64, block_n=128, block_k=64, num_warps=4),
                Config("pingpong", block_m=128, block_n=128, block_k=64, num_warps=8),
                Config("pingpong", block_m=256, block_n=64, block_k=64, num_warps=4)):  # one consumer (round 23)
        with pytest.raises(ValueError, match="'pingpong' kernel takes num_warps=4"):
            run_gemm(x, p["marlin_weight"], p["marlin_scale"], p["marlin_row_scale"], None, torch.bfloat16,
                     config=cfg)


def test_wgmma_strategy_off_sm90_is_an_error():
    from mxfp8_marlin import _triton

    if kernel_module.wgmma_ready(torch.device(DEVICE), _triton.INTERPRET):
        pytest.skip("the Gluon kernel runs here (test_gpu.py tests it)")
    q, s = quantize_mxfp8(torch.randn(64, 128, device=DEVICE) * 0.02)
    p = pack_weights(q, s)
    x = torch.randn(4, 128, device=DEVICE).to(torch.bfloat16)
    with pytest.raises(ValueError, match="'wgmma' strategy needs an sm_90 GPU"):
        run_gemm(x, p["marlin_weight"], p["marlin_scale"], p["marlin_row_scale"], None, torch.bfloat16,
                 config=Config("wgmma", block_m=64, block_n=64, block_k=128))
    with pytest.raises(ValueError, match="'pingpong' strategy needs an sm_90 GPU"):
        run_gemm(x, p["marlin_weight"], p["marlin_scale"], p["marlin_row_scale"], None, torch.bfloat16,
                 config=Config("pingpong", block_m=128, block_n=128, block_k=64))
