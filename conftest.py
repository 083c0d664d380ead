"""Skip GPU-marked tests where the hardware is missing (CI has no GPU), and run Triton
kernels through its interpreter there.

TRITON_INTERPRET is read when Triton builds its ``@jit`` functions, its own library
functions (``tl.sum``...) included, so it must be set before anything imports Triton;
this root conftest is loaded before any test module is collected (FlashInfer's tests,
say, import Triton at collection).
"""

import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


def pytest_collection_modifyitems(config, items):
    has_cuda = torch.cuda.is_available()
    capability = torch.cuda.get_device_capability() if has_cuda else (0, 0)
    for item in items:
        if item.get_closest_marker("gpu") and not has_cuda:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU"))
        if item.get_closest_marker("sm100") and capability < (10, 0):
            item.add_marker(pytest.mark.skip(reason="needs a Blackwell-class GPU (compute capability >= 10.0)"))
