"""The conformance kit (mxfp8_core.testing): it passes correct kernels, it catches broken
ones (each deliberately broken kernel below fails the check made for its fault), and it
runs as a function, a pytest plugin and a CLI command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from conftest_helpers import run_cli
from mxfp8_core import Mxfp8LinearKernel, Support, dequantize_mxfp8, get_registry
from mxfp8_core.kernel import check_layer_weights, hybridmethod
from mxfp8_core.platform import resolve_target
from mxfp8_core.testing import RUNTIME_CHECKS, STATIC_CHECKS, check_kernel, planned_checks

pytest_plugins = ["pytester"]

ALL_DTYPES = frozenset({torch.bfloat16, torch.float16, torch.float32})
# Kernels that run anywhere get runtime checks on the CPU, and on the GPU where there is one.
DEVICES_HERE = ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)
CHECKS_ANYWHERE = len(STATIC_CHECKS) + len(RUNTIME_CHECKS) * len(DEVICES_HERE)


# --------------------------------------------------------------------------- kernels
class GoodKernel(Mxfp8LinearKernel):
    """Correct: dequantize to float32 once, float32 GEMM, round once to out_dtype."""

    name = "conformance_good"
    priority = -100
    scheme = "emulated"
    devices = None
    act_dtypes = ALL_DTYPES
    out_dtypes = ALL_DTYPES

    def prepare_weights(self, weight, weight_scale):
        return {"good_weight": dequantize_mxfp8(weight, weight_scale, torch.float32)}

    def apply_2d(self, layer, x, bias):
        y = x.float() @ layer.good_weight.t()
        if bias is not None:
            y = y + bias.float()
        return y.to(self.config.out_dtype)


class WrongOutputDtype(GoodKernel):
    name = "broken_dtype"

    def apply_2d(self, layer, x, bias):
        y = x.float() @ layer.good_weight.t()
        return y if bias is None else y + bias.float()  # forgets .to(out_dtype)


class IgnoresBias(GoodKernel):
    name = "broken_bias"

    def apply_2d(self, layer, x, bias):
        return super().apply_2d(layer, x, None)


class MutatesInput(GoodKernel):
    name = "broken_mutates"

    def apply_2d(self, layer, x, bias):
        y = super().apply_2d(layer, x, bias)
        x.mul_(0.5)  # "scratch space": the caller's activations are gone
        return y


class NonAtomicProcessing(GoodKernel):
    name = "broken_nonatomic"

    def process_weights_after_loading(self, layer):
        if getattr(layer, "good_weight", None) is not None:
            return
        # Installs a repacked tensor before the rest is computed: a failure later leaves it behind.
        layer.weight_scale_t = nn.Parameter(layer.weight_scale.t().contiguous(), requires_grad=False)
        for key, value in self.prepare_weights(layer.weight, layer.weight_scale).items():
            setattr(layer, key, nn.Parameter(value, requires_grad=False))
        self.mark_processed(layer)


class NonAtomicIntoADict(GoodKernel):
    """NonAtomicProcessing with the leftover kept in a dict attribute."""

    name = "broken_nonatomic_dict"

    def process_weights_after_loading(self, layer):
        if getattr(layer, "good_weight", None) is not None:
            return
        layer.packed = {"scale_t": layer.weight_scale.t().contiguous()}
        super().process_weights_after_loading(layer)


class DriftsHeldState(GoodKernel):
    """Keeps its weight in a dict on the layer and scales it a little at every call."""

    name = "broken_drift"

    def process_weights_after_loading(self, layer):
        super().process_weights_after_loading(layer)
        layer.state = {"w": [layer.good_weight.detach().clone()]}

    def apply_2d(self, layer, x, bias):
        y = super().apply_2d(layer, x, bias)
        layer.state["w"][0].mul_(1.0001)
        return y


class IgnoresCapability(GoodKernel):
    name = "broken_capability"
    devices = frozenset({"cuda"})
    min_capability = (8, 0)

    @classmethod
    def is_supported(cls, capability=None):
        # Looks at the current device, whatever it was asked about.
        if not torch.cuda.is_available():
            return Support.no("no CUDA GPU in this machine")
        if torch.cuda.get_device_capability() < (8, 0):
            return Support.no("needs sm_80")
        return Support.yes()


class OffByFactor(GoodKernel):
    name = "broken_factor"

    def apply_2d(self, layer, x, bias):
        return (super().apply_2d(layer, x, bias).float() * 1.05).to(self.config.out_dtype)


class CrashesOnOddN(GoodKernel):
    """can_implement accepts any N, but the kernel assumes an even N."""

    name = "broken_odd_n"

    def apply_2d(self, layer, x, bias):
        y = super().apply_2d(layer, x, bias)
        return y.view(y.shape[0], 2, -1).reshape(y.shape)


class AcceptsBeyondLimits(GoodKernel):
    name = "broken_limits"
    min_out_features = 64

    @classmethod
    def can_implement(cls, config):
        if config.bmm_batch_size is not None:
            return False, None  # a rejection without a reason
        return Support.yes()  # ignores its own declared min_out_features


class NoInputChecks(GoodKernel):
    """Overrides apply_weights and drops the base class's input checks."""

    name = "broken_inputs"

    def apply_weights(self, layer, x, bias=None):
        y = x.to(torch.float32) @ layer.good_weight.t()
        if bias is not None:
            y = y + bias.float()
        return y.to(self.config.out_dtype)


class ReprocessesEveryTime(GoodKernel):
    name = "broken_twice"

    def process_weights_after_loading(self, layer):
        weight, weight_scale = check_layer_weights(layer, self.config)  # validates, but never reads the marker
        for key, value in self.prepare_weights(weight, weight_scale).items():
            setattr(layer, key, nn.Parameter(value, requires_grad=False))
        self.mark_processed(layer)


class W8A8DecodeZeros(GoodKernel):
    """A W8A8 kernel (the loosest tolerance) whose decode path (M = 1) returns zeros for N >= 128:
    pooled with a large call of its config, the zeros hid in the quick grid."""

    name = "broken_decode"
    scheme = "w8a8"
    act_dtypes = frozenset({torch.bfloat16})
    out_dtypes = None

    def apply_2d(self, layer, x, bias):
        y = super().apply_2d(layer, x, bias)
        return torch.zeros_like(y) if x.shape[0] == 1 and y.shape[1] >= 128 else y


class UsesTheLayersBias(GoodKernel):
    """Adds the layer's bias whatever bias it is given (the kit had only ever given that one)."""

    name = "broken_layer_bias"

    def apply_2d(self, layer, x, bias):
        return super().apply_2d(layer, x, getattr(layer, "bias", None))


class DropsABiasInTheActivationDtype(GoodKernel):
    """The protocol allows a bias in the activation dtype too; the kit had only passed out_dtype."""

    name = "broken_act_bias"

    def apply_2d(self, layer, x, bias):
        return super().apply_2d(layer, x, None if bias is not None and bias.dtype != self.config.out_dtype else bias)


class ReusesItsOutput(GoodKernel):
    """Returns one buffer it writes again at every call: a caller's earlier output changes."""

    name = "broken_reused_output"

    def apply_2d(self, layer, x, bias):
        y = super().apply_2d(layer, x, bias)
        buffer = getattr(self, "_buffer", None)
        if buffer is None or buffer.shape[0] < y.shape[0] or buffer.dtype != y.dtype:
            buffer = self._buffer = torch.empty((max(y.shape[0], 1024), y.shape[1]), dtype=y.dtype)
        return buffer[: y.shape[0]].copy_(y)


class DropsThePartialTile(GoodKernel):
    """Zeroes the rows past whole 64-row tiles (the grid had had no M past 33 below 256)."""

    name = "broken_tail"

    def apply_2d(self, layer, x, bias):
        y = super().apply_2d(layer, x, bias)
        m = y.shape[0]
        if m > 64 and m % 64:
            y[m - m % 64:] = 0
        return y


class TransposesSquareWeights(GoodKernel):
    """Reads the weight transposed where that keeps the shape (no square shape had run)."""

    name = "broken_square"

    def apply_2d(self, layer, x, bias):
        w = layer.good_weight
        y = x.float() @ (w if w.shape[0] == w.shape[1] else w.t())
        return (y if bias is None else y + bias.float()).to(self.config.out_dtype)


class LooseTolerance(GoodKernel):
    name = "broken_tolerance"

    @classmethod
    def tolerance(cls, config):
        return 1.0


class InstanceIsSupported(GoodKernel):
    name = "broken_signature"

    def is_supported(self, capability=None):  # must be a classmethod
        return Support.yes()


class BadAttributes(GoodKernel):
    name = "Bad-Name"
    priority = "high"
    act_dtypes = frozenset({torch.int8})


class Abstract(Mxfp8LinearKernel):
    name = "abstract"
    priority = 0
    scheme = "emulated"


def quick(kernel_cls, **kwargs):
    return check_kernel(kernel_cls, quick=True, seed=kwargs.pop("seed", 7), **kwargs)


# --------------------------------------------------------------------------- passing kernels
def test_a_correct_kernel_passes_every_check():
    report = check_kernel(GoodKernel, seed=1)
    assert report.ok, report.format_table()
    assert report.devices == DEVICES_HERE
    assert report.names() == STATIC_CHECKS + tuple(f"{c}[{d}]" for d in DEVICES_HERE for c in RUNTIME_CHECKS)
    assert report.counts() == {"pass": len(report), "fail": 0, "skip": 0}


@pytest.mark.parametrize("weights", ["mxfp8", "dequantized"])
@pytest.mark.parametrize("activations", ["unquantized", "mxfp8"])
def test_emulation_passes_in_every_mode(weights, activations):
    emulation = pytest.importorskip("mxfp8_emulation")
    kwargs = {"weights": weights, "activations": activations}
    report = check_kernel(emulation.EmulationKernel, quick=True, kernel_kwargs=kwargs)
    assert report.ok, report.format_table()
    assert report.kernel_kwargs == kwargs


def test_an_option_that_loosens_the_instance_tolerance_fails_the_tolerance_check():
    class Sloppy(GoodKernel):
        """With mode="fast", three times the right output, under a bound that lets it pass."""

        name = "broken_option"

        def __init__(self, config, mode="exact"):
            super().__init__(config)
            self.mode = mode

        @hybridmethod
        def tolerance(self_or_cls, config):
            return 10.0 if getattr(self_or_cls, "mode", "exact") == "fast" else GoodKernel.tolerance(config)

        def apply_2d(self, layer, x, bias):
            y = super().apply_2d(layer, x, bias)
            return y * 3 if self.mode == "fast" else y

    assert check_kernel(Sloppy, quick=True).ok
    report = check_kernel(Sloppy, quick=True, kernel_kwargs={"mode": "fast"})
    assert "tolerance" in report.failed_checks
    assert "is 10.0; it must be a number in (0, 0.25]" in report["tolerance"].message


def test_emulation_weight_mode_from_the_environment(monkeypatch):
    emulation = pytest.importorskip("mxfp8_emulation")
    monkeypatch.setenv("MXFP8_EMULATION_WEIGHTS", "dequantized")
    report = check_kernel(emulation.EmulationKernel, quick=True)
    assert report.ok, report.format_table()


@pytest.mark.parametrize("entry", get_registry().kernels(), ids=lambda entry: entry.name)
def test_every_installed_kernel_passes(entry):
    """Whatever plugins are installed (CI installs every plugin of the repository and the
    example), each kernel passes; runtime checks run where it is supported."""
    report = check_kernel(entry.kernel, quick=True)
    assert report.ok, report.format_table()
    if not report.devices:
        assert report["runtime"].status == "skip" and "not supported on any device here" in report["runtime"].message


# --------------------------------------------------------------------------- broken kernels
@pytest.mark.parametrize(
    ("kernel_cls", "expected"),
    [
        (WrongOutputDtype, {"output_contract"}),
        (IgnoresBias, {"bias"}),
        (MutatesInput, {"inputs_unchanged"}),
        (OffByFactor, {"numerics", "bias"}),
        (CrashesOnOddN, {"runs_accepted"}),
        (AcceptsBeyondLimits, {"can_implement"}),
        (NoInputChecks, {"bad_inputs"}),
        (ReprocessesEveryTime, {"process_twice"}),
        (LooseTolerance, {"tolerance"}),
        (W8A8DecodeZeros, {"numerics", "bias"}),
        (InstanceIsSupported, {"method_signatures"}),
        (UsesTheLayersBias, {"bias"}),
        (DropsABiasInTheActivationDtype, {"bias"}),
        (ReusesItsOutput, {"output_contract"}),
        (DropsThePartialTile, {"numerics", "bias"}),
        (TransposesSquareWeights, {"numerics"}),  # quick: the square shape runs without a bias
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else None,
)
def test_a_broken_kernel_fails_exactly_the_check_for_its_fault(kernel_cls, expected):
    report = quick(kernel_cls)
    assert report.failed_checks == expected, report.format_table()
    assert not report.ok


def test_tensors_held_in_containers_on_the_layer_are_watched_too():
    report = quick(NonAtomicIntoADict)
    assert "process_atomic" in report.failed_checks, report.format_table()
    assert "attribute packed['scale_t'] was added" in report["process_atomic[cpu]"].message
    report = quick(DriftsHeldState)
    assert "inputs_unchanged" in report.failed_checks, report.format_table()
    assert "attribute state['w'][0] has different bytes" in report["inputs_unchanged[cpu]"].message


def test_a_report_has_no_truth_value():
    report = quick(OffByFactor)
    assert not report.ok and len(report) > 0
    with pytest.raises(TypeError, match="use report.ok"):
        assert report


def test_non_atomic_processing_is_caught():
    report = quick(NonAtomicProcessing)
    assert "process_atomic" in report.failed_checks, report.format_table()
    message = report["process_atomic[cpu]"].message
    assert "attribute weight_scale_t was added" in message or "parameter weight_scale_t was added" in message
    # It also lets a NaN scale byte through (it never validates the checkpoint).
    assert "bad_weights" in report.failed_checks


def test_ignoring_the_capability_is_caught():
    report = quick(IgnoresCapability)
    assert "honours_capability" in report.failed_checks, report.format_table()
    # On a CPU host the simulated GPUs say yes; on a GPU host the simulated "no GPU" says no.
    assert "on this machine but" in report["honours_capability"].message
    assert "when the current device is" in report["honours_capability"].message


def test_bad_class_attributes_are_reported_and_the_rest_still_runs():
    report = quick(BadAttributes)
    message = report["class_attributes"].message
    assert report["class_attributes"].status == "fail"
    assert "name must match" in message and "priority must be an int" in message and "act_dtypes" in message


def test_an_abstract_class_or_a_non_kernel_gets_only_the_class_check():
    for obj in (Abstract, object, GoodKernel(_config())):
        report = quick(obj)
        assert report.failed == {"class_attributes"}, report.format_table()
        assert report["runtime"].status == "skip"


def test_failures_say_what_went_wrong():
    report = quick(OffByFactor)
    message = report["numerics[cpu]"].message
    assert "relative error" in message and "> tolerance" in message and "K=" in message
    table = report.format_table()
    assert "FAIL  numerics[cpu]" in table and "broken_factor: FAIL" in table
    assert report["runs_accepted[cpu]"].status == "pass"


# --------------------------------------------------------------------------- report & options
def test_report_serializes_and_is_reproducible_from_its_seed():
    first = quick(GoodKernel, seed=123)
    second = quick(GoodKernel, seed=123)
    assert first.seed == 123 and [r.message for r in first] == [r.message for r in second]
    data = json.loads(first.to_json())
    assert data["ok"] is True and data["seed"] == 123 and "cpu" in data["devices"]
    assert {r["name"] for r in data["results"]} == set(first.names())
    assert first["numerics[cpu]"].device == "cpu" and first["numerics[cpu]"].check == "numerics"
    with pytest.raises(KeyError, match="no check named"):
        first["nope"]


def test_seed_from_the_environment_and_a_bad_one_named(monkeypatch):
    monkeypatch.setenv("MXFP8_CONFORMANCE_SEED", "42")
    assert check_kernel(GoodKernel, quick=True).seed == 42
    monkeypatch.setenv("MXFP8_CONFORMANCE_SEED", "abc")
    with pytest.raises(ValueError, match=r"MXFP8_CONFORMANCE_SEED must be an integer seed, got 'abc'"):
        check_kernel(GoodKernel, quick=True)


def test_planned_checks_match_the_report():
    assert planned_checks(GoodKernel) == quick(GoodKernel).names()
    if not torch.cuda.is_available():  # it answers from the current device: no on a CPU host
        assert planned_checks(IgnoresCapability) == STATIC_CHECKS + ("runtime",)


def test_devices_argument():
    if not torch.cuda.is_available():
        report = quick(GoodKernel, devices="cuda")
        assert report["runtime"].message.endswith("(cuda: no CUDA device here)")
    with pytest.raises(ValueError, match="expected 'cpu' and/or 'cuda'"):
        check_kernel(GoodKernel, devices="tpu")


def test_the_kit_does_not_leave_its_simulated_gpu_behind():
    before = (torch.cuda.is_available(), resolve_target(None))
    quick(IgnoresCapability)
    assert (torch.cuda.is_available(), resolve_target(None)) == before


def _config():
    from mxfp8_core import Mxfp8LinearLayerConfig

    return Mxfp8LinearLayerConfig(64, 16)


# --------------------------------------------------------------------------- CLI
def test_cli_check_emulation_passes():
    out = run_cli("check", "emulation", "--quick", "--seed", "3")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "pass  numerics[cpu]" in out.stdout
    assert "KERNEL" in out.stdout and "all kernels pass (seed 3)" in out.stdout


def test_cli_check_json():
    out = run_cli("check", "emulation", "--quick", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["ok"] is True and data["kernels"][0]["kernel"] == "emulation"
    assert data["kernels"][0]["distribution"] == "mxfp8-emulation"


def test_cli_check_unknown_kernel_lists_the_installed_ones():
    out = run_cli("check", "no_such_kernel")
    assert out.returncode == 2
    assert "no kernel named 'no_such_kernel'" in out.stderr and "emulation" in out.stderr


def test_cli_check_exit_status_is_nonzero_when_a_kernel_fails():
    code = textwrap.dedent("""
        import sys, torch
        from mxfp8_core import Mxfp8LinearKernel, dequantize_mxfp8, hookimpl, register_plugin
        from mxfp8_core.cli import main

        class Broken(Mxfp8LinearKernel):
            name = "cli_broken"; priority = -1; scheme = "emulated"; devices = None
            def prepare_weights(self, w, s):
                return {"w32": dequantize_mxfp8(w, s, torch.float32)}
            def apply_2d(self, layer, x, bias):
                return (x.float() @ layer.w32.t() * 2).to(self.config.out_dtype)

        class Plugin:
            @hookimpl
            def mxfp8_core_kernels(self):
                return [Broken]

        register_plugin(Plugin(), "cli_broken_plugin")
        sys.exit(main(["check", "cli_broken", "--quick"]))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "FAIL  numerics[cpu]" in out.stdout and "FAILED: cli_broken" in out.stdout


def test_cli_check_of_every_kernel_fails_when_a_plugin_did_not_load(test_site):
    out = run_cli("check", "--quick", "--device", "cpu", "--seed", "1", site=test_site)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "error: plugin import_error (mxfp8-test-broken 0.0.1) failed to load, its kernels were not checked" in out.stdout
    assert "FAILED: plugin bad_hook (not loaded)" in out.stdout and "thirdparty_fp32" in out.stdout
    # Named kernels: another plugin's failure is a warning.
    out = run_cli("check", "emulation", "--quick", "--device", "cpu", "--seed", "1", site=test_site)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "warning: plugin import_error" in out.stdout and "all kernels pass (seed 1)" in out.stdout


# --------------------------------------------------------------------------- pytest plugin
def test_pytest_option_all_fails_an_item_per_plugin_that_did_not_load(pytester, test_site, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(test_site), os.environ.get("PYTHONPATH")])))
    result = pytester.runpytest_subprocess("--mxfp8-kernel=all", "--mxfp8-quick", "--mxfp8-seed=5", "-v",
                                           "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*mxfp8-conformance/thirdparty_fp32::*", "*mxfp8-plugin-load/import_error FAILED*"])
    assert result.parseoutcomes()["failed"] == 8  # the test distribution's broken plugins
    result.stdout.fnmatch_lines(["*plugin import_error (mxfp8-test-broken 0.0.1) failed to load*"])


def test_pytest_plugin_is_off_unless_asked(pytester):
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_pytest_option_generates_one_test_per_check(pytester):
    result = pytester.runpytest_subprocess("--mxfp8-kernel=emulation", "--mxfp8-quick", "--mxfp8-seed=5", "-v",
                                           "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*mxfp8-conformance/emulation::numerics?cpu? PASSED*"])
    result.assert_outcomes(passed=CHECKS_ANYWHERE)


@pytest.mark.parametrize("value", ["nope", "all,nope"])  # beside "all" a typo had been ignored
def test_pytest_option_rejects_unknown_kernels(pytester, value):
    result = pytester.runpytest_subprocess(f"--mxfp8-kernel={value}", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*no installed kernel named 'nope'; installed kernels: *emulation*"])


def test_pytest_marker_and_fixtures(pytester):
    pytester.makepyfile(textwrap.dedent("""
        import pytest, torch
        from mxfp8_core import Mxfp8LinearKernel, dequantize_mxfp8

        class Good(Mxfp8LinearKernel):
            name = "marker_good"; priority = -1; scheme = "emulated"; devices = None
            def prepare_weights(self, w, s):
                return {"w32": dequantize_mxfp8(w, s, torch.float32)}
            def apply_2d(self, layer, x, bias):
                y = x.float() @ layer.w32.t()
                return (y if bias is None else y + bias.float()).to(self.config.out_dtype)

        class Bad(Good):
            name = "marker_bad"
            def apply_2d(self, layer, x, bias):
                return super().apply_2d(layer, x, None)

        @pytest.mark.mxfp8_conformance(Good, quick=True)
        def test_each(mxfp8_check):
            mxfp8_check.assert_ok()

        @pytest.mark.mxfp8_conformance(Bad, quick=True)
        def test_bad(mxfp8_check):
            mxfp8_check.assert_ok()

        @pytest.mark.mxfp8_conformance.with_args(Good)  # the guide's form for a class alone
        def test_whole(mxfp8_report):
            assert mxfp8_report.ok, mxfp8_report.format_table()
    """))
    result = pytester.runpytest_subprocess("-v", "-p", "no:cacheprovider")
    # Good passes every check, Bad fails bias[dev] on each device, test_whole is one more test.
    result.assert_outcomes(passed=2 * CHECKS_ANYWHERE - len(DEVICES_HERE) + 1, failed=len(DEVICES_HERE))
    result.stdout.fnmatch_lines(["*test_bad?bias?cpu?? FAILED*", "*bias?cpu?: *relative error*"])
