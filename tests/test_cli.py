"""The mxfp8 command line, run as a user would (fresh processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from conftest_helpers import run_cli

from mxfp8_core import Mxfp8LinearLayerConfig, PluginRegistry, current_target, select_kernel


def test_plugins_lists_installed_plugins_and_kernels():
    out = run_cli("plugins")
    assert out.returncode == 0, out.stderr
    assert "emulation" in out.stdout and "mxfp8-emulation 0.1.0" in out.stdout
    assert f"Kernels on this machine ({current_target()})" in out.stdout


def test_plugins_json_shows_load_errors(test_site):
    out = run_cli("plugins", "--json", site=test_site)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    plugins = {p["name"]: p for p in data["plugins"]}
    assert plugins["thirdparty"]["distribution"] == "mxfp8-test-thirdparty"
    assert plugins["thirdparty"]["kernels"] == ["thirdparty_fp32"]
    assert plugins["import_error"]["errors"][0].startswith("import failed: RuntimeError: this plugin fails at import")
    kernels = {k["name"]: k for k in data["kernels"]}
    assert kernels["emulation"]["supported_here"] is True
    assert data["autoload"] is True and data["strict"] is False
    assert out.stderr == ""  # errors are in the listing, not logged again


def test_plugins_text_marks_failures(test_site):
    out = run_cli("plugins", site=test_site)
    assert "FAILED" in out.stdout and "error: provides no kernels" in out.stdout


def test_explain_for_a_planned_capability_and_cpu():
    out = run_cli("explain", "--in-features", "4096", "--out-features", "1024", "--capability", "9.0")
    assert out.returncode == 0, out.stderr
    assert "on CUDA sm_90" in out.stdout and out.stdout.rstrip().endswith("chosen: " + _chosen(out.stdout))
    out = run_cli("explain", "-k", "64", "-n", "8", "--cpu", "--dtype", "fp32", "--bias", "--json")
    data = json.loads(out.stdout)
    assert data["selected"] == "emulation" and data["target"]["name"] == "CPU"
    assert data["config"] == {"in_features": 64, "out_features": 8, "act_dtype": "fp32", "out_dtype": "fp32",
                              "has_bias": True, "bmm_batch_size": None}


def _chosen(stdout: str) -> str:
    return next(line.split()[1] for line in stdout.splitlines() if line.strip().startswith("selected"))


def test_explain_errors_and_exit_codes():
    out = run_cli("explain", "-k", "64", "-n", "8", "--kernels", "nope")
    assert out.returncode == 2 and "error: --kernels names unknown kernel(s) 'nope'" in out.stderr
    # the options typed, not the Python arguments behind them
    out = run_cli("explain", "-k", "64", "-n", "8", "--kernels", " , ")
    assert out.returncode == 2 and "error: --kernels names no kernel; leave it out" in out.stderr
    out = run_cli("explain", "-k", "64", "-n", "8", "--kernels", "emulation", "--disabled", "emulation")
    assert out.returncode == 2 and "both forced (--kernels) and disabled (--disabled)" in out.stderr
    out = run_cli("explain", "-k", "48", "-n", "8")
    assert out.returncode == 2 and "must be a multiple of 32" in out.stderr
    everything = ",".join(PluginRegistry().names())
    out = run_cli("explain", "-k", "64", "-n", "8", "--cpu", "--disabled", everything, "--json")
    assert out.returncode == 1
    data = json.loads(out.stdout)
    assert data["selected"] is None and {c["verdict"] for c in data["candidates"]} == {"disabled"}
    assert {c["reasons"][0] for c in data["candidates"]} == {"disabled by --disabled"}
    out = run_cli("explain", "-k", "64", "-n", "8", "--capability", "nine")
    assert out.returncode == 2 and "cannot read 'nine' as a capability" in out.stderr


def test_environment_overrides_reach_the_cli(test_site):
    out = run_cli("explain", "-k", "64", "-n", "8", "--cpu", "--dtype", "fp32", "--json",
                  env={"MXFP8_KERNELS": "emulation"}, site=test_site)
    assert json.loads(out.stdout)["selected"] == "emulation"
    out = run_cli("explain", "-k", "64", "-n", "8", "--cpu", "--dtype", "fp32", "--json",
                  env={"MXFP8_DISABLE_PLUGIN_AUTOLOAD": "1"}, site=test_site)
    error = json.loads(out.stdout)["error"]  # the whole message: its first line had ended in "one of:"
    assert out.returncode == 1 and "no MXFP8 kernel is installed" in error and "pip install mxfp8-emulation" in error


def test_demo_runs_and_reports():
    out = run_cli("demo", "--tokens", "4", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert len(data["layers"]) == 4 and data["target"] == str(current_target())
    expected = {select_kernel(Mxfp8LinearLayerConfig(k, n, has_bias=True)).name for k, n in [(1024, 4096), (4096, 1024)]}
    assert {layer["kernel"] for layer in data["layers"]} == expected
    # MXFP8 keeps 1 + 1/32 bytes a weight (plus the bf16 biases and a kernel's small
    # per-row extras) against bf16's 2.
    assert 0.5 < data["mxfp8_weight_bytes"] / data["bf16_weight_bytes"] < 0.54
    assert 0 < data["relative_error"] < 0.1
    out = run_cli("demo", "--tokens", "4")
    assert "output error vs the bf16 model" in out.stdout and "saved" in out.stdout


def test_demo_errors_are_one_line_with_the_exit_status_explain_uses():
    cases = [(("--tokens", "0"), 2, "mxfp8 demo: error: tokens must be at least 1, got 0"),
             (("--device", "foo"), 2, "mxfp8 demo: error: device 'foo' is not a torch device"),
             (("--device", "cpu", "--kernels", "marlin"), 1, "mxfp8 demo: none of the forced kernels (marlin) can run"),
             (("--device", "cpu", "--kernels", "nope"), 2, "mxfp8 demo: error: --kernels names unknown kernel(s) 'nope'")]
    if not torch.cuda.is_available():
        cases.append((("--device", "cuda"), 2, "CUDA is not available here; use --device cpu"))
    for args, status, message in cases:
        out = run_cli("demo", *args)
        assert out.returncode == status and message in out.stderr, (args, out.returncode, out.stderr)
        assert "Traceback" not in out.stderr and out.stdout == ""


def test_a_reader_that_leaves_ends_the_command_quietly():
    """`mxfp8 check --json | head -1` had ended in a BrokenPipeError traceback and exit 1,
    which also means "a check failed"."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first write
    try:
        out = subprocess.run([sys.executable, "-m", "mxfp8_core", "plugins", "--json"], stdout=write_end,
                             stderr=subprocess.PIPE, text=True, timeout=300)
    finally:
        os.close(write_end)
    assert out.returncode == 141 and out.stderr == ""


def test_demo_with_a_kernel_that_computes_nan_fails_and_writes_valid_json():
    """The JSON had held a bare NaN (no JSON parser's number) and the command had exited 0."""
    code = textwrap.dedent("""
        import sys, torch
        from mxfp8_core import Mxfp8LinearKernel, hookimpl, register_plugin
        from mxfp8_core.cli import main

        class NaNKernel(Mxfp8LinearKernel):
            name = "nan_kernel"; priority = -1; scheme = "emulated"; devices = None
            def prepare_weights(self, w, s):
                return {}
            def apply_2d(self, layer, x, bias):
                return torch.full((x.shape[0], self.config.out_features), float("nan"), dtype=self.config.out_dtype,
                                  device=x.device)

        class Plugin:
            @hookimpl
            def mxfp8_core_kernels(self):
                return [NaNKernel]

        register_plugin(Plugin(), "nan_plugin")
        sys.exit(main(["demo", "--kernels", "nan_kernel", "--tokens", "2", "--device", "cpu", "--json"]))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 1, out.stdout + out.stderr
    data = json.loads(out.stdout, parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))
    assert data["relative_error"] is None and data["max_abs_error"] is None
    assert "output is not finite (a kernel computed NaN or inf)" in out.stderr
