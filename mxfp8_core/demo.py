"""``mxfp8 demo``: quantize a small MLP to MXFP8, select kernels here, run and compare."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .layer import Mxfp8Linear


def build_mlp(hidden: int, ffn: int, blocks: int, dtype: torch.dtype, device: torch.device) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(blocks):
        layers += [nn.Linear(hidden, ffn), nn.GELU(), nn.Linear(ffn, hidden)]
    return nn.Sequential(*layers).to(device=device, dtype=dtype).eval()


def quantize_linears(model: nn.Module, **kwargs: Any) -> nn.Module:
    """Replace every ``nn.Linear`` in ``model`` (in place) by an :class:`Mxfp8Linear`."""
    for name, child in model.named_children():
        if isinstance(child, nn.Linear):
            setattr(model, name, Mxfp8Linear.from_linear(child, **kwargs))
        else:
            quantize_linears(child, **kwargs)
    return model


def _weight_bytes(model: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in model.parameters())


def _median_ms(fn, device: torch.device, repeats: int) -> float:
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def run_demo(
    *,
    device: str | None = None,
    tokens: int = 16,
    hidden: int = 1024,
    ffn: int = 4096,
    blocks: int = 2,
    repeats: int = 20,
    kernels: str | Sequence[str] | None = None,
    disabled: str | Sequence[str] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Run the demo and return its figures (``mxfp8 demo`` prints them)."""
    if tokens < 1:
        raise ValueError(f"tokens must be at least 1, got {tokens}")
    try:
        dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    except RuntimeError:
        raise ValueError(f"device {device!r} is not a torch device (e.g. cpu, cuda, cuda:1)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for, but CUDA is not available here; use --device cpu")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"the demo runs on cpu or cuda, not {dev.type}")
    torch.manual_seed(seed)
    reference = build_mlp(hidden, ffn, blocks, torch.bfloat16, dev)
    quantized = build_mlp(hidden, ffn, blocks, torch.bfloat16, dev)
    quantized.load_state_dict(reference.state_dict())
    quantize_linears(quantized, kernels=kernels, disabled=disabled)
    x = torch.randn(tokens, hidden, dtype=torch.bfloat16, device=dev)
    with torch.inference_mode():
        y_ref = reference(x).float()
        y = quantized(x).float()
        ref_ms = _median_ms(lambda: reference(x), dev, repeats)
        mx_ms = _median_ms(lambda: quantized(x), dev, repeats)
    layers = [
        {
            "layer": name,
            "out_features": module.out_features,
            "in_features": module.in_features,
            "kernel": module.selection.name,
            "distribution": _label(module),
        }
        for name, module in quantized.named_modules()
        if isinstance(module, Mxfp8Linear)
    ]
    return {
        "device": str(dev),
        "target": str(next(m for m in quantized.modules() if isinstance(m, Mxfp8Linear)).selection.target),
        "shape": {"tokens": tokens, "hidden": hidden, "ffn": ffn, "blocks": blocks},
        "layers": layers,
        "relative_error": float((y - y_ref).norm() / y_ref.norm()),
        "max_abs_error": float((y - y_ref).abs().max()),
        "bf16_weight_bytes": _weight_bytes(reference),
        "mxfp8_weight_bytes": _weight_bytes(quantized),
        "bf16_ms": ref_ms,
        "mxfp8_ms": mx_ms,
        "repeats": repeats,
    }


def format_demo(result: dict[str, Any]) -> str:
    shape = result["shape"]
    mib = lambda b: b / 2**20  # noqa: E731
    saved = 1 - result["mxfp8_weight_bytes"] / result["bf16_weight_bytes"]
    lines = [
        f"mxfp8 demo: MLP of {shape['blocks']} blocks ({shape['hidden']} -> {shape['ffn']} -> {shape['hidden']}), "
        f"bf16 activations, {shape['tokens']} tokens, on {result['target']}",
        "",
        f"  {'layer':<8} {'N x K':<13} {'kernel':<20} distribution",
    ]
    for layer in result["layers"]:
        nk = f"{layer['out_features']} x {layer['in_features']}"
        lines.append(f"  {layer['layer']:<8} {nk:<13} {layer['kernel']:<20} {layer['distribution']}")
    lines += [
        "",
        f"  output error vs the bf16 model   relative L2 {result['relative_error']:.2e}, "
        f"max abs {result['max_abs_error']:.2e}",
        f"  weights in memory                bf16 {mib(result['bf16_weight_bytes']):.1f} MiB -> "
        f"MXFP8 {mib(result['mxfp8_weight_bytes']):.1f} MiB ({saved:.1%} saved)",
        f"  time per forward (median of {result['repeats']})  bf16 {result['bf16_ms']:.3f} ms, "
        f"MXFP8 {result['mxfp8_ms']:.3f} ms ({result['bf16_ms'] / result['mxfp8_ms']:.2f}x the bf16 speed)",
    ]
    return "\n".join(lines)


def _label(layer: Mxfp8Linear) -> str:
    chosen = next(c for c in layer.selection.candidates if c.name == layer.selection.name)
    return f"{chosen.distribution} {chosen.version}" if chosen.distribution else f"plugin {chosen.plugin}"
