"""Shared fixtures: a clean plugin/selection state per test, and the test distributions
under tests/distributions installed for real (pip install --target) once per session."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import mxfp8_core

# Test modules import shared helpers from this directory (pytest runs in importlib mode).
sys.path.insert(0, str(Path(__file__).parent))
from conftest_helpers import ENV_VARS  # noqa: E402

DISTRIBUTIONS = Path(__file__).parent / "distributions"


@pytest.fixture(autouse=True)
def clean_state(monkeypatch):
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    mxfp8_core.reset_plugins()
    mxfp8_core.clear_selection_cache()
    yield
    mxfp8_core.reset_plugins()
    mxfp8_core.clear_selection_cache()


@pytest.fixture(scope="session")
def test_site(tmp_path_factory) -> Path:
    """A directory holding mxfp8-test-thirdparty and mxfp8-test-broken, really installed."""
    target = tmp_path_factory.mktemp("site")
    sources = tmp_path_factory.mktemp("sources")
    for name in ("thirdparty", "broken"):
        source = shutil.copytree(DISTRIBUTIONS / name, sources / name)  # keep build files out of the repo
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
             "--no-compile", "--target", str(target), str(source)],
            check=True, capture_output=True,
        )
    return target


@pytest.fixture
def with_test_plugins(test_site, monkeypatch):
    """Put the test distributions on sys.path for this test (entry points included)."""
    monkeypatch.syspath_prepend(str(test_site))
    yield test_site
    for module in [m for m in sys.modules if m.startswith("mxfp8_test_")]:
        del sys.modules[module]
