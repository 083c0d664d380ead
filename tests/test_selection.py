"""Selection: filtering, ranking, overrides, explanations, caching."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import types

import pytest
import torch

import mxfp8_core
from mxfp8_core import (
    Mxfp8LinearKernel,
    Mxfp8LinearLayerConfig,
    NoKernelAvailable,
    PluginRegistry,
    Support,
    UnknownKernelError,
    hookimpl,
    select_kernel,
)
from mxfp8_core.selection import argument_names

CONFIG = Mxfp8LinearLayerConfig(256, 128)


def make_kernel(name, priority, *, devices=None, min_capability=None, **attrs):
    def prepare_weights(self, weight, weight_scale):
        return {}

    def apply_2d(self, layer, x, bias):
        w = mxfp8_core.dequantize_mxfp8(layer.weight, layer.weight_scale, self.config.act_dtype)
        return torch.nn.functional.linear(x, w, bias)

    body = dict(name=name, priority=priority, scheme="w8a16", devices=devices, min_capability=min_capability,
                prepare_weights=prepare_weights, apply_2d=apply_2d, **attrs)
    return type(f"K_{name}", (Mxfp8LinearKernel,), body)


def registry_with(*kernels, name="test"):
    registry = PluginRegistry(autoload=False)
    registry.register(types.SimpleNamespace(mxfp8_core_kernels=hookimpl(lambda: list(kernels))), name=name)
    return registry


FAST = make_kernel("fast", 300, devices=frozenset({"cuda"}), min_capability=(10, 0), min_out_features=128)
GPU = make_kernel("gpu", 200, devices=frozenset({"cuda"}), min_capability=(8, 0))
ANY = make_kernel("anywhere", 0)
TIE_B = make_kernel("tie_b", 50)
TIE_A = make_kernel("tie_a", 50)


@pytest.fixture
def registry():
    return registry_with(ANY, GPU, FAST, TIE_B, TIE_A)


def verdicts(selection):
    return [(c.name, c.verdict) for c in selection.candidates]


def test_ranking_by_priority_ties_by_name_on_each_target(registry):
    blackwell = select_kernel(CONFIG, capability=(10, 0), registry=registry)
    assert blackwell.name == "fast"
    assert verdicts(blackwell) == [("fast", "selected"), ("gpu", "usable"), ("tie_a", "usable"),
                                   ("tie_b", "usable"), ("anywhere", "usable")]
    hopper = select_kernel(CONFIG, capability=(9, 0), registry=registry)
    assert hopper.name == "gpu"
    assert hopper.candidates[0].reasons == ("needs compute capability >= 10.0; the target is 9.0",)
    cpu = select_kernel(CONFIG, capability="cpu", registry=registry)
    assert cpu.name == "tie_a"
    assert cpu.candidates[0].verdict == "rejected" and cpu.candidates[1].verdict == "rejected"
    assert "needs an NVIDIA CUDA GPU; the target is CPU" in cpu.candidates[1].reasons


def test_layer_shape_falls_through_instead_of_crashing(registry):
    small = Mxfp8LinearLayerConfig(1024, 32)  # like vLLM #54223: N < 128
    selection = select_kernel(small, capability=(10, 0), registry=registry)
    assert selection.name == "gpu"
    assert selection.candidates[0].reasons == ("needs N (out_features) >= 128, got 32",)


def test_forced_kernels_in_order(registry, caplog):
    selection = select_kernel(CONFIG, capability=(9, 0), kernels=["anywhere", "gpu"], registry=registry)
    assert selection.name == "anywhere"
    assert verdicts(selection)[:2] == [("anywhere", "selected"), ("gpu", "usable")]
    assert {c.verdict for c in selection.candidates[2:]} == {"not requested"}
    caplog.set_level(logging.WARNING, logger="mxfp8_core")
    selection = select_kernel(CONFIG, capability=(9, 0), kernels="fast,gpu", registry=registry)
    assert selection.name == "gpu"
    assert "forced kernel(s) fast cannot run" in caplog.text


def test_forced_kernel_that_cannot_run_is_an_error_with_its_reason(registry):
    with pytest.raises(NoKernelAvailable) as info:
        select_kernel(CONFIG, capability=(9, 0), kernels=["fast"], registry=registry)
    text = str(info.value)
    assert text.startswith("none of the forced kernels (fast) can run this layer")
    assert "needs compute capability >= 10.0; the target is 9.0" in text
    assert [c.verdict for c in info.value.candidates if c.name == "fast"] == ["rejected"]


def test_environment_overrides_match_the_arguments(registry, monkeypatch):
    monkeypatch.setenv("MXFP8_KERNELS", " anywhere , gpu ")
    assert select_kernel(CONFIG, capability=(9, 0), registry=registry).name == "anywhere"
    # An argument wins over the environment.
    assert select_kernel(CONFIG, capability=(9, 0), kernels=["gpu"], registry=registry).name == "gpu"
    monkeypatch.delenv("MXFP8_KERNELS")
    monkeypatch.setenv("MXFP8_DISABLED_KERNELS", "gpu,tie_a")
    selection = select_kernel(CONFIG, capability=(9, 0), registry=registry)
    assert selection.name == "tie_b"
    assert ("gpu", "disabled") in verdicts(selection)
    gpu = next(c for c in selection.candidates if c.name == "gpu")
    assert gpu.reasons == ("disabled by MXFP8_DISABLED_KERNELS",)
    assert select_kernel(CONFIG, capability=(9, 0), disabled=[], registry=registry).name == "gpu"
    monkeypatch.setenv("MXFP8_KERNELS", "")  # empty means no override
    monkeypatch.delenv("MXFP8_DISABLED_KERNELS")
    assert select_kernel(CONFIG, capability=(9, 0), registry=registry).name == "gpu"


def test_disabled_argument_reason_names_the_argument(registry):
    selection = select_kernel(CONFIG, capability=(9, 0), disabled="gpu", registry=registry)
    assert next(c for c in selection.candidates if c.name == "gpu").reasons == ("disabled by disabled=",)
    # the command line names its options; a selection cached under those names is not
    # handed to a caller of the Python API, nor the other way round
    with argument_names("--kernels", "--disabled"):
        named = select_kernel(CONFIG, capability=(9, 0), disabled="gpu", registry=registry)
        with pytest.raises(UnknownKernelError, match=r"^--kernels names unknown kernel\(s\) 'nope'"):
            select_kernel(CONFIG, kernels="nope", registry=registry)
        with pytest.raises(ValueError, match=r"^--kernels names no kernel; leave it out for no override$"):
            select_kernel(CONFIG, kernels=",", registry=registry)
    assert next(c for c in named.candidates if c.name == "gpu").reasons == ("disabled by --disabled",)
    again = select_kernel(CONFIG, capability=(9, 0), disabled="gpu", registry=registry)
    assert again is selection
    for bad in ((None, "--disabled"), ("--kernels", ""), ("--kernels", 5)):
        with pytest.raises(TypeError, match="argument_names needs two non-empty strings"):
            with argument_names(*bad):
                pass


@pytest.mark.parametrize(
    "kwargs, env, match",
    [
        ({"kernels": ["nope"]}, {}, r"kernels= names unknown kernel\(s\) 'nope'; known kernels: anywhere, fast, gpu"),
        ({"disabled": "gpu,zzz"}, {}, r"disabled= names unknown kernel\(s\) 'zzz'"),
        ({}, {"MXFP8_KERNELS": "marlin"}, r"MXFP8_KERNELS names unknown kernel\(s\) 'marlin'"),
        ({}, {"MXFP8_DISABLED_KERNELS": "x"}, r"MXFP8_DISABLED_KERNELS names unknown kernel\(s\) 'x'"),
    ],
)
def test_unknown_names_are_errors_listing_known_kernels(registry, monkeypatch, kwargs, env, match):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(UnknownKernelError, match=match):
        select_kernel(CONFIG, registry=registry, **kwargs)


def test_bad_override_values(registry, monkeypatch):
    with pytest.raises(ValueError, match=r"both forced \(kernels=\) and disabled \(disabled=\)"):
        select_kernel(CONFIG, kernels=["gpu"], disabled=["gpu"], registry=registry)
    monkeypatch.setenv("MXFP8_DISABLED_KERNELS", "gpu")
    with pytest.raises(ValueError, match=r"gpu are both forced \(kernels=\) and disabled \(MXFP8_DISABLED_KERNELS\)"):
        select_kernel(CONFIG, kernels="gpu", registry=registry)
    monkeypatch.delenv("MXFP8_DISABLED_KERNELS")
    with pytest.raises(ValueError, match="kernels= names no kernel"):
        select_kernel(CONFIG, kernels=[], registry=registry)
    # unhashable or not a sequence: the message, not the cache's TypeError
    for bad in ([1], 5, ["gpu", ["fast"]], {"gpu": 1}):
        with pytest.raises(TypeError, match=r"kernels=: expected kernel names \(a string or a sequence of strings\)"):
            select_kernel(CONFIG, kernels=bad, registry=registry)
    with pytest.raises(TypeError, match="disabled=: expected kernel names"):
        select_kernel(CONFIG, disabled=[None], registry=registry)
    for config in ((256, 128), {"in_features": 256, "out_features": 128}):
        with pytest.raises(TypeError, match="needs an Mxfp8LinearLayerConfig"):
            select_kernel(config, registry=registry)


def test_misbehaving_checks_become_reasons_not_crashes():
    class Raises(make_kernel("raises", 900)):
        @classmethod
        def is_supported(cls, capability=None):
            raise RuntimeError("probe exploded")

    class Garbage(make_kernel("garbage", 800)):
        @classmethod
        def can_implement(cls, config):
            return "sure"

    class OldStyle(make_kernel("old_style", 700)):
        @classmethod
        def can_implement(cls, config):
            return False, "tuple answers are accepted"

    selection = select_kernel(CONFIG, capability="cpu", registry=registry_with(Raises, Garbage, OldStyle, ANY))
    assert selection.name == "anywhere"
    reasons = {c.name: c.reasons for c in selection.candidates}
    assert reasons["raises"] == ("is_supported raised RuntimeError: probe exploded",)
    assert reasons["garbage"] == ("can_implement returned 'sure', not a Support or an (ok, reason) pair",)
    assert reasons["old_style"] == ("tuple answers are accepted",)


def test_no_usable_kernel_lists_every_candidate():
    registry = registry_with(FAST, GPU)
    with pytest.raises(NoKernelAvailable) as info:
        select_kernel(CONFIG, capability="cpu", registry=registry)
    text = str(info.value)
    assert text.startswith("no installed kernel can run this layer")
    assert "rejected      fast" in text and "rejected      gpu" in text
    assert text.count("needs an NVIDIA CUDA GPU; the target is CPU") == 2
    assert info.value.target == mxfp8_core.resolve_target("cpu")


def test_explanation_object_text_and_json(registry):
    selection = select_kernel(CONFIG, capability="sm_90", registry=registry, disabled=["tie_b"])
    text = selection.explain()
    assert text.splitlines()[0] == "MXFP8 kernel selection for K=256 N=128 act=bf16 out=bf16 bias=no on CUDA sm_90"
    assert "overrides: disabled: tie_b" in text
    assert "  selected      gpu" in text and "plugin test" in text
    data = json.loads(selection.to_json())
    assert data["selected"] == "gpu"
    assert data["target"] == {"kind": "cuda", "capability": [9, 0], "name": "CUDA sm_90"}
    assert data["config"]["in_features"] == 256 and data["config"]["act_dtype"] == "bf16"
    assert data["overrides"] == {"kernels": None, "disabled": ["tie_b"]}
    assert [c["name"] for c in data["candidates"]] == ["fast", "gpu", "tie_a", "anywhere", "tie_b"]
    assert data["candidates"][0]["reasons"] == ["needs compute capability >= 10.0; the target is 9.0"]


def test_selection_is_cached_per_inputs_and_invalidated_by_plugins(registry, monkeypatch):
    first = select_kernel(CONFIG, capability=(9, 0), registry=registry)
    assert select_kernel(Mxfp8LinearLayerConfig(256, 128), capability=(9, 0), registry=registry) is first
    assert select_kernel(CONFIG, capability=(10, 0), registry=registry) is not first
    monkeypatch.setenv("MXFP8_DISABLED_KERNELS", "gpu")
    assert select_kernel(CONFIG, capability=(9, 0), registry=registry).name == "tie_a"
    monkeypatch.delenv("MXFP8_DISABLED_KERNELS")
    assert select_kernel(CONFIG, capability=(9, 0), registry=registry) is first
    registry.register(types.SimpleNamespace(mxfp8_core_kernels=hookimpl(lambda: [make_kernel("newer", 250)])),
                      name="later")
    assert select_kernel(CONFIG, capability=(9, 0), registry=registry).name == "newer"
    again = select_kernel(CONFIG, capability=(9, 0), registry=registry)
    mxfp8_core.clear_selection_cache()
    assert select_kernel(CONFIG, capability=(9, 0), registry=registry) is not again


def test_cache_never_serves_a_registry_another_ones_selection():
    registry = registry_with(ANY)
    assert select_kernel(CONFIG, capability="cpu", registry=registry).name == "anywhere"
    # Running __init__ again makes a new registry at the old one's address, as CPython does
    # when it reuses a freed registry's memory: same id(), and the same generation below.
    generation = registry.generation
    registry.__init__(autoload=False)
    registry.register(types.SimpleNamespace(mxfp8_core_kernels=hookimpl(lambda: [])), name="nothing")
    assert registry.generation == generation
    with pytest.raises(NoKernelAvailable, match="no MXFP8 kernel is installed"):
        select_kernel(CONFIG, capability="cpu", registry=registry)


def test_override_values_are_checked_whatever_is_cached(registry):
    assert select_kernel(CONFIG, kernels=["anywhere"], registry=registry).name == "anywhere"
    # A set or a generator has the same items as the cached list, but is no sequence of names.
    for bad in ({"anywhere"}, (name for name in ["anywhere"])):
        with pytest.raises(TypeError, match=r"kernels=: expected kernel names \(a string or a sequence of strings\)"):
            select_kernel(CONFIG, kernels=bad, registry=registry)


def test_every_process_makes_the_same_choice():
    code = (
        "import mxfp8_core, torch; c = mxfp8_core.Mxfp8LinearLayerConfig(4096, 4096); "
        "print(mxfp8_core.select_kernel(c, capability=(9, 0)).to_json(sort_keys=True))"
    )
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            for _ in range(2)}
    assert len(outs) == 1


def test_capability_argument_forms(registry):
    for cap in [(9, 0), "9.0", "sm_90", "90", mxfp8_core.Target("cuda", (9, 0))]:
        assert select_kernel(CONFIG, capability=cap, registry=registry).name == "gpu", cap
    with pytest.raises(ValueError, match="capability must be"):
        select_kernel(CONFIG, capability=9.0, registry=registry)


def test_support_tuple_shape_matches_vllm():
    ok, reason = GPU.is_supported((7, 5))
    assert (ok, reason) == (False, "needs compute capability >= 8.0; the target is 7.5")
    assert tuple(GPU.is_supported((8, 6))) == (True, None)
    assert isinstance(GPU.can_implement(CONFIG), Support)
