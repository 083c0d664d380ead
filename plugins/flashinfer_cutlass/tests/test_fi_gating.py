"""is_supported: which GPUs the kernel accepts, why it turns the others down, and that
planning questions ("would it run on sm_100?") are answered from this CPU host."""

from __future__ import annotations

import importlib
import importlib.metadata

import pluggy
import pytest

flashinfer = pytest.importorskip("flashinfer", reason="these checks compare with FlashInfer's own answers")

from mxfp8_core import ENTRY_POINT_GROUP, Target
from mxfp8_core.hookspecs import PROJECT
from mxfp8_core.platform import current_target
from mxfp8_flashinfer_cutlass import FlashInferCutlassMxfp8Kernel as Kernel
from mxfp8_flashinfer_cutlass import _flashinfer
from mxfp8_flashinfer_cutlass import plugin

PRE_BLACKWELL = [
    ((7, 0), "Volta"),
    ((7, 5), "Turing"),
    ((8, 0), "Ampere"),
    ((8, 6), "Ampere"),
    ((8, 9), "Ada Lovelace"),
    ((9, 0), "Hopper"),
]


def test_declared_identity():
    assert (Kernel.name, Kernel.scheme, Kernel.priority) == ("flashinfer_cutlass", "w8a8", 300)


@pytest.mark.parametrize("capability, generation", PRE_BLACKWELL)
def test_pre_blackwell_rejected_with_generation(capability, generation):
    ok, reason = Kernel.is_supported(capability)
    assert not ok
    assert "compute capability >= 10.0" in reason
    assert "Blackwell" in reason
    assert f"sm_{capability[0]}{capability[1]} is {generation}" in reason
    assert "marlin" in reason


@pytest.mark.parametrize("spelling", ["9.0", "sm_90", "90", Target("cuda", (9, 0))])
def test_h100_rejected_whatever_the_spelling(spelling):
    support = Kernel.is_supported(spelling)
    assert not support.ok
    assert support.reasons == Kernel.is_supported((9, 0)).reasons


@pytest.mark.parametrize("capability", [(10, 0), (10, 3), (11, 0), (12, 0), (12, 1), "10.0", "sm_100", "sm_120"])
def test_blackwell_accepted(capability):
    support = Kernel.is_supported(capability)
    assert support.ok, support.reason
    assert support.reason is None


@pytest.mark.parametrize("capability", [(10, 1), (12, 2), (13, 0)])
def test_unlisted_new_capability_rejected_by_flashinfer(capability):
    ok, reason = Kernel.is_supported(capability)
    assert not ok
    name = f"sm_{capability[0]}{capability[1]}"
    assert f"FlashInfer {flashinfer.__version__}'s cutlass mm_mxfp8 does not support {name}" in reason
    assert "sm_100" in reason  # says what it does support
    assert "pip install -U flashinfer-python" in reason
    assert "compute capability >= 10.0" not in reason  # no floor reason above the floor


@pytest.mark.parametrize("target", ["cpu", Target("rocm", (9, 4))])
def test_non_cuda_targets_rejected(target):
    ok, reason = Kernel.is_supported(target)
    assert not ok
    assert "needs an NVIDIA CUDA GPU" in reason


def test_default_is_the_current_device():
    assert Kernel.is_supported() == Kernel.is_supported(current_target())


def test_agrees_with_flashinfer_on_every_capability():
    """Above the Blackwell floor the kernel says what FlashInfer says, and never yes below it."""
    for major in range(7, 16):
        for minor in range(10):
            cc = major * 10 + minor
            expected = major >= 10 and flashinfer.mm_mxfp8.is_backend_supported("cutlass", cc)
            assert Kernel.is_supported((major, minor)).ok == expected, (major, minor)


def test_static_fallback_table_matches_installed_flashinfer():
    """The table used when FlashInfer is absent must track the release CI installs; if
    this fails after a FlashInfer upgrade, update KNOWN_CUTLASS_CAPABILITIES/KNOWN_VERSION."""
    assert _flashinfer.supported_capabilities() == _flashinfer.KNOWN_CUTLASS_CAPABILITIES


def test_flashinfer_is_asked_once_per_capability(monkeypatch):
    calls = []
    original = flashinfer.mm_mxfp8.is_backend_supported

    def counting(backend, cc=None):
        calls.append((backend, cc))
        return original(backend, cc)

    monkeypatch.setattr(flashinfer.mm_mxfp8, "is_backend_supported", counting)
    _flashinfer.cutlass_supports.cache_clear()
    try:
        for _ in range(3):
            assert Kernel.is_supported((10, 3)).ok
        assert calls == [("cutlass", 103)]
    finally:
        _flashinfer.cutlass_supports.cache_clear()


def test_import_config_checks_and_pre_blackwell_answers_do_not_import_flashinfer(python_subprocess):
    """``import flashinfer`` costs seconds: only a question about a Blackwell-class GPU
    (or running the kernel) may pay for it. One fresh process for the whole story."""
    python_subprocess(
        """
        import sys
        from mxfp8_core import Mxfp8LinearLayerConfig
        from mxfp8_flashinfer_cutlass import plugin
        [kernel] = plugin.mxfp8_core_kernels()
        assert "flashinfer" not in sys.modules
        for target in [(9, 0), (8, 0), "cpu"]:
            assert not kernel.is_supported(target).ok
        assert "flashinfer" not in sys.modules, "asking about a pre-Blackwell target imported flashinfer"
        assert kernel.can_implement(Mxfp8LinearLayerConfig(4096, 4096)).ok
        assert not kernel.can_implement(Mxfp8LinearLayerConfig(1024, 32)).ok
        kernel(Mxfp8LinearLayerConfig(4096, 4096))
        assert "flashinfer" not in sys.modules, "config checks imported flashinfer"
        assert kernel.is_supported((10, 0)).ok
        assert "flashinfer" in sys.modules
        """
    )


def test_registered_entry_point_provides_the_kernel():
    [entry] = [ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP) if ep.name == "flashinfer_cutlass"]
    assert entry.value == "mxfp8_flashinfer_cutlass.plugin"
    assert entry.dist.name == "mxfp8-flashinfer-cutlass"
    manager = pluggy.PluginManager(PROJECT)
    manager.add_hookspecs(importlib.import_module("mxfp8_core.hookspecs"))
    manager.register(entry.load())
    assert manager.hook.mxfp8_core_kernels() == [[Kernel]]
    assert entry.load() is plugin

