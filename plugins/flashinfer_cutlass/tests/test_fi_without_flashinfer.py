"""Where FlashInfer cannot be imported the plugin still loads, and says what to install.

Each test runs a fresh interpreter in which ``flashinfer`` is made unimportable before
the plugin is imported: ``sys.modules["flashinfer"] = None`` is how Python spells "not
installed" to both ``import`` and ``importlib.util.find_spec``; a broken install is a
finder whose loader raises, as a missing ``libcuda`` would.
"""

from __future__ import annotations

NOT_INSTALLED = """
import sys
sys.modules["flashinfer"] = None
import importlib.util
assert importlib.util.find_spec("flashinfer") is None
"""

BROKEN = """
import importlib.abc, importlib.machinery, sys

class BrokenLoader(importlib.abc.Loader):
    def create_module(self, spec):
        return None
    def exec_module(self, module):
        raise ImportError("libcuda.so.1: cannot open shared object file")

class BrokenFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "flashinfer":
            return importlib.machinery.ModuleSpec(name, BrokenLoader())
        return None

sys.meta_path.insert(0, BrokenFinder())
"""


def test_plugin_loads_and_names_the_package_to_install(python_subprocess):
    python_subprocess(
        NOT_INSTALLED
        + """
import torch
from mxfp8_core import Mxfp8LinearLayerConfig, quantize_mxfp8
import importlib.metadata
from mxfp8_flashinfer_cutlass import _flashinfer

# loaded through its real entry point, as the core's discovery loads it
[entry] = [e for e in importlib.metadata.entry_points(group="mxfp8_core.plugins") if e.name == "flashinfer_cutlass"]
[Kernel] = entry.load().mxfp8_core_kernels()
assert Kernel.name == "flashinfer_cutlass"

ok, reason = Kernel.is_supported((10, 0))
assert not ok
assert Kernel.is_supported((10, 0)).reasons == ("FlashInfer is not installed: pip install flashinfer-python",), reason

# planning for a GPU the known FlashInfer release does not cover: both reasons
reasons = Kernel.is_supported((10, 1)).reasons
assert reasons[0] == "FlashInfer is not installed: pip install flashinfer-python", reasons
assert "FlashInfer 0.7.2's cutlass mm_mxfp8 runs on sm_100, sm_103, sm_107, sm_110, sm_120, sm_121 only; the target is sm_101" in reasons[1], reasons

for target in [(9, 0), "cpu"]:
    ok, reason = Kernel.is_supported(target)
    assert not ok and "pip install flashinfer-python" in reason, reason
assert "Blackwell" in Kernel.is_supported((9, 0)).reason

# config checks and weight processing need no FlashInfer
config = Mxfp8LinearLayerConfig(256, 256)
assert Kernel.can_implement(config).ok
layer = torch.nn.Module()
data, scale = quantize_mxfp8(torch.randn(256, 256))
layer.weight = torch.nn.Parameter(data, requires_grad=False)
layer.weight_scale = torch.nn.Parameter(scale, requires_grad=False)
kernel = Kernel(config)
kernel.process_weights_after_loading(layer)
assert tuple(layer.weight.shape) == (256, 256) and layer.weight_scale.dim() == 1

try:
    _flashinfer.require()
except ImportError as exc:
    assert "pip install flashinfer-python" in str(exc), exc
else:
    raise AssertionError("require() did not raise")
print("OK")
"""
    )


def test_broken_install_is_reported_not_raised(python_subprocess):
    python_subprocess(
        BROKEN
        + """
from mxfp8_flashinfer_cutlass import plugin
[Kernel] = plugin.mxfp8_core_kernels()
ok, reason = Kernel.is_supported((10, 0))
assert not ok
assert "FlashInfer is installed but failed to import (ImportError: libcuda.so.1: cannot open shared object file)" in reason, reason
assert "pip install --force-reinstall flashinfer-python" in reason, reason
# pre-Blackwell answers never try the import, and the package counts as installed
assert Kernel.is_supported((9, 0)).reason.count("FlashInfer is") == 0
"""
    )

