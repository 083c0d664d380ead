"""mxfp8_core: kernel protocol, MXFP8 format, plugin discovery and kernel selection.

An engine asks for a kernel in one call::

    config = Mxfp8LinearLayerConfig(4096, 4096)
    kernel = mxfp8_core.select_kernel(config).kernel(config)

or uses the ready layer, :class:`Mxfp8Linear`.

Names are imported on first use (PEP 562): the pytest plugin of the conformance kit lives
in this package and is loaded into every pytest run where mxfp8-core is installed, so
``import mxfp8_core`` itself must not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_namespace

__version__ = "0.1.0"

_EXPORTS = {
    "Mxfp8LinearLayerConfig": "config",
    "KernelEntry": "discovery",
    "PluginInfo": "discovery",
    "PluginRegistry": "discovery",
    "get_registry": "discovery",
    "list_plugins": "discovery",
    "register_plugin": "discovery",
    "reset_plugins": "discovery",
    "KernelContractError": "errors",
    "Mxfp8Error": "errors",
    "NoKernelAvailable": "errors",
    "PluginLoadError": "errors",
    "UnknownKernelError": "errors",
    "BLOCK_SIZE": "format",
    "dequantize_mxfp8": "format",
    "quantize_mxfp8": "format",
    "ENTRY_POINT_GROUP": "hookspecs",
    "hookimpl": "hookspecs",
    "hookspec": "hookspecs",
    "Mxfp8LinearKernel": "kernel",
    "Mxfp8Linear": "layer",
    "swizzle_scales_128x4": "layout",
    "swizzled_128x4_size": "layout",
    "unswizzle_scales_128x4": "layout",
    "CPU": "platform",
    "Target": "platform",
    "current_target": "platform",
    "resolve_target": "platform",
    "Candidate": "selection",
    "Selection": "selection",
    "clear_selection_cache": "selection",
    "select_kernel": "selection",
    "Support": "support",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_namespace(__name__, globals(), _EXPORTS)

if TYPE_CHECKING:  # what static tools see
    from .config import Mxfp8LinearLayerConfig
    from .discovery import (
        KernelEntry, PluginInfo, PluginRegistry, get_registry, list_plugins, register_plugin, reset_plugins,
    )
    from .errors import KernelContractError, Mxfp8Error, NoKernelAvailable, PluginLoadError, UnknownKernelError
    from .format import BLOCK_SIZE, dequantize_mxfp8, quantize_mxfp8
    from .hookspecs import ENTRY_POINT_GROUP, hookimpl, hookspec
    from .kernel import Mxfp8LinearKernel
    from .layer import Mxfp8Linear
    from .layout import swizzle_scales_128x4, swizzled_128x4_size, unswizzle_scales_128x4
    from .platform import CPU, Target, current_target, resolve_target
    from .selection import Candidate, Selection, clear_selection_cache, select_kernel
    from .support import Support
