"""``MarlinKernel``: weight-only MXFP8 (W8A16) linear for Ampere and Hopper, in Triton.

No SM80/SM90 GPU has MX tensor cores, so the weights stay MXFP8 in memory (1.03 bytes a
weight) and are decoded in registers next to a bf16/fp16 tensor-core MMA (Marlin's idea,
written in Triton). See ``_triton.py`` for the kernel and ``packing.py`` for the layout.

Error bound (``tolerance``), against the float32 reference ``x.float() @
dequantize_mxfp8(weight, scale, float32).T``, as ``||y - ref|| / ||ref||``:

- the decoded weights are exact: an e4m3 value times a power of two has at most 4
  significant bits, and ``2**-d`` keeps every block inside bf16/fp16 range relative to
  its row's largest block (only blocks more than 2**14 below it can land on fp16
  subnormals, an absolute error below 2**-25 of the row's scale unit; blocks more than
  2**126 below it are dropped) -- both far under one output ulp;
- the activations are used as given, and each product of two bf16/fp16 values is exact
  in float32;
- the sum runs in float32 (tensor-core accumulation, split-K partials added in
  float32): at most ``K * 2**-24`` relative for well-conditioned data, and the
  reference itself carries the same kind of error;
- the output is rounded once to bf16/fp16: ``u = 2**-8`` / ``2**-11`` per element.

So ``2 * u + K * 2**-24`` (one ``u`` for the output rounding, one as room for the tiny
decode errors above and the reference's own rounding). That is the base class's
``tolerance`` for a W8A16 kernel, so this class keeps it; the derivation above is why
it holds here.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Mapping
from dataclasses import replace

import torch
import torch.nn.functional as F

from mxfp8_core import Mxfp8LinearKernel
from mxfp8_core.platform import Target

from . import configs
from .packing import pack_weights

_TRITON_FOUND: bool | None = None


def triton_installed() -> bool:
    """Is Triton importable? (``find_spec`` only: importing Triton costs ~0.5 s.)"""
    global _TRITON_FOUND
    if _TRITON_FOUND is None:
        _TRITON_FOUND = importlib.util.find_spec("triton") is not None
    return _TRITON_FOUND


class MarlinKernel(Mxfp8LinearKernel):
    """MXFP8 weights x bf16/fp16 activations on SM80+ through Triton; any N, K % 32 == 0."""

    name = "marlin"
    priority = 200
    scheme = "w8a16"
    devices = frozenset({"cuda"})
    min_capability = (8, 0)
    act_dtypes = frozenset({torch.bfloat16, torch.float16})
    out_dtypes = frozenset({torch.bfloat16, torch.float16})

    @classmethod
    def extra_platform_reasons(cls, target: Target) -> list[str]:
        if not triton_installed():
            return ["needs Triton (pip install triton>=3.0), which is not installed"]
        return []

    # ----------------------------------------------------------------- weights
    def prepare_weights(self, weight: torch.Tensor, weight_scale: torch.Tensor) -> Mapping[str, torch.Tensor | None]:
        packed = pack_weights(weight, weight_scale)
        # The packed tensors replace the checkpoint's.
        return {**packed, "weight": None, "weight_scale": None}

    # ----------------------------------------------------------------- compute
    def apply_2d(self, layer: torch.nn.Module, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        q, d, rs = layer.marlin_weight, layer.marlin_scale, layer.marlin_row_scale  # the base class checked the marker
        if x.device != q.device:
            raise ValueError(f"marlin: input is on {x.device} but the layer's weights are on {q.device}")
        return run_gemm(x, q, d, rs, bias, self.config.out_dtype)


# --------------------------------------------------------------------- launching
_lock = threading.Lock()
_counters: dict[tuple, object] = {}
# Buffers replaced by larger ones stay alive: a CUDA graph captured earlier still holds
# their addresses.
_retired: list[torch.Tensor] = []
_properties_by_index: dict[int, object] = {}


def _stream_key(device: torch.device) -> tuple:
    if device.type == "cuda":
        return (device.type, device.index, torch.cuda.current_stream(device).cuda_stream)
    return (device.type, device.index, 0)


COUNTER_SLOT = 4096  # split-K counters a stream gets: output tiles of one launch
COUNTER_SLOTS = 32  # slots in one pool


def _tile_counters(device: torch.device, count: int) -> torch.Tensor:
    """Zeroed int32 counters for split-K; every launch leaves them at zero again.

    Each stream gets its own slot of a per-device pool, so launches on different streams
    never share counters. The pool is allocated at the first call (the warm-up), so a
    stream first seen while a CUDA graph is being captured takes a slot that is already
    zero: a fresh ``torch.zeros`` there would put its zero-fill into the graph, to run
    at every replay (~1.4 us, seen on the H100). A launch with more tiles than a slot
    gets a buffer of its own."""
    key = _stream_key(device)
    buf = _counters.get(key)
    if buf is None or buf.numel() < count:
        with _lock:
            buf = _counters.get(key)
            if buf is None or buf.numel() < count:
                if buf is not None:
                    _retired.append(buf)
                if count > COUNTER_SLOT:
                    buf = torch.zeros(count, dtype=torch.int32, device=device)
                else:
                    pool_key = ("counter pool", device.type, device.index)
                    pool, used = _counters.get(pool_key, (None, COUNTER_SLOTS))
                    if used == COUNTER_SLOTS:
                        if pool is not None:
                            _retired.append(pool)
                        pool, used = torch.zeros(COUNTER_SLOTS * COUNTER_SLOT, dtype=torch.int32, device=device), 0
                    buf = pool[used * COUNTER_SLOT:(used + 1) * COUNTER_SLOT]
                    _counters[pool_key] = (pool, used + 1)
                _counters[key] = buf
    return buf


def _side_stream(device: torch.device):
    """The stream that dequantizes the next chunk while cuBLAS runs on the current one
    (one per device and current stream; created on first use, so warm up before capture)."""
    key = ("side", *_stream_key(device))
    stream = _counters.get(key)
    if stream is None:
        with _lock:
            stream = _counters.get(key)
            if stream is None:  # another thread may have made it meanwhile
                stream = _counters[key] = torch.cuda.Stream(device)
    return stream


def _dummies(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    key = ("dummy", device.type, device.index)
    pair = _counters.get(key)
    if pair is None:
        pair = _counters[key] = (
            torch.empty(1, dtype=torch.float32, device=device), torch.empty(1, dtype=torch.int32, device=device)
        )
    return pair


def _split_k_buffers(device: torch.device, tiles: int, split: int, cfg: configs.Config, counters: int = 1):
    """The float32 partials workspace and the tile counters (``counters`` a tile) of a
    split-K launch; without a split, stand-ins of the same pointer types (unused, and no
    second compilation)."""
    if split > 1:
        ws = torch.empty(tiles * split * cfg.block_n * cfg.block_m, dtype=torch.float32, device=device)
        return ws, _tile_counters(device, tiles * counters)
    return _dummies(device)


def _properties(device: torch.device):
    """The CUDA device's properties, read once (run_gemm needs them on every call)."""
    index = device.index if device.index is not None else torch.cuda.current_device()
    props = _properties_by_index.get(index)
    if props is None:
        props = _properties_by_index[index] = torch.cuda.get_device_properties(index)
    return props


def num_sms(device: torch.device) -> int:
    return _properties(device).multi_processor_count if device.type == "cuda" else 4


DECODE_BITS, DECODE_CVT, DECODE_ASM = 0, 1, 2
DECODES = dict(zip(configs.DECODES, (DECODE_BITS, DECODE_CVT, DECODE_ASM)))


def default_decode(device: torch.device, interpret: bool, cfg: configs.Config, act_dtype: torch.dtype) -> int:
    """How a launch decodes e4m3 bytes unless told: integer ops under the interpreter
    (which cannot run inline PTX); on sm_80/86 the packed PTX bit trick (no e4m3 convert
    there); on sm_89+ the hardware convert, except for bf16 "noswap" tiles. Measured on
    the H100 (rounds 11-12): with the convert, "swap" tiles (decoded weights fed to wgmma
    from registers) are 4-18% faster in bf16 and 8-28% in fp16, as no re-packing of the
    bit trick's byte quads is needed; fp16 "noswap" tiles 2-4%; bf16 "noswap" tiles tie.
    The CUDA-core kernel decodes to float32: the convert is 1.5 instructions a weight there;
    the dequantize path is memory-bound (the convert measured within 2% at M >= 1024)."""
    if interpret or device.type != "cuda":
        return DECODE_BITS
    props = _properties(device)
    if (props.major, props.minor) < (8, 9):
        return DECODE_ASM
    if cfg.strategy == "fused" and not cfg.swap and act_dtype == torch.bfloat16:
        return DECODE_ASM
    return DECODE_CVT


# Config fields that only some strategies read, and those strategies: a config setting
# one for another strategy is refused rather than silently ignored.
_MODES = {"split_tail": ("wgmma", "pingpong"), "split_skew": ("wgmma", "pingpong"), "persistent": ("pingpong",),
          "shared_fixup": ("pingpong",), "k_pairs": ("gemv",), "chunk_mb": ("dequant",), "overlap": ("dequant",)}


def run_gemm(
    x: torch.Tensor,
    q: torch.Tensor,
    d: torch.Tensor,
    rs: torch.Tensor,
    bias: torch.Tensor | None,
    out_dtype: torch.dtype,
    config: configs.Config | None = None,
    decode: str | None = None,
) -> torch.Tensor:
    """``x [M, K] @ W.T (+ bias)`` for packed weights. ``config`` overrides the heuristic;
    ``decode`` (``"bits"``, ``"cvt"`` (sm_89+), ``"asm"`` (GPU only)) the decode (tests, benchmarks)."""
    from . import _triton as kern  # lazy: importing Triton is slow

    if x.device.type != "cuda" and not kern.INTERPRET:
        raise RuntimeError(
            f"marlin: the Triton kernels need CUDA tensors (got {x.device}); on a CPU they run only "
            "under the Triton interpreter (TRITON_INTERPRET=1 set before Triton is imported)"
        )
    if decode is not None and decode not in DECODES:  # Config checks its own decode
        raise ValueError(f"marlin: decode must be one of {', '.join(DECODES)} or None (got {decode!r})")
    if x.dim() != 2 or q.dim() != 3:
        raise ValueError(f"marlin: run_gemm takes x [M, K] and the packed weight [K/TK, NP, TK] (got x "
                         f"{tuple(x.shape)}, weight {tuple(q.shape)})")
    m, k = x.shape
    n = rs.shape[0]
    tk = q.shape[2]
    if k != q.shape[0] * tk:  # the kernels would read past the weight's end (or stop short of x's)
        raise ValueError(f"marlin: x has K = {k} columns but the packed weight has K = {q.shape[0] * tk}")
    device = x.device
    if m == 0:
        return torch.empty((0, n), dtype=out_dtype, device=device)
    wgmma = GLUON and wgmma_ready(device, kern.INTERPRET)
    cfg = config or configs.choose(m, n, k, num_sms(device), tile_k=tk, wgmma=wgmma)
    if config is None and cfg.strategy == "dequant" and out_dtype != x.dtype:
        # cuBLAS would round the product to the activation dtype before the cast to
        # out_dtype (bf16 -> fp16 loses 3 bits); the fused kernel rounds once from float32.
        cfg = configs.choose(min(m, 512), n, k, num_sms(device), overrides=(("strategy", "fused"),), tile_k=tk)
        # its split filled the GPU with 512 rows; for all m rows (a float32 partial a split
        # and tile) the tiles alone may fill it: 16384 rows had taken 512 MB of partials
        cfg = replace(cfg, split_k=configs.fit_split_k(m, n, k, cfg, num_sms(device), 1.0))
    for mode, strategies in _MODES.items():
        if getattr(cfg, mode) and cfg.strategy not in strategies:
            names = " and ".join(f"'{s}'" for s in strategies)
            kind = "strategies" if len(strategies) > 1 else "strategy"
            raise ValueError(f"marlin: {mode} is a mode of the {names} {kind} (got {cfg.describe()}); "
                             f"the others ignore it")
    if cfg.overlap and not cfg.chunk_mb:
        raise ValueError("marlin: overlap overlaps the dequantization of chunks: it needs chunk_mb > 0")
    if cfg.strategy == "gemv" and (cfg.block_m > configs.GEMV_ROWS or cfg.split_k != 1):
        # the kernel keeps GEMV_ROWS accumulators: rows past them had been left unwritten
        raise ValueError(f"marlin: the gemv kernel runs 1-{configs.GEMV_ROWS} rows a launch and no split-K (got "
                         f"block_m={cfg.block_m}, split_k={cfg.split_k})")
    if config is not None and cfg.strategy != "dequant":  # choose() already fits its configs to the layout
        cfg = replace(cfg, block_k=configs.fit_block_k(tk, cfg.block_k))  # a K tile within one column block
        if q.shape[1] % cfg.block_n:  # the kernels read whole tiles of the padded rows
            raise ValueError(f"marlin: block_n={cfg.block_n} must divide the padded row count {q.shape[1]}")
    if config is None and (head := configs.row_split(m, cfg)) < m:
        # The last rows through a launch chosen for them (configs.row_split).
        head_cfg = configs.choose(head, n, k, num_sms(device), tile_k=tk, wgmma=wgmma)
        if head_cfg.strategy == "pingpong":
            y = torch.empty((m, n), dtype=out_dtype, device=device)
            _wgmma(kern, x[:head], q, d, rs, bias, out_dtype, head_cfg, out=y[:head])
            y[head:] = run_gemm(x[head:], q, d, rs, bias, out_dtype, decode=decode)
            return y
    decode = decode or cfg.decode
    dec = default_decode(device, kern.INTERPRET, cfg, x.dtype) if decode is None else DECODES[decode]
    if kern.INTERPRET:
        dot = kern.tl.float32  # bf16 arithmetic is wrong in the interpreter; fp32 is exact there
    else:
        dot = kern.tl.bfloat16 if x.dtype == torch.bfloat16 else kern.tl.float16

    if cfg.strategy == "dequant":
        return _dequant_then_cublas(kern, x, q, d, rs, bias, out_dtype, cfg, dec)

    if cfg.strategy == "gemv":
        return _gemv(kern, x, q, d, rs, bias, out_dtype, cfg, dec)

    if cfg.strategy in ("wgmma", "pingpong"):
        return _wgmma(kern, x, q, d, rs, bias, out_dtype, cfg)

    y = torch.empty((m, n), dtype=out_dtype, device=device)
    tiles = configs.output_tiles(m, n, cfg)
    ws, cnt = _split_k_buffers(device, tiles, cfg.split_k, cfg)
    bias_arg = y if bias is None else bias.contiguous()
    kern.mx_w8a16_gemm[(tiles, cfg.split_k)](
        x, q, d, rs, bias_arg, y, ws, cnt,
        m, n, k,
        x.stride(0), x.stride(1), y.stride(0), q.stride(0), d.stride(0),
        HAS_BIAS=bias is not None, TK=tk,
        BLOCK_M=cfg.block_m, BLOCK_N=cfg.block_n, BLOCK_K=cfg.block_k,
        SPLIT_K=cfg.split_k, GROUP_N=cfg.group_n,
        DECODE=dec, DOT=dot, SWAP=cfg.swap,
        num_warps=cfg.num_warps, num_stages=cfg.num_stages,
    )
    return y


def _gemv(kern, x, q, d, rs, bias, out_dtype, cfg, dec):
    """The CUDA-core kernel, ``cfg.block_m`` activation rows a launch (one launch for M <= 4)."""
    m, k = x.shape
    n = rs.shape[0]
    if x.stride(1) != 1:
        x = x.contiguous()
    y = torch.empty((m, n), dtype=out_dtype, device=x.device)
    bias_arg = y if bias is None else bias.contiguous()
    bm = cfg.block_m
    for r0 in range(0, m, bm):
        xs, ys = x[r0:r0 + bm], y[r0:r0 + bm]
        kern.mx_w8a16_gemv[(triton_cdiv(n, cfg.block_n),)](
            xs, q, d, rs, bias_arg, ys, xs.shape[0], n, k, xs.stride(0), ys.stride(0), q.stride(0), d.stride(0),
            HAS_BIAS=bias is not None, TK=q.shape[2], BLOCK_M=bm, BLOCK_N=cfg.block_n,
            BLOCK_K=cfg.block_k, DECODE=dec, PAIRS=cfg.k_pairs, num_warps=cfg.num_warps,
            num_stages=cfg.num_stages,
        )
    return y


# Gluon (Triton's layout-explicit dialect) is experimental and its API changes between
# releases: the kernel is used only with the release it was written for and measured on.
GLUON_TRITON = "3.6."
_GLUON_RELEASE_OK: bool | None = None
# On sm_90 with that release the heuristic uses the Gluon kernels (configs.WGMMA_TABLE,
# configs.pingpong_for); they passed the whole suite on the H100 as the default (round 17).
# MXFP8_MARLIN_GLUON=0 in the environment (read at import), or this flag set to False,
# keeps the Triton kernels everywhere.
GLUON = os.environ.get("MXFP8_MARLIN_GLUON", "1").strip() != "0"


def wgmma_ready(device: torch.device, interpret: bool) -> bool:
    """Can the Gluon wgmma kernel (``_gluon.py``) run here: an sm_90 GPU, compiled (not
    interpreted) Triton of the ``GLUON_TRITON`` release?"""
    if interpret or device.type != "cuda":
        return False
    props = _properties(device)
    if (props.major, props.minor) != (9, 0):
        return False
    global _GLUON_RELEASE_OK
    if _GLUON_RELEASE_OK is None:
        import triton

        _GLUON_RELEASE_OK = triton.__version__.startswith(GLUON_TRITON)
    return _GLUON_RELEASE_OK


def _wgmma(kern, x, q, d, rs, bias, out_dtype, cfg, out=None):
    """The Gluon kernel for sm_90 (``_gluon.py``): activations by TMA, so ``x`` must be
    contiguous with a 16-byte aligned start (copied when it is not). ``out``: an
    ``[M, N]`` view with unit column stride to write into (else a new tensor)."""
    if not wgmma_ready(x.device, kern.INTERPRET):
        raise ValueError(f"marlin: the '{cfg.strategy}' strategy needs an sm_90 GPU (Hopper) and compiled Triton "
                         f"{GLUON_TRITON}x (got {x.device}); use the 'fused' strategy")
    if cfg.strategy == "pingpong":
        # The tiles validated on the H100 (round 17a): 128 or 256 activation rows, two consumers.
        # One consumer (block_n=64) compiles with round 16's hazard, a decode into the A-operand
        # registers of the wgmma in flight (tools/sass_check.py), and gave wrong bf16 outputs
        # with a bias and split K (round 23). A loop that retires each wgmma in the pass that
        # issues it compiles without the hazard but slows the table's kernels (round 24).
        if cfg.num_warps != 4 or cfg.block_n != 128 or cfg.block_m not in (128, 256):
            raise ValueError(f"marlin: the 'pingpong' kernel takes num_warps=4 (a consumer warpgroup), "
                             f"block_n=128 (two consumers; one consumer's machine code is unsafe) and "
                             f"block_m 128 or 256 (got {cfg.describe()})")
    elif cfg.num_warps != 4 or cfg.block_m > 64 or cfg.num_stages != 4:
        # The shapes benchmarked and validated for the table (round 16; the validation
        # sweep, tools/gluon_validate.py, also passed 128/256-row tiles, two warpgroups and
        # three stages, but their speed with the final pipeline was not measured).
        raise ValueError(f"marlin: the 'wgmma' kernel is validated for num_warps=4, block_m <= 64 and "
                         f"num_stages=4 only (got {cfg.describe()})")
    return _launch_wgmma(kern, x, q, d, rs, bias, out_dtype, cfg, out)


def _launch_wgmma(kern, x, q, d, rs, bias, out_dtype, cfg, out=None):
    """``_wgmma`` without the shape check (tools/gluon_validate.py tests the others).
    ``cfg.strategy == "pingpong"``: the warp-specialized kernel, one consumer warpgroup per
    64 rows of ``cfg.block_n``."""
    from . import _gluon

    m, k = x.shape
    n = rs.shape[0]
    if (rows := configs.padded_rows(m, cfg)) > m:
        # The kernel still gets M = m: the zero rows only feed output rows it does not store.
        x = F.pad(x, (0, 0, 0, rows - m))
    if x.stride(1) != 1 or x.stride(0) != k or x.data_ptr() % 16:
        x = x.clone(memory_format=torch.contiguous_format)
    # Split K so that no split is empty: every program has at least one K tile.
    k_tiles = k // cfg.block_k
    split = configs.launch_split(k_tiles, cfg.split_k)
    per_split = triton_cdiv(k_tiles, split)  # as the kernels count it (_gluon._program_tile)
    skew = cfg.split_skew if split > 1 else 0
    if not 0 <= skew < per_split:
        raise ValueError(f"marlin: split_skew={cfg.split_skew} must leave the first split of K some of its "
                         f"{per_split} K tiles (K = {k}, split {split}; got {cfg.describe()})")
    if cfg.persistent and not configs.persistent_fits(k_tiles, split, cfg.num_stages, skew):
        # Checked at launch (the tools launch directly): the kernel's stage ring would go out of step.
        raise ValueError(f"marlin: the persistent 'pingpong' kernel needs every split's K tile count "
                         f"(K = {k}: {k_tiles} tiles of {cfg.block_k}, split {cfg.split_k}, skew {skew}) to be "
                         f"a multiple of num_stages and even (configs.persistent_fits); got {cfg.describe()}")
    y = torch.empty((m, n), dtype=out_dtype, device=x.device) if out is None else out
    tiles = configs.output_tiles(m, n, cfg)
    # split_tail: the tiles of the last, partial wave are split (the others run whole).
    full = configs.whole_tiles(tiles, num_sms(x.device)) if cfg.split_tail and split > 1 else 0
    grid = (full + (tiles - full) * split,)  # a program per work unit (_gluon._program_tile)
    common = (rs, y if bias is None else bias.contiguous(), y)
    if cfg.strategy == "pingpong":
        half = _gluon.PINGPONG_ROWS
        consumer_tiles = (tiles - full) * (cfg.block_n // half)  # each consumer sums its own rows' partials
        ws, cnt = _split_k_buffers(x.device, consumer_tiles, split, replace(cfg, block_n=half), 2)
        x_desc, w_desc, d_desc = _gluon.descriptors(x, q, d, cfg.block_m, half, cfg.block_k)
        if cfg.persistent:  # at most one program per SM (its shared memory allows no more)
            grid = (min(grid[0], num_sms(x.device)),)
        shares = split if cfg.shared_fixup and split > 1 else 0
        if shares and not configs.shares_fit(m, n, k, cfg, num_sms(x.device)):
            # Every split waits for the others' partials: all must be resident at once (one
            # program per SM), and each share is whole 16-column groups of the accumulator.
            raise ValueError(f"marlin: shared_fixup needs one wave of programs (got {tiles * split} on "
                             f"{num_sms(x.device)} SMs), no persistent mode or split tail, and block_m a "
                             f"multiple of 16 x split (split {split} for K = {k}); got {cfg.describe()}")
        _gluon.mx_w8a16_wgmma_ws[grid](
            x_desc, w_desc, d_desc, *common, ws, cnt, m, n, k, q.shape[1], y.stride(0),
            HAS_BIAS=bias is not None, TK=q.shape[2], BLOCK_M=cfg.block_m, BLOCK_K=cfg.block_k, FULL_TILES=full,
            SPLIT_K=split, SKEW=skew, GROUP_N=cfg.group_n, STAGES=cfg.num_stages, CONSUMERS=cfg.block_n // half,
            num_warps=4, PERSISTENT=cfg.persistent, SHARES=shares, launch_cooperative_grid=bool(shares),
        )
        return y
    ws, cnt = _split_k_buffers(x.device, tiles - full, split, cfg, 2)
    x_desc, w_desc, d_desc = _gluon.descriptors(x, q, d, cfg.block_m, cfg.block_n, cfg.block_k)
    _gluon.mx_w8a16_wgmma[grid](
        x_desc, w_desc, d_desc, *common, ws, cnt,
        m, n, k, q.shape[1], y.stride(0),
        HAS_BIAS=bias is not None, TK=q.shape[2], BLOCK_M=cfg.block_m, BLOCK_N=cfg.block_n, BLOCK_K=cfg.block_k,
        FULL_TILES=full, SPLIT_K=split, SKEW=skew, GROUP_N=cfg.group_n, STAGES=cfg.num_stages,
        DOT=kern.tl.bfloat16 if x.dtype == torch.bfloat16 else kern.tl.float16, num_warps=cfg.num_warps,
    )
    return y


def _dequant_then_cublas(kern, x, q, d, rs, bias, out_dtype, cfg, dec):
    """Dequantize W (exactly, into x's dtype) and let cuBLAS multiply. With ``chunk_mb``
    the weight goes in N-chunks through two buffers small enough to stay in L2,
    and cuBLAS writes each chunk's output columns in place (``out=y[:, n0:n1]``, a strided
    view cuBLAS takes as is); with ``overlap`` chunk i+1 is dequantized on a side stream
    while cuBLAS runs chunk i."""
    m, k = x.shape
    n = rs.shape[0]
    device = x.device
    tk = q.shape[2]
    bk = configs.fit_block_k(tk, 256)
    deq_dot = kern.tl.float32 if dec == DECODE_BITS else kern.tl.float16
    b = None if bias is None else bias.to(x.dtype)
    rows = configs.chunk_rows(cfg, n, k)
    # The weight goes into memory of this call's own: a buffer kept across calls (per stream)
    # had been shared by threads on one stream, and a thread's cuBLAS could read the weight
    # another thread dequantized into it meanwhile. The caching allocator reuses the block.
    if rows >= n:
        w = torch.empty((n, k), dtype=x.dtype, device=device)
        kern.mx_dequantize[(triton_cdiv(n, 32), k // bk)](q, d, rs, w, 0, n, k, q.stride(0), d.stride(0), TK=tk,
                                                          BLOCK_N=32, BLOCK_K=bk, DECODE=dec, DOT=deq_dot,
                                                          num_warps=4)
        y = F.linear(x, w, b)
        return y if y.dtype == out_dtype else y.to(out_dtype)

    bounds = [(n0, min(n, n0 + rows)) for n0 in range(0, n, rows)]
    # Freed on the main stream after it waits for the side one (main.wait_stream below), so
    # they need no record_stream.
    bufs = [torch.empty(rows * k, dtype=x.dtype, device=device) for _ in (0, 1)]
    y = torch.empty((m, n), dtype=x.dtype, device=device)

    def chunk(i: int) -> torch.Tensor:
        n0, n1 = bounds[i]
        return bufs[i % 2][: (n1 - n0) * k].view(n1 - n0, k)

    def dequantize(i: int) -> None:
        n0, n1 = bounds[i]
        kern.mx_dequantize[(triton_cdiv(n1 - n0, 32), k // bk)](
            q, d, rs, chunk(i), n0, n1, k, q.stride(0), d.stride(0), TK=tk, BLOCK_N=32, BLOCK_K=bk,
            DECODE=dec, DOT=deq_dot, num_warps=4)

    def multiply(i: int) -> None:
        n0, n1 = bounds[i]
        if b is None:
            torch.mm(x, chunk(i).t(), out=y[:, n0:n1])
        else:
            torch.addmm(b[n0:n1], x, chunk(i).t(), out=y[:, n0:n1])

    if cfg.overlap and device.type == "cuda":
        main, side = torch.cuda.current_stream(device), _side_stream(device)
        dequantized = [torch.cuda.Event() for _ in bounds]
        multiplied = [torch.cuda.Event() for _ in bounds]
        side.wait_stream(main)
        with torch.cuda.stream(side):
            dequantize(0)
            dequantized[0].record(side)
        for i in range(len(bounds)):
            if i + 1 < len(bounds):
                with torch.cuda.stream(side):
                    if i >= 1:  # chunk i+1 reuses the buffer of chunk i-1
                        side.wait_event(multiplied[i - 1])
                    dequantize(i + 1)
                    dequantized[i + 1].record(side)
            main.wait_event(dequantized[i])
            multiply(i)
            multiplied[i].record(main)
        main.wait_stream(side)
    else:
        for i in range(len(bounds)):
            dequantize(i)
            multiply(i)
    return y if y.dtype == out_dtype else y.to(out_dtype)


def triton_cdiv(a: int, b: int) -> int:
    return -(-a // b)
