"""Run the Triton kernels through the interpreter where there is no GPU.

TRITON_INTERPRET is read when ``@triton.jit`` decorates a function, so it must be set
before ``mxfp8_marlin._triton`` is imported; the plugin imports it lazily, on the first
kernel launch, which comes after this file is loaded.
"""

import os
import sys
from pathlib import Path

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

# Test modules import shared helpers from this directory (pytest runs in importlib mode).
sys.path.insert(0, str(Path(__file__).parent))
