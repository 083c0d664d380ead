"""mxfp8_core: kernel protocol, MXFP8 format, plugin discovery and kernel selection.

An engine asks for a kernel in one call::

    selection = mxfp8_core.select_kernel(Mxfp8LinearLayerConfig(4096, 4096))
    kernel = selection.kernel(config)

or uses the ready layer, :class:`Mxfp8Linear`.
"""

from .config import Mxfp8LinearLayerConfig
from .discovery import KernelEntry, PluginInfo, PluginRegistry, get_registry, list_plugins, register_plugin, reset_plugins
from .errors import KernelContractError, Mxfp8Error, NoKernelAvailable, PluginLoadError, UnknownKernelError
from .format import BLOCK_SIZE, dequantize_mxfp8, quantize_mxfp8
from .hookspecs import ENTRY_POINT_GROUP, hookimpl, hookspec
from .kernel import Mxfp8LinearKernel
from .layer import Mxfp8Linear
from .layout import swizzle_scales_128x4, swizzled_128x4_size, unswizzle_scales_128x4
from .platform import CPU, Target, current_target, resolve_target
from .selection import Candidate, Selection, clear_selection_cache, select_kernel
from .support import Support

__version__ = "0.1.0"

__all__ = [
    "BLOCK_SIZE", "CPU", "Candidate", "ENTRY_POINT_GROUP", "KernelContractError", "KernelEntry",
    "Mxfp8Error", "Mxfp8Linear", "Mxfp8LinearKernel", "Mxfp8LinearLayerConfig", "NoKernelAvailable",
    "PluginInfo", "PluginLoadError", "PluginRegistry", "Selection", "Support", "Target",
    "UnknownKernelError", "clear_selection_cache", "current_target", "dequantize_mxfp8", "get_registry",
    "hookimpl", "hookspec", "list_plugins", "quantize_mxfp8", "register_plugin", "reset_plugins",
    "resolve_target", "select_kernel", "swizzle_scales_128x4", "swizzled_128x4_size",
    "unswizzle_scales_128x4",
]
