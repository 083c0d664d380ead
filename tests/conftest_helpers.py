"""Helpers shared by test modules (importable, unlike conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mxfp8_core.discovery import ENV_DISABLE_AUTOLOAD, ENV_STRICT
from mxfp8_core.selection import ENV_DISABLED, ENV_KERNELS

ENV_VARS = (ENV_KERNELS, ENV_DISABLED, ENV_DISABLE_AUTOLOAD, ENV_STRICT,
            "MXFP8_EMULATION_WEIGHTS", "MXFP8_EMULATION_ACTIVATIONS")


def run_cli(*args: str, env: dict[str, str] | None = None, site: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m mxfp8_core ARGS`` in a fresh process."""
    full_env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    if site is not None:
        full_env["PYTHONPATH"] = os.pathsep.join([str(site), full_env.get("PYTHONPATH", "")])
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "mxfp8_core", *args], capture_output=True, text=True, env=full_env, timeout=300
    )
