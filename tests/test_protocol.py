"""Support, the layer config, targets and the kernel base class."""

from __future__ import annotations

import dataclasses
import json
import re
import types

import pytest
import torch

from mxfp8_core.config import Mxfp8LinearLayerConfig
from mxfp8_core.discovery import PluginRegistry
from mxfp8_core.errors import KernelContractError, Mxfp8Error
from mxfp8_core.format import quantize_mxfp8
from mxfp8_core.hookspecs import hookimpl
from mxfp8_core.kernel import PROCESSED_ATTR, Mxfp8LinearKernel, check_kernel_class, check_layer_weights
from mxfp8_core.platform import Target, current_target, resolve_target
from mxfp8_core.selection import select_kernel
from mxfp8_core.support import Support


# =========================================================================== Support
def test_support_yes():
    s = Support.yes()
    ok, reason = s
    assert ok is True and reason is None
    assert bool(s) is True and s.ok and s.reasons == () and s.reason is None


def test_support_no_several_reasons():
    s = Support.no("needs sm_100", "K too small")
    ok, reason = s
    assert ok is False and bool(s) is False
    assert s.reasons == ("needs sm_100", "K too small")
    assert reason == s.reason == "needs sm_100; K too small"
    assert not s


def test_support_from_reasons():
    assert Support.from_reasons([]) == Support.yes() and Support.from_reasons(()).ok
    s = Support.from_reasons(["a", "b", "c"])
    assert not s and s.reasons == ("a", "b", "c") and isinstance(s.reasons, tuple)
    hash(s)  # frozen and hashable


def test_support_invariants():
    with pytest.raises(ValueError):
        Support.no()
    with pytest.raises(ValueError):
        Support(True, ("why",))
    with pytest.raises(ValueError):
        Support(False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        Support.yes().ok = False
    assert Support.no("x") == Support(False, ("x",))
    assert Support.no("x") != Support.no("y")


# =========================================================================== config
def test_config_defaults_and_out_dtype():
    c = Mxfp8LinearLayerConfig(64, 128)
    assert c.act_dtype == torch.bfloat16 and c.out_dtype == torch.bfloat16
    assert c.has_bias is False and c.bmm_batch_size is None
    c16 = Mxfp8LinearLayerConfig(64, 128, act_dtype=torch.float16)
    assert c16.out_dtype == torch.float16
    cx = Mxfp8LinearLayerConfig(64, 128, act_dtype=torch.float16, out_dtype=torch.float32)
    assert cx.act_dtype == torch.float16 and cx.out_dtype == torch.float32


@pytest.mark.parametrize("value", [0, -32, 32.0, True, "64", None])
@pytest.mark.parametrize("field", ["in_features", "out_features"])
def test_config_rejects_bad_features(field, value):
    kwargs = {"in_features": 64, "out_features": 128, field: value}
    with pytest.raises(ValueError, match=field):
        Mxfp8LinearLayerConfig(**kwargs)


@pytest.mark.parametrize("k", [1, 31, 48, 100])
def test_config_in_features_multiple_of_32(k):
    with pytest.raises(ValueError, match="32"):
        Mxfp8LinearLayerConfig(k, 128)


def test_config_out_features_any_positive():
    for n in (1, 3, 7, 129):
        assert Mxfp8LinearLayerConfig(32, n).out_features == n


@pytest.mark.parametrize("dtype", [torch.float64, torch.int8, torch.float8_e4m3fn, "bfloat16", None])
def test_config_rejects_bad_act_dtype(dtype):
    with pytest.raises(TypeError, match="act_dtype"):
        Mxfp8LinearLayerConfig(64, 128, act_dtype=dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.int32, torch.float8_e4m3fn, "fp16"])
def test_config_rejects_bad_out_dtype(dtype):
    with pytest.raises(TypeError, match="out_dtype"):
        Mxfp8LinearLayerConfig(64, 128, out_dtype=dtype)


@pytest.mark.parametrize("value", [1, 0, None, "yes"])
def test_config_rejects_non_bool_bias(value):
    with pytest.raises(TypeError, match="has_bias"):
        Mxfp8LinearLayerConfig(64, 128, has_bias=value)


@pytest.mark.parametrize("value", [0, -1, True, 2.0, "4"])
def test_config_rejects_bad_bmm(value):
    with pytest.raises(ValueError, match="bmm_batch_size"):
        Mxfp8LinearLayerConfig(64, 128, bmm_batch_size=value)


def test_config_hashable_and_frozen():
    a = Mxfp8LinearLayerConfig(64, 128, has_bias=True)
    b = Mxfp8LinearLayerConfig(64, 128, act_dtype=torch.bfloat16, out_dtype=torch.bfloat16, has_bias=True)
    assert a == b and hash(a) == hash(b)
    assert len({a, b, Mxfp8LinearLayerConfig(64, 256)}) == 2
    assert {a: 1}[b] == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.in_features = 128
    assert a != Mxfp8LinearLayerConfig(64, 128, has_bias=False)


def test_config_describe_and_to_dict():
    c = Mxfp8LinearLayerConfig(64, 128, act_dtype=torch.bfloat16, out_dtype=torch.float16, has_bias=True)
    assert c.describe() == "K=64 N=128 act=bf16 out=fp16 bias=yes"
    assert c.to_dict() == {
        "in_features": 64,
        "out_features": 128,
        "act_dtype": "bf16",
        "out_dtype": "fp16",
        "has_bias": True,
        "bmm_batch_size": None,
    }
    b = Mxfp8LinearLayerConfig(32, 8, act_dtype=torch.float32, bmm_batch_size=4)
    assert b.describe() == "K=32 N=8 act=fp32 out=fp32 bias=no bmm=4"
    assert json.loads(json.dumps(b.to_dict()))["bmm_batch_size"] == 4


# =========================================================================== targets
def test_resolve_target_none_is_current_device():
    t = resolve_target(None)
    if torch.cuda.is_available():
        assert t == Target("cuda", torch.cuda.get_device_capability())
        return
    assert t == Target("cpu") and t.kind == "cpu" and t.capability is None
    assert resolve_target() == t and str(t) == "CPU"


def test_a_device_of_another_kind_is_its_own_target_not_the_cpu():
    meta = current_target("meta")
    assert meta == Target("meta") and str(meta) == "meta"
    assert RecordingKernel.is_supported(meta).reasons == ("needs the CPU or an NVIDIA CUDA GPU; the target is meta",)


@pytest.mark.parametrize(
    "value,expected",
    [
        ((9, 0), (9, 0)),
        ((10, 0), (10, 0)),
        ((8, 9), (8, 9)),
        ("9.0", (9, 0)),
        ("sm_90", (9, 0)),
        ("10.0", (10, 0)),
        ("sm_100", (10, 0)),
        ("sm_120", (12, 0)),
        ("8.6", (8, 6)),
        ("sm86", (8, 6)),
        (" SM_89 ", (8, 9)),
    ],
)
def test_resolve_target_cuda(value, expected):
    t = resolve_target(value)
    assert t.kind == "cuda" and t.capability == expected
    assert str(t) == f"CUDA sm_{expected[0]}{expected[1]}"
    assert t.to_dict() == {"kind": "cuda", "capability": list(expected)}


def test_resolve_target_cpu_and_passthrough():
    assert resolve_target("cpu") == Target("cpu") == resolve_target("CPU")
    assert resolve_target("cpu").to_dict() == {"kind": "cpu", "capability": None}
    t = Target("cuda", (9, 0))
    assert resolve_target(t) is t


@pytest.mark.parametrize(
    "value",
    # The word "gpu" gets its own id: the root conftest skips items whose keywords hold "gpu".
    ["", pytest.param("gpu", id="unknown_word"), "sm_", "9.0.1", "9.x", "sm_90a", "cuda", (9,), (9, 0, 0), (9, -1), (True, 0), (9.0, 0), [9, 0], 9.0, 90],
)
def test_resolve_target_invalid(value):
    with pytest.raises(ValueError):
        resolve_target(value)


@pytest.mark.parametrize("value,meant", [("10", "10"), ("sm_12", "12"), ("sm21", "21")])
def test_a_compact_capability_below_sm_30_is_refused_with_the_dotted_spelling(value, meant):
    """"10" typed for Blackwell had silently planned for capability 1.0 ("90" is 9.0)."""
    with pytest.raises(ValueError, match=rf"no CUDA GPU has; for capability {meant}\.0 write '{meant}\.0' or 'sm_{meant}0'"):
        resolve_target(value)
    assert resolve_target(f"{meant}.0").capability == (int(meant), 0)


@pytest.mark.parametrize(
    "target, match",
    [
        (Target("cuda"), r"Target\('cuda'\) needs a \(major, minor\) capability tuple of ints, .*; got None"),
        (Target("cuda", [9, 0]), r"Target\('cuda'\) needs a \(major, minor\) capability tuple .*; got \[9, 0\]"),
        (Target("cpu", (9, 0)), r"Target\('cpu'\) takes no capability \(only 'cuda' and 'rocm' do\); got \(9, 0\)"),
        (Target("rocm", "9.4"), r"Target\('rocm'\) takes None or a \(major, minor\) tuple of ints; got '9.4'"),
        (Target("gpu"), r"Target: unknown kind 'gpu'; use 'cuda', 'cpu', 'rocm' or another torch device type"),
        (Target("cuda:0", (9, 0)), r"Target: unknown kind 'cuda:0'"),
    ],
    ids=["cuda_without_capability", "cuda_list_capability", "cpu_with_capability", "rocm_string", "unknown_word",
         "device_not_kind"],
)
def test_resolve_target_checks_a_target_passed_in(target, match):
    with pytest.raises(ValueError, match=match):
        resolve_target(target)
    for good in (Target("rocm"), Target("rocm", (9, 4)), Target("xpu"), Target("meta")):
        assert resolve_target(good) is good


# =========================================================================== kernel base
class RecordingKernel(Mxfp8LinearKernel):
    """A CUDA-only test kernel with many declared limits and a pure-PyTorch body."""

    name = "test_recording"
    priority = 10
    scheme = "w8a16"
    devices = frozenset({"cuda", "cpu"})
    min_capability = (9, 0)
    act_dtypes = frozenset({torch.bfloat16, torch.float16})
    out_dtypes = frozenset({torch.bfloat16, torch.float16, torch.float32})
    min_in_features = 64
    min_out_features = 16
    in_features_multiple = 64
    out_features_multiple = 8

    def __init__(self, config):
        super().__init__(config)
        self.prepare_calls = 0
        self.apply_calls = []

    def prepare_weights(self, weight, weight_scale):
        self.prepare_calls += 1
        return {"weight": weight.view(torch.uint8).clone(), "weight_scale": weight_scale.clone(), "extra": torch.ones(1)}

    def apply_2d(self, layer, x, bias):
        self.apply_calls.append(tuple(x.shape))
        return torch.zeros(x.shape[0], self.config.out_features, dtype=self.config.out_dtype)


class StrictKernel(RecordingKernel):
    name = "test_strict"
    devices = frozenset({"cuda"})
    min_capability = (10, 0)
    capabilities = frozenset({(10, 0), (10, 3)})
    act_dtypes = frozenset({torch.bfloat16})
    out_dtypes = frozenset({torch.bfloat16})
    min_in_features = 256
    min_out_features = 128
    in_features_multiple = 128
    out_features_multiple = 128
    supports_bias = False
    supports_bmm = False

    @classmethod
    def extra_platform_reasons(cls, target):
        return ["library libfake is not installed"]

    @classmethod
    def extra_config_reasons(cls, config):
        return ["fake template missing"] if config.out_features % 3 else []


class OtherKernel(RecordingKernel):
    name = "test_other"


def make_layer(config: Mxfp8LinearLayerConfig, seed: int = 0) -> torch.nn.Module:
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(config.out_features, config.in_features, generator=gen)
    data, scales = quantize_mxfp8(w)
    layer = torch.nn.Module()
    layer.weight = torch.nn.Parameter(data, requires_grad=False)
    layer.weight_scale = torch.nn.Parameter(scales, requires_grad=False)
    return layer


def processed(kernel: Mxfp8LinearKernel) -> torch.nn.Module:
    """A layer for ``kernel.config`` that ``kernel`` has processed."""
    layer = make_layer(kernel.config)
    kernel.process_weights_after_loading(layer)
    return layer


def snapshot(layer: torch.nn.Module) -> dict:
    return {
        "dict": dict(vars(layer)),
        "params": dict(layer._parameters),
        "buffers": dict(layer._buffers),
        "bytes": {k: v.detach().clone() for k, v in layer._parameters.items()},
    }


def assert_unchanged(layer: torch.nn.Module, before: dict) -> None:
    assert dict(layer._parameters).keys() == before["params"].keys()
    for k, v in before["params"].items():
        assert layer._parameters[k] is v, f"{k} was replaced"
        assert torch.equal(v.view(torch.uint8), before["bytes"][k].view(torch.uint8)), f"{k} was modified"
    assert dict(layer._buffers) == before["buffers"]
    assert vars(layer).keys() == before["dict"].keys()
    assert not hasattr(layer, PROCESSED_ATTR)


# ----------------------------------------------------------------- support checks
def test_is_supported_honours_capability():
    assert RecordingKernel.is_supported((9, 0)) == Support.yes()
    assert RecordingKernel.is_supported("sm_100").ok
    assert RecordingKernel.is_supported("cpu").ok
    assert RecordingKernel.is_supported(None).ok  # the CPU here
    s = RecordingKernel.is_supported((8, 9))
    assert not s and s.reasons == ("needs compute capability >= 9.0; the target is 8.9",)
    ok, reason = RecordingKernel.is_supported("8.0")
    assert ok is False and "9.0" in reason and "8.0" in reason


def test_is_supported_collects_every_reason():
    s = StrictKernel.is_supported((9, 0))
    assert not s
    assert len(s.reasons) == 3
    assert "sm_100" in s.reasons[0] and "sm_103" in s.reasons[0] and "sm_90" in s.reasons[0]
    assert ">= 10.0" in s.reasons[1] and "9.0" in s.reasons[1]
    assert s.reasons[2] == "library libfake is not installed"
    # Exactly on the allowlist: only the extra reason remains.
    assert StrictKernel.is_supported("sm_100").reasons == ("library libfake is not installed",)
    # Above the minimum but off the allowlist.
    r = StrictKernel.is_supported((12, 0)).reasons
    assert len(r) == 2 and "sm_120" in r[0]


def test_is_supported_wrong_device_kind():
    for cap in ("cpu",) if torch.cuda.is_available() else ("cpu", None):
        s = StrictKernel.is_supported(cap)
        assert not s
        assert "CUDA" in s.reasons[0] and "CPU" in s.reasons[0]
        assert s.reasons[-1] == "library libfake is not installed"
    s = StrictKernel.is_supported(Target("rocm", (9, 4)))
    assert not s and "ROCm" in s.reasons[0]


def test_is_supported_rejects_invalid_capability():
    with pytest.raises(ValueError):
        RecordingKernel.is_supported("not-a-gpu")


@pytest.mark.parametrize("answer", ["needs K >= 4096", None, ["ok", 3]])
def test_extra_reasons_must_be_a_list_of_strings(answer):
    class StringReasons(RecordingKernel):
        name = "test_string_reasons"

        @classmethod
        def extra_platform_reasons(cls, target):
            return answer

        @classmethod
        def extra_config_reasons(cls, config):
            return answer

    got = re.escape(repr(answer))
    for check, arg in (("is_supported", (9, 0)), ("can_implement", CONFIG)):
        hook = "extra_platform_reasons" if check == "is_supported" else "extra_config_reasons"
        with pytest.raises(KernelContractError, match=f"kernel 'test_string_reasons': {hook} must return a list "
                           rf"of strings \(empty when it has no reason\), got {got}"):
            getattr(StringReasons, check)(arg)
    # Selection reports such a kernel as rejected, with the error, and picks another.
    registry = PluginRegistry(autoload=False)
    registry.register(types.SimpleNamespace(mxfp8_core_kernels=hookimpl(lambda: [StringReasons, RecordingKernel])),
                      name="test")
    selection = select_kernel(CONFIG, capability=(9, 0), registry=registry)
    assert selection.name == "test_recording"
    reasons = {c.name: c.reasons for c in selection.candidates}["test_string_reasons"]
    assert [reason.split(" must return")[0] for reason in reasons] == [
        "is_supported raised KernelContractError: kernel 'test_string_reasons': extra_platform_reasons",
        "can_implement raised KernelContractError: kernel 'test_string_reasons': extra_config_reasons",
    ]


def test_can_implement_ok_and_single_reason():
    assert RecordingKernel.can_implement(Mxfp8LinearLayerConfig(128, 64)) == Support.yes()
    s = RecordingKernel.can_implement(Mxfp8LinearLayerConfig(96, 64))
    assert s.reasons == ("needs K (in_features) to be a multiple of 64, got 96",)


def test_can_implement_collects_every_reason():
    config = Mxfp8LinearLayerConfig(
        96, 100, act_dtype=torch.float16, out_dtype=torch.float32, has_bias=True, bmm_batch_size=2
    )
    s = StrictKernel.can_implement(config)
    assert not s
    text = s.reason
    expected_fragments = [
        "activation dtype fp16",
        "output dtype fp32",
        "K (in_features) >= 256, got 96",
        "N (out_features) >= 128, got 100",
        "K (in_features) to be a multiple of 128, got 96",
        "N (out_features) to be a multiple of 128, got 100",
        "bias",
        "bmm",
        "fake template missing",
    ]
    assert len(s.reasons) == len(expected_fragments)
    for fragment, reason in zip(expected_fragments, s.reasons):
        assert fragment in reason
    assert text == "; ".join(s.reasons)


def test_can_implement_out_dtypes_default_to_act_dtypes():
    class SameOut(RecordingKernel):
        name = "test_same_out"
        out_dtypes = None

    assert SameOut.can_implement(Mxfp8LinearLayerConfig(64, 16, act_dtype=torch.float16)).ok
    s = SameOut.can_implement(Mxfp8LinearLayerConfig(64, 16, out_dtype=torch.float32))
    assert s.reasons == ("output dtype fp32 not supported (gives bf16, fp16)",)


def test_can_implement_needs_a_config():
    with pytest.raises(TypeError):
        RecordingKernel.can_implement({"in_features": 64})


def test_kernel_constructor_checks_config():
    with pytest.raises(ValueError, match="multiple of 64"):
        RecordingKernel(Mxfp8LinearLayerConfig(96, 64))
    with pytest.raises(TypeError):
        RecordingKernel((64, 64))
    k = RecordingKernel(Mxfp8LinearLayerConfig(64, 16))
    assert "test_recording" in repr(k) and "K=64 N=16" in repr(k)


# ----------------------------------------------------------------- check_kernel_class
def test_check_kernel_class_accepts_good_kernels():
    assert check_kernel_class(RecordingKernel) is None
    assert check_kernel_class(StrictKernel) is None


def test_check_kernel_class_rejects_non_kernels():
    assert "not a subclass" in check_kernel_class(object)
    assert "not a subclass" in check_kernel_class(RecordingKernel(Mxfp8LinearLayerConfig(64, 16)))
    assert "not a subclass" in check_kernel_class("test_recording")


@pytest.mark.parametrize("name", ["Bad", "1abc", "has-dash", "has space", "", None, 5, "_x"])
def test_check_kernel_class_bad_name(name):
    cls = type("BadName", (RecordingKernel,), {"name": name})
    problem = check_kernel_class(cls)
    assert problem is not None and "name" in problem and "BadName" in problem


def test_check_kernel_class_name_with_trailing_newline():
    cls = type("NewlineName", (RecordingKernel,), {"name": "emul\n"})
    assert check_kernel_class(cls) is not None


@pytest.mark.parametrize("priority", [True, "10", 1.5, None])
def test_check_kernel_class_bad_priority(priority):
    cls = type("BadPriority", (RecordingKernel,), {"priority": priority})
    problem = check_kernel_class(cls)
    assert problem is not None and "priority" in problem


@pytest.mark.parametrize("scheme", ["fp8", "W8A8", None])
def test_check_kernel_class_bad_scheme(scheme):
    cls = type("BadScheme", (RecordingKernel,), {"scheme": scheme})
    problem = check_kernel_class(cls)
    assert problem is not None and "scheme" in problem


def test_check_kernel_class_abstract_and_several_problems():
    class Abstract(Mxfp8LinearKernel):
        name = "Bad Name"
        scheme = "w8a8"

        def prepare_weights(self, weight, weight_scale):
            return {}

    problem = check_kernel_class(Abstract)
    assert "apply_2d" in problem and "prepare_weights" not in problem
    assert "name" in problem and "priority" in problem and "scheme" not in problem
    assert check_kernel_class(Mxfp8LinearKernel) is not None


def test_check_kernel_class_missing_attributes():
    class Bare(Mxfp8LinearKernel):
        def prepare_weights(self, weight, weight_scale):
            return {}

        def apply_2d(self, layer, x, bias):
            return x

    problem = check_kernel_class(Bare)
    assert "name" in problem and "priority" in problem and "scheme" in problem


# ----------------------------------------------------------------- process_weights_after_loading
CONFIG = Mxfp8LinearLayerConfig(128, 32)


def test_process_weights_installs_and_marks():
    layer = make_layer(CONFIG)
    w0 = layer.weight.detach().clone()
    kernel = RecordingKernel(CONFIG)
    kernel.process_weights_after_loading(layer)
    assert kernel.prepare_calls == 1
    assert layer.weight.dtype == torch.uint8 and torch.equal(layer.weight, w0.view(torch.uint8))
    assert isinstance(layer.weight, torch.nn.Parameter) and not layer.weight.requires_grad
    assert isinstance(layer.extra, torch.nn.Parameter)
    assert getattr(layer, PROCESSED_ATTR) == "test_recording"
    # The marker is bookkeeping, not state.
    assert PROCESSED_ATTR not in layer.state_dict()


def test_process_weights_keeps_buffers_as_buffers_and_removes_none():
    class Removing(RecordingKernel):
        name = "test_removing"

        def prepare_weights(self, weight, weight_scale):
            return {"weight": weight.clone(), "weight_scale": None}

    layer = make_layer(CONFIG)
    scales = layer.weight_scale.detach()
    del layer.weight_scale
    layer.register_buffer("weight_scale", scales.clone())
    layer.register_buffer("weight_t", None)
    w = layer.weight.detach()
    del layer.weight
    layer.register_buffer("weight", w)
    Removing(CONFIG).process_weights_after_loading(layer)
    assert "weight" in layer._buffers and layer.weight is not w
    assert not hasattr(layer, "weight_scale")


def test_process_weights_on_plain_object():
    data, scales = quantize_mxfp8(torch.randn(32, 128))
    layer = types.SimpleNamespace(weight=data, weight_scale=scales)
    RecordingKernel(CONFIG).process_weights_after_loading(layer)
    assert layer.weight.dtype == torch.uint8 and layer.mxfp8_processed_by == "test_recording"


def _bad_layers():
    cases = {}
    layer = make_layer(CONFIG)
    layer.weight = torch.nn.Parameter(layer.weight.detach().to(torch.bfloat16), requires_grad=False)
    cases["weight dtype"] = (layer, "layer.weight")
    layer = make_layer(Mxfp8LinearLayerConfig(128, 64))  # N = 64, not 32
    cases["weight shape"] = (layer, "layer.weight")
    layer = make_layer(CONFIG)
    layer.weight_scale = torch.nn.Parameter(layer.weight_scale.detach().to(torch.int32), requires_grad=False)
    cases["scale dtype"] = (layer, "layer.weight_scale")
    layer = make_layer(CONFIG)
    layer.weight_scale = torch.nn.Parameter(layer.weight_scale.detach()[:, :3].clone(), requires_grad=False)
    cases["scale shape"] = (layer, "layer.weight_scale")
    layer = make_layer(CONFIG)
    del layer.weight
    cases["missing weight"] = (layer, "layer.weight")
    layer = make_layer(CONFIG)
    with torch.no_grad():
        layer.weight_scale[5, 2] = 0xFF
        layer.weight_scale[9, 0] = 0xFF
    cases["nan scale"] = (layer, r"0xFF.*2 row\(s\), first row 5")
    return cases


@pytest.mark.parametrize("case", list(_bad_layers()))
def test_process_weights_validates_before_changing_anything(case):
    layer, pattern = _bad_layers()[case]
    before = snapshot(layer)
    kernel = RecordingKernel(CONFIG)
    with pytest.raises(ValueError, match=pattern):
        kernel.process_weights_after_loading(layer)
    assert kernel.prepare_calls == 0
    assert_unchanged(layer, before)


def test_check_layer_weights_returns_the_tensors():
    layer = make_layer(CONFIG)
    w, s = check_layer_weights(layer, CONFIG)
    assert w is layer.weight and s is layer.weight_scale
    with pytest.raises(ValueError, match=r"layer.weight must .* \(64, 128\), got .* \(32, 128\)"):
        check_layer_weights(layer, Mxfp8LinearLayerConfig(128, 32 * 2))
    with pytest.raises(ValueError, match="layer.weight"):
        check_layer_weights(types.SimpleNamespace(), CONFIG)


class RaisingKernel(RecordingKernel):
    name = "test_raising"

    def prepare_weights(self, weight, weight_scale):
        self.prepare_calls += 1
        raise RuntimeError("out of memory while repacking")


def test_process_weights_atomic_when_prepare_raises():
    layer = make_layer(CONFIG)
    before = snapshot(layer)
    with pytest.raises(RuntimeError, match="repacking"):
        RaisingKernel(CONFIG).process_weights_after_loading(layer)
    assert_unchanged(layer, before)
    # Not marked: a working kernel may still process the layer afterwards.
    RecordingKernel(CONFIG).process_weights_after_loading(layer)
    assert layer.mxfp8_processed_by == "test_recording"


@pytest.mark.parametrize(
    "result",
    [
        None,
        [("weight", torch.zeros(1))],
        {"weight": torch.zeros(1), "weight_scale": 3},
        {"weight": torch.zeros(1), 5: torch.zeros(1)},
    ],
)
def test_process_weights_contract_error_leaves_layer_unchanged(result):
    class BadResult(RecordingKernel):
        name = "test_bad_result"

        def prepare_weights(self, weight, weight_scale):
            return result

    layer = make_layer(CONFIG)
    before = snapshot(layer)
    with pytest.raises(KernelContractError, match="prepare_weights"):
        BadResult(CONFIG).process_weights_after_loading(layer)
    assert_unchanged(layer, before)
    assert issubclass(KernelContractError, Mxfp8Error)


def test_process_weights_atomic_when_install_fails():
    class DottedKey(RecordingKernel):
        name = "test_dotted_key"

        def prepare_weights(self, weight, weight_scale):
            return {"weight": weight.view(torch.uint8).clone(), "packed.weight": torch.zeros(1)}

    layer = make_layer(CONFIG)
    before = snapshot(layer)
    with pytest.raises(KernelContractError, match="key 'packed.weight': not a valid attribute name"):
        DottedKey(CONFIG).process_weights_after_loading(layer)
    assert_unchanged(layer, before)


@pytest.mark.parametrize("key", ["weight_t", "forward", "dump_patches"])
def test_process_weights_refuses_a_key_the_layer_class_defines_and_leaves_the_layer(key):
    """A key that names a property, a method or a class attribute of the layer would fail to
    install (or hide it) after the keys before it were installed."""

    class WithProperty(type(make_layer(CONFIG))):
        @property
        def weight_t(self):
            return self.weight.t()

    class Both(RecordingKernel):
        name = "test_both"

        def prepare_weights(self, weight, weight_scale):
            return {"weight": weight.view(torch.uint8).clone(), key: torch.zeros(1)}

    layer = make_layer(CONFIG)
    layer.__class__ = WithProperty
    before = snapshot(layer)
    with pytest.raises(KernelContractError, match=f"key {key!r}: the layer's class WithProperty defines {key!r}"):
        Both(CONFIG).process_weights_after_loading(layer)
    assert_unchanged(layer, before)


def test_process_weights_idempotent_for_same_kernel():
    layer = make_layer(CONFIG)
    kernel = RecordingKernel(CONFIG)
    kernel.process_weights_after_loading(layer)
    after = snapshot(layer)
    del after["dict"]
    kernel.process_weights_after_loading(layer)
    RecordingKernel(CONFIG).process_weights_after_loading(layer)  # another instance, same kernel
    assert kernel.prepare_calls == 1
    for k, v in after["params"].items():
        assert layer._parameters[k] is v


def test_process_weights_refuses_a_different_kernel():
    layer = make_layer(CONFIG)
    RecordingKernel(CONFIG).process_weights_after_loading(layer)
    processed = dict(layer._parameters)
    other = OtherKernel(CONFIG)
    advice = "load the checkpoint into a new layer to process it for 'test_other'"
    with pytest.raises(RuntimeError, match=f"already processed by kernel 'test_recording'; {advice}"):
        other.process_weights_after_loading(layer)
    assert other.prepare_calls == 0
    assert all(layer._parameters[k] is v for k, v in processed.items())
    assert layer.mxfp8_processed_by == "test_recording"
    # The advice works (reloading the checkpoint into the same layer would not).
    fresh = make_layer(CONFIG)
    other.process_weights_after_loading(fresh)
    assert fresh.mxfp8_processed_by == "test_other"


# ----------------------------------------------------------------- apply_weights
@pytest.mark.parametrize(
    "shape,expected_2d",
    [((5, 128), (5, 128)), ((128,), (1, 128)), ((2, 3, 128), (6, 128)), ((2, 1, 4, 128), (8, 128))],
)
def test_apply_weights_shapes(shape, expected_2d):
    config = Mxfp8LinearLayerConfig(128, 32, out_dtype=torch.float32)
    kernel = RecordingKernel(config)
    layer = make_layer(config)
    kernel.process_weights_after_loading(layer)
    y = kernel.apply_weights(layer, torch.randn(shape).to(torch.bfloat16))
    assert y.shape == (*shape[:-1], 32) and y.dtype == torch.float32
    assert kernel.apply_calls == [expected_2d]


def test_apply_weights_needs_the_layer_processed_by_this_kernel():
    config = Mxfp8LinearLayerConfig(128, 32)
    kernel, layer = RecordingKernel(config), make_layer(config)
    x = torch.zeros(2, 128, dtype=torch.bfloat16)
    for rows in (2, 0):  # even with no rows to compute
        with pytest.raises(RuntimeError, match=r"kernel 'test_recording': the layer's weights were not processed; "
                                               r"call process_weights_after_loading\(layer\) with this kernel"):
            kernel.apply_weights(layer, x[:rows])

    class Other(RecordingKernel):
        name = "test_other"

    Other(config).process_weights_after_loading(layer)
    with pytest.raises(RuntimeError, match=r"the layer's weights were processed by 'test_other'"):
        kernel.apply_weights(layer, x)
    assert kernel.apply_calls == []


def test_an_overriding_process_method_marks_the_layer_with_mark_processed():
    config = Mxfp8LinearLayerConfig(128, 32)

    class OwnProcess(RecordingKernel):
        name = "test_own_process"

        def process_weights_after_loading(self, layer):
            layer.extra = torch.nn.Parameter(torch.ones(1), requires_grad=False)
            self.mark_processed(layer)

    kernel, layer = OwnProcess(config), make_layer(config)
    kernel.process_weights_after_loading(layer)
    assert getattr(layer, PROCESSED_ATTR) == "test_own_process" and PROCESSED_ATTR not in layer.state_dict()
    assert kernel.apply_weights(layer, torch.zeros(2, 128, dtype=torch.bfloat16)).shape == (2, 32)


@pytest.mark.parametrize("shape", [(0, 128), (2, 0, 128), (0, 0, 128)])
def test_apply_weights_empty_m_skips_the_kernel(shape):
    config = Mxfp8LinearLayerConfig(128, 32, act_dtype=torch.float16)
    kernel = RecordingKernel(config)
    y = kernel.apply_weights(processed(kernel), torch.empty(shape, dtype=torch.float16))
    assert y.shape == (*shape[:-1], 32) and y.dtype == torch.float16
    assert kernel.apply_calls == []


def test_apply_weights_non_contiguous_input():
    config = Mxfp8LinearLayerConfig(128, 32, has_bias=True)
    seen = []

    class Echo(RecordingKernel):
        name = "test_echo"

        def apply_2d(self, layer, x, bias):
            seen.append(x.clone())
            return x[:, :32].to(self.config.out_dtype) + (0 if bias is None else bias)

    x = torch.randn(128, 3, 4).to(torch.bfloat16).permute(1, 2, 0)  # [3, 4, 128], not contiguous
    bias = torch.ones(32, dtype=torch.bfloat16)
    echo = Echo(config)
    y = echo.apply_weights(processed(echo), x, bias)
    assert torch.equal(seen[0], x.reshape(12, 128))
    assert torch.equal(y, x[..., :32] + 1)


@pytest.mark.parametrize(
    "x",
    [
        torch.zeros(4, 128, dtype=torch.float16),
        torch.zeros(4, 128, dtype=torch.float32),
        torch.zeros(4, 96, dtype=torch.bfloat16),
        torch.zeros(4, 128, 1, dtype=torch.bfloat16),
        torch.zeros((), dtype=torch.bfloat16),
    ],
)
def test_apply_weights_rejects_wrong_input(x):
    config = Mxfp8LinearLayerConfig(128, 32)
    kernel = RecordingKernel(config)
    with pytest.raises(ValueError, match=r"expects input \[\.\.\., 128\] in torch.bfloat16") as info:
        kernel.apply_weights(processed(kernel), x)
    assert str(tuple(x.shape)) in str(info.value) and str(x.dtype) in str(info.value)
    assert kernel.apply_calls == []


BF16, FP16 = torch.bfloat16, torch.float16
BIAS_DTYPES = r"bias must be \[32\] in torch.bfloat16 \(the output or activation dtype\), got"


@pytest.mark.parametrize(
    "has_bias,out,bias,message",
    [
        (False, BF16, torch.zeros(32, dtype=BF16), r"got a bias, but the layer config has has_bias=False"),
        (True, BF16, torch.zeros(1, dtype=BF16), BIAS_DTYPES + r" .*shape \(1,\)"),
        (True, BF16, torch.zeros(2, 32, dtype=BF16), BIAS_DTYPES + r" .*shape \(2, 32\)"),
        (True, BF16, torch.zeros(32), BIAS_DTYPES + r" a torch.float32 tensor"),
        (True, BF16, [0.0] * 32, BIAS_DTYPES + r" list"),
        (True, FP16, torch.zeros(32), r"in torch.bfloat16 or torch.float16 \(the output or activation dtype\)"),
        (True, BF16, torch.zeros(32, dtype=BF16, device="meta"), r"bias is on meta but the input is on cpu"),
    ],
)
def test_apply_weights_rejects_a_bias_that_does_not_fit_the_config(has_bias, out, bias, message):
    config = Mxfp8LinearLayerConfig(128, 32, BF16, out, has_bias=has_bias)
    kernel = RecordingKernel(config)
    with pytest.raises(ValueError, match=message):
        kernel.apply_weights(processed(kernel), torch.zeros(4, 128, dtype=torch.bfloat16), bias)
    assert kernel.apply_calls == []


@pytest.mark.parametrize(
    "bad_output",
    [
        lambda m, n: torch.zeros(m, n + 1, dtype=torch.bfloat16),
        lambda m, n: torch.zeros(m + 1, n, dtype=torch.bfloat16),
        lambda m, n: torch.zeros(m * n, dtype=torch.bfloat16),
        lambda m, n: torch.zeros(m, n, dtype=torch.float32),
        lambda m, n: None,
        lambda m, n: [[0.0] * n] * m,
    ],
)
def test_apply_weights_contract_error(bad_output):
    config = Mxfp8LinearLayerConfig(128, 32)

    class Broken(RecordingKernel):
        name = "test_broken"

        def apply_2d(self, layer, x, bias):
            return bad_output(x.shape[0], self.config.out_features)

    with pytest.raises(KernelContractError, match=r"test_broken.*expected \[6, 32\] in torch.bfloat16"):
        broken = Broken(config)
        broken.apply_weights(processed(broken), torch.zeros(2, 3, 128, dtype=torch.bfloat16))


def test_tolerance_adds_activation_quantization_for_w8a8():
    config = Mxfp8LinearLayerConfig(128, 32)
    w8a8 = type("W8A8", (RecordingKernel,), {"name": "test_w8a8", "scheme": "w8a8"})
    base = RecordingKernel.tolerance(config)
    assert base == pytest.approx(2 * 2.0**-8 + 128 * 2.0**-24)
    assert w8a8.tolerance(config) > base + 0.05
    assert RecordingKernel.tolerance(Mxfp8LinearLayerConfig(128, 32, out_dtype=torch.float32)) < base


def test_tolerance_answers_for_the_class_and_for_an_instance_with_its_options():
    from mxfp8_core.kernel import hybridmethod

    class Options(RecordingKernel):
        def __init__(self, config, *, loose=False):
            super().__init__(config)
            self.loose = loose

        @hybridmethod
        def tolerance(self_or_cls, config):
            extra = 0.5 if getattr(self_or_cls, "loose", False) else 0.0
            return super().tolerance(config) + extra

    config = Mxfp8LinearLayerConfig(128, 32)
    base = RecordingKernel.tolerance(config)
    assert Options.tolerance(config) == base
    assert Options(config).tolerance(config) == base
    assert Options(config, loose=True).tolerance(config) == base + 0.5
