"""``flashinfer_cutlass``: W8A8 MXFP8 GEMM on Blackwell tensor cores through FlashInfer.

Per call, activations are quantized by ``flashinfer.mxfp8_quantize`` (rceil scales, 1-D
swizzled 128x4 layout) and multiplied by ``flashinfer.mm_mxfp8(..., backend="cutlass")``.
Weights are processed once: scales into the same 128x4 layout (bit-exact, the core's
helper), the weight into the ``[K, N]`` column-major view that ``mm_mxfp8`` takes.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from mxfp8_core import Mxfp8LinearKernel, Mxfp8LinearLayerConfig, Target, swizzle_scales_128x4
from mxfp8_core.platform import CUDA, current_target

from . import _flashinfer

BLACKWELL = (10, 0)

# Generations below Blackwell, named in the reason a GPU is turned down.
_GENERATIONS = {7: "Volta", 8: "Ampere", 9: "Hopper"}
_GENERATION_BY_CAPABILITY = {(7, 5): "Turing", (8, 9): "Ada Lovelace"}


def _generation(capability: tuple[int, int]) -> str:
    return _GENERATION_BY_CAPABILITY.get(capability) or _GENERATIONS.get(capability[0], "pre-Blackwell")


class FlashInferCutlassMxfp8Kernel(Mxfp8LinearKernel):
    """MXFP8 x MXFP8 -> bf16/fp16 on FlashInfer's CUTLASS ``mm_mxfp8`` (sm_100 and newer)."""

    name = "flashinfer_cutlass"
    priority = 300
    scheme = "w8a8"

    devices = frozenset({CUDA})
    # Block-scaled FP8 MMA arrived with Blackwell; below it FlashInfer's mxfp8_quantize
    # launches an empty kernel and returns uninitialised memory. Which Blackwell-class
    # capabilities the cutlass backend covers is FlashInfer's to say
    # (extra_platform_reasons asks it).
    min_capability = BLACKWELL
    # mxfp8_quantize's CUDA kernel takes fp16/bf16 only; mm_mxfp8 writes bf16 or fp16,
    # independently of the activation dtype.
    act_dtypes = frozenset({torch.bfloat16, torch.float16})
    out_dtypes = frozenset({torch.bfloat16, torch.float16})
    # mm_mxfp8's common check: "N >= 128 and K >= 128, or the output may contain NaN/Inf".
    min_in_features = 128
    min_out_features = 128
    # K: the MXFP8 block (mxfp8_quantize asserts it). N: every CUTLASS mm_mxfp8 needs
    # N % 32 == 0. On sm_120/121 FlashInfer's problem check rejects other N; on sm_100/110
    # only the kernel itself does (a TVM_FFI_ICHECK in mxfp8_gemm_cutlass.cu), at the
    # call. So a layer is runnable on every supported GPU or falls through to the next
    # kernel, and real projections (N a multiple of 32 or far more) lose nothing.
    in_features_multiple = 32
    out_features_multiple = 32
    supports_bias = True  # added to the GEMM output
    supports_bmm = False

    def __init__(self, config: Mxfp8LinearLayerConfig) -> None:
        super().__init__(config)
        self._verified_devices: set[torch.device] = set()
        # FlashInfer validates its arguments on every call; after one validated call on
        # a device only M changes, so later calls skip that Python overhead.
        self._validated_devices: set[torch.device] = set()

    # ----------------------------------------------------------------- support checks
    @classmethod
    def extra_platform_reasons(cls, target: Target) -> list[str]:
        reasons = []
        if target.kind == CUDA and target.capability < BLACKWELL:
            cap = target.capability
            reasons.append(
                f"MXFP8 tensor-core GEMMs need an NVIDIA Blackwell-generation GPU (compute capability "
                f"10.0 or newer: B200/GB200 sm_100, B300 sm_103, RTX 50-series sm_120); "
                f"sm_{cap[0]}{cap[1]} is {_generation(cap)}, use a weight-only kernel such as marlin there"
            )
        if target.kind != CUDA or target.capability < BLACKWELL:
            # Only say whether FlashInfer is there; importing it here would cost seconds
            # for an answer that is already no.
            if not _flashinfer.installed():
                reasons.append(_flashinfer.import_error())
            return reasons

        cap = target.capability
        error = _flashinfer.import_error()
        if error is not None:
            reasons.append(error)
            if not _flashinfer.installed() and cap not in _flashinfer.KNOWN_CUTLASS_CAPABILITIES:
                reasons.append(
                    f"FlashInfer {_flashinfer.KNOWN_VERSION}'s cutlass mm_mxfp8 runs on "
                    f"{_flashinfer.format_capabilities(_flashinfer.KNOWN_CUTLASS_CAPABILITIES)} only; "
                    f"the target is {_flashinfer.format_capability(cap)}"
                )
            return reasons

        supported = _flashinfer.cutlass_supports(cap)
        if supported is None:  # a FlashInfer too old to answer: fall back to what we know
            supported = cap in _flashinfer.KNOWN_CUTLASS_CAPABILITIES
        if not supported:
            listed = _flashinfer.supported_capabilities() or _flashinfer.KNOWN_CUTLASS_CAPABILITIES
            reasons.append(
                f"FlashInfer {_flashinfer.version()}'s cutlass mm_mxfp8 does not support "
                f"{_flashinfer.format_capability(cap)} (it supports {_flashinfer.format_capabilities(listed)}); "
                f"a newer FlashInfer may: pip install -U {_flashinfer.DISTRIBUTION}"
            )
        return reasons

    # ----------------------------------------------------------------- weights
    def prepare_weights(self, weight: torch.Tensor, weight_scale: torch.Tensor) -> Mapping[str, torch.Tensor]:
        # mm_mxfp8 takes B = [K, N] column-major, i.e. the transpose of a contiguous
        # [N, K] weight (its CUTLASS path requires b.T to be contiguous). This is a view:
        # no copy when the checkpoint weight is already contiguous.
        weight_kn = weight.contiguous().t()
        # Scales of the [N, K] weight as the 1-D swizzled 128x4 buffer,
        # round_up(N, 128) * round_up(K/32, 4) bytes, padding zero.
        scale = swizzle_scales_128x4(weight_scale)
        return {"weight": weight_kn, "weight_scale": scale}

    # ----------------------------------------------------------------- compute
    def apply_2d(self, layer: torch.nn.Module, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        device = x.device
        if device != layer.weight.device:  # CUTLASS would be handed pointers of two devices
            raise ValueError(f"kernel {self.name!r}: input is on {device} but the layer's weights are on "
                             f"{layer.weight.device}")
        if device not in self._verified_devices:
            self._verify_device(device)
            self._verified_devices.add(device)
        x_q, x_scale = _flashinfer.quantize(x.contiguous())
        y = _flashinfer.gemm(
            x_q,
            layer.weight,
            x_scale,
            layer.weight_scale,
            out_dtype=self.config.out_dtype,
            skip_check=device in self._validated_devices,
        )
        self._validated_devices.add(device)
        if bias is not None:  # [N] (the base class checked it), added in the output dtype
            y = y + bias.to(y.dtype)
        return y

    def _verify_device(self, device: torch.device) -> None:
        """Refuse, with the reason, to run anywhere FlashInfer would give garbage or fail."""
        if device.type != "cuda":
            raise RuntimeError(f"kernel {self.name!r} runs on CUDA tensors only; the input is on {device}")
        target = current_target(device)
        support = type(self).is_supported(target)
        if not support:
            why = ": below sm_100 mxfp8_quantize returns uninitialised memory" if target.capability < BLACKWELL else ""
            raise RuntimeError(
                f"kernel {self.name!r} cannot run on {device} ({target}): {support.reason}. It refuses to "
                f"call FlashInfer there{why}"
            )
