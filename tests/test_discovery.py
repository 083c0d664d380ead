"""Discovery through really installed distributions (tests/distributions, pip-installed
into a temporary site directory), including a broken one."""

from __future__ import annotations

import logging
import re
import types

import pytest
import torch

import mxfp8_core
from mxfp8_core import Mxfp8LinearKernel, Mxfp8LinearLayerConfig, PluginLoadError, PluginRegistry, hookimpl

BROKEN = {
    "import_error": "import failed: RuntimeError: this plugin fails at import",
    "exits": "import failed: SystemExit: this plugin calls sys.exit at import",
    "missing": "import failed: ModuleNotFoundError",
    "hook_error": "mxfp8_core_kernels raised: ValueError: this plugin's hook raises",
    "no_hook": "provides no kernels: it implements no mxfp8_core_kernels hook",
    "bad_hook": "registration failed: PluginValidationError",
    "duplicate": "kernel name 'emulation' is already provided by plugin 'emulation'",
}


# The kernels of the distributions installed in this environment (the repository's own
# plugins, and whatever else CI installed), found without the test distributions.
INSTALLED = set(PluginRegistry(strict=False).names())


def _plugins(registry):
    return {info.name: info for info in registry.plugins()}


def test_installed_plugins_are_found_with_distribution_and_version():
    infos = _plugins(PluginRegistry())
    emulation = infos["emulation"]
    assert emulation.distribution == "mxfp8-emulation"
    assert emulation.version == mxfp8_core.__version__
    assert emulation.kernels == ("emulation",)
    assert emulation.ok and emulation.source == "entry point 'emulation = mxfp8_emulation.plugin'"


def test_third_party_distribution_is_discovered_and_ranked(with_test_plugins):
    registry = PluginRegistry()
    info = _plugins(registry)["thirdparty"]
    assert (info.distribution, info.version, info.kernels) == ("mxfp8-test-thirdparty", "1.2.3", ("thirdparty_fp32",))
    config = Mxfp8LinearLayerConfig(64, 16, torch.float32)
    selection = mxfp8_core.select_kernel(config, capability="cpu", registry=registry)
    assert selection.name == "thirdparty_fp32"  # priority 100 beats emulation's 0
    chosen = next(c for c in selection.candidates if c.verdict == "selected")
    assert (chosen.name, chosen.distribution, chosen.version) == ("thirdparty_fp32", "mxfp8-test-thirdparty", "1.2.3")


def test_broken_plugins_are_recorded_and_the_host_keeps_working(with_test_plugins, caplog):
    caplog.set_level(logging.WARNING, logger="mxfp8_core")
    registry = PluginRegistry()
    infos = _plugins(registry)
    for name, expected in BROKEN.items():
        assert not infos[name].ok, name
        assert infos[name].distribution == "mxfp8-test-broken"
        assert any(expected in error for error in infos[name].errors), (name, infos[name].errors)
    garbage = infos["garbage"].errors
    assert len(garbage) == 4
    assert any("NotAKernel" in e and "is not a subclass" in e for e in garbage)
    assert any("abstract methods not implemented: apply_2d, prepare_weights" in e for e in garbage)
    assert any("priority must be an int" in e and "scheme must be one of" in e for e in garbage)
    # The impostor did not replace the real emulation kernel.
    assert registry.get("emulation").plugin.distribution == "mxfp8-emulation"
    assert set(registry.names()) == INSTALLED | {"thirdparty_fp32"}
    # Each failure was logged once, and asking again logs nothing new.
    first = len(caplog.records)
    assert first >= len(BROKEN)
    registry.kernels()
    registry.plugins()
    mxfp8_core.select_kernel(Mxfp8LinearLayerConfig(64, 16), registry=registry)
    assert len(caplog.records) == first
    # The selection explanation carries the load errors.
    text = mxfp8_core.select_kernel(Mxfp8LinearLayerConfig(64, 16), registry=registry).explain()
    assert "plugin import_error (mxfp8-test-broken 0.0.1) failed: import failed: RuntimeError" in text
    # A name no loaded plugin provides may belong to one that failed: the error says so.
    with pytest.raises(mxfp8_core.UnknownKernelError, match=r"names unknown kernel\(s\) 'broken_one'; known kernels: "
                       r".*; \d+ plugin\(s\) failed to load \(.*import_error.*\): run `mxfp8 plugins`"):
        mxfp8_core.select_kernel(Mxfp8LinearLayerConfig(64, 16), kernels="broken_one", registry=registry)


def test_strict_mode_raises_on_the_first_broken_plugin(with_test_plugins, monkeypatch):
    monkeypatch.setenv("MXFP8_STRICT_PLUGINS", "1")
    with pytest.raises(PluginLoadError, match=r"bad_hook.*MXFP8_STRICT_PLUGINS is set"):
        PluginRegistry().kernels()
    registry = PluginRegistry(strict=True)
    for _ in range(2):  # asked again, it raises again: no partial set of plugins is ever used
        for ask in (registry.kernels, registry.plugins, lambda: mxfp8_core.select_kernel(
                Mxfp8LinearLayerConfig(64, 16, torch.float32), capability="cpu", registry=registry)):
            with pytest.raises(PluginLoadError, match="bad_hook"):
                ask()
    assert set(PluginRegistry(strict=False).names()) == INSTALLED | {"thirdparty_fp32"}


def test_strict_registration_in_code_that_fails_leaves_the_name_free(monkeypatch):
    monkeypatch.setenv("MXFP8_DISABLE_PLUGIN_AUTOLOAD", "1")
    registry = PluginRegistry(strict=True)

    class BadHook:
        @hookimpl
        def mxfp8_core_kernels(self, no_such_argument):
            return []

    with pytest.raises(PluginLoadError, match="'mine' .*registration failed: PluginValidationError"):
        registry.register(BadHook(), name="mine")
    assert registry.plugins() == ()
    from mxfp8_emulation import plugin

    assert registry.register(plugin, name="mine") == "mine"
    assert registry.names() == ("emulation",)


def test_strict_registration_checks_the_kernels_and_names_the_strict_argument(monkeypatch):
    monkeypatch.setenv("MXFP8_DISABLE_PLUGIN_AUTOLOAD", "1")
    registry = PluginRegistry(strict=True)

    class Garbage:
        @hookimpl
        def mxfp8_core_kernels(self):
            return [int]

    # Refused at register(), with the real source of strict mode: nothing stays registered.
    with pytest.raises(PluginLoadError, match=r"'bad' .*returned an invalid kernel: <class 'int'> is not a subclass "
                       r".*\[the registry was built with strict=True\]"):
        registry.register(Garbage(), name="bad")
    assert registry.plugins() == () and registry.names() == ()
    from mxfp8_emulation import plugin

    assert registry.register(plugin, name="bad") == "bad"
    assert registry.names() == ("emulation",)
    monkeypatch.setenv("MXFP8_STRICT_PLUGINS", "1")
    with pytest.raises(PluginLoadError, match=r"\[MXFP8_STRICT_PLUGINS is set\]"):
        PluginRegistry().register(Garbage(), name="bad")


@pytest.mark.parametrize("kind", ["class", "string", "int"])
def test_a_hook_returning_no_list_is_a_broken_plugin(monkeypatch, kind):
    monkeypatch.setenv("MXFP8_DISABLE_PLUGIN_AUTOLOAD", "1")
    from mxfp8_emulation import EmulationKernel, plugin

    class K2(EmulationKernel):
        name = "k2"

    result, what = {"class": (K2, r"the class .*\.K2"), "string": ("k2", "str"), "int": (7, "int")}[kind]
    expected = f"^mxfp8_core_kernels returned {what}; expected a list of kernel classes$"
    registry = PluginRegistry()
    registry.register(types.SimpleNamespace(mxfp8_core_kernels=hookimpl(lambda: result)), name="forgot_list")
    registry.register(plugin, name="emulation")
    (error,) = _plugins(registry)["forgot_list"].errors
    assert re.match(expected, error), error
    assert registry.names() == ("emulation",)  # the other plugin still loads
    with pytest.raises(PluginLoadError, match=expected[1:-1]):
        PluginRegistry(strict=True).register(types.SimpleNamespace(mxfp8_core_kernels=hookimpl(lambda: result)))


def test_autoload_off_loads_no_entry_points_but_code_registration_works(with_test_plugins, monkeypatch):
    monkeypatch.setenv("MXFP8_DISABLE_PLUGIN_AUTOLOAD", "1")
    registry = PluginRegistry()
    assert registry.plugins() == () and registry.names() == ()
    with pytest.raises(mxfp8_core.NoKernelAvailable, match="no MXFP8 kernel is installed") as info:
        mxfp8_core.select_kernel(Mxfp8LinearLayerConfig(64, 16), registry=registry)
    message = str(info.value)
    for dist in ("mxfp8-emulation", "mxfp8-marlin", "mxfp8-flashinfer-cutlass"):
        assert f"pip install {dist}" in message
    assert "MXFP8_DISABLE_PLUGIN_AUTOLOAD is set" in message

    from mxfp8_emulation import plugin

    assert registry.register(plugin, name="mine") == "mine"
    assert registry.names() == ("emulation",)
    assert _plugins(registry)["mine"].source == "registered in code"
    assert mxfp8_core.select_kernel(Mxfp8LinearLayerConfig(64, 16), registry=registry).name == "emulation"


def test_process_wide_registry_reads_the_environment_on_reset(monkeypatch):
    assert "emulation" in mxfp8_core.get_registry().names() and "emulation" in INSTALLED
    monkeypatch.setenv("MXFP8_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert "emulation" in mxfp8_core.get_registry().names()  # already loaded
    mxfp8_core.reset_plugins()
    assert mxfp8_core.get_registry().names() == ()


class _CodeKernel(Mxfp8LinearKernel):
    name = "code_kernel"
    priority = 5
    scheme = "emulated"
    devices = None
    act_dtypes = frozenset({torch.float32})

    def prepare_weights(self, weight, weight_scale):
        return {}

    def apply_2d(self, layer, x, bias):
        w = mxfp8_core.dequantize_mxfp8(layer.weight, layer.weight_scale, torch.float32)
        return torch.nn.functional.linear(x, w, bias)


def test_register_and_unregister_in_code_change_the_generation():
    registry = PluginRegistry(autoload=False)
    before = registry.generation
    registry.register(types.SimpleNamespace(mxfp8_core_kernels=hookimpl(lambda: [_CodeKernel])), name="ns")
    assert registry.generation > before and registry.names() == ("code_kernel",)
    with pytest.raises(ValueError, match="already registered"):
        registry.register(types.SimpleNamespace(), name="ns")
    registry.unregister("ns")
    assert registry.names() == ()
    with pytest.raises(KeyError, match="no plugin named 'ns'"):
        registry.unregister("ns")


def test_module_level_register_plugin_feeds_select_kernel():
    plugin = types.SimpleNamespace(mxfp8_core_kernels=hookimpl(lambda: [_CodeKernel]))
    mxfp8_core.register_plugin(plugin, name="code")
    selection = mxfp8_core.select_kernel(Mxfp8LinearLayerConfig(64, 16, torch.float32))
    assert selection.name == "code_kernel"
    assert {c.name for c in selection.candidates} == INSTALLED | {"code_kernel"}
    chosen = next(c for c in selection.candidates if c.verdict == "selected")
    assert (chosen.name, chosen.plugin, chosen.distribution) == ("code_kernel", "code", None)


def test_get_unknown_kernel_lists_known_names():
    with pytest.raises(mxfp8_core.UnknownKernelError, match="no kernel named 'nope'; known kernels: .*emulation"):
        PluginRegistry().get("nope")


def test_plugin_import_is_lazy_about_heavy_backends():
    """Loading every installed plugin must not import the GPU libraries they wrap."""
    import subprocess
    import sys

    code = (
        "import sys, mxfp8_core; mxfp8_core.get_registry().kernels(); "
        "print(sorted(m for m in ('flashinfer', 'triton') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_importing_the_package_imports_no_torch():
    """The kit's pytest plugin lives in mxfp8_core and is loaded into every pytest run
    where mxfp8-core is installed: the package namespace is lazy."""
    import subprocess
    import sys

    code = (
        "import sys, mxfp8_core, mxfp8_core.testing.pytest_plugin; before = 'torch' in sys.modules; "
        "mxfp8_core.Mxfp8LinearKernel; print(before, 'torch' in sys.modules, sorted(dir(mxfp8_core)) == mxfp8_core.__all__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True", "True"]


def test_every_public_name_is_documented():
    """Each name the package exports appears, in backticks, in the README or the plugin guide."""
    from pathlib import Path

    import mxfp8_core

    root = Path(__file__).resolve().parents[1]
    docs = (root / "README.md").read_text() + (root / "docs" / "writing-a-plugin.md").read_text()
    assert [name for name in mxfp8_core.__all__ if f"`{name}" not in docs] == []


def test_a_plugin_with_one_invalid_kernel_is_skipped_whole(monkeypatch, caplog):
    monkeypatch.setenv("MXFP8_DISABLE_PLUGIN_AUTOLOAD", "1")
    from mxfp8_emulation import EmulationKernel

    class Valid(EmulationKernel):
        name = "half_valid"
        priority = 1000

    class HalfBroken:
        @hookimpl
        def mxfp8_core_kernels(self):
            return [Valid, "not a kernel"]

    registry = PluginRegistry()
    registry.register(HalfBroken(), name="half_broken")
    assert registry.names() == ()  # its valid kernel is not offered either
    (info,) = registry.plugins()
    assert info.kernels == () and not info.ok and "returned an invalid kernel" in info.errors[0]
    assert "it is skipped" in caplog.text
    with pytest.raises(mxfp8_core.UnknownKernelError, match="1 plugin\\(s\\) failed to load \\(half_broken\\)"):
        mxfp8_core.select_kernel(Mxfp8LinearLayerConfig(64, 16), kernels="half_valid", registry=registry)


def test_messages_name_where_autoload_was_turned_off(monkeypatch):
    monkeypatch.delenv("MXFP8_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    config = Mxfp8LinearLayerConfig(64, 16)
    with pytest.raises(mxfp8_core.NoKernelAvailable, match=r"the registry was built with autoload=False"):
        mxfp8_core.select_kernel(config, registry=PluginRegistry(autoload=False))
    with pytest.raises(mxfp8_core.UnknownKernelError, match=r"built with autoload=False"):
        mxfp8_core.select_kernel(config, kernels="emulation", registry=PluginRegistry(autoload=False))
    assert PluginRegistry().autoload_off_reason() is None
    monkeypatch.setenv("MXFP8_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert PluginRegistry().autoload_off_reason() == "plugin autoload is off: MXFP8_DISABLE_PLUGIN_AUTOLOAD is set"
