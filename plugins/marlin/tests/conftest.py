"""Test helpers' import path. Without a GPU the kernels run in the Triton interpreter:
the repository's root ``conftest.py`` sets ``TRITON_INTERPRET=1`` before anything
imports Triton (it is read when ``@triton.jit`` decorates a function).
"""

import sys
from pathlib import Path

# Test modules import shared helpers from this directory (pytest runs in importlib mode).
sys.path.insert(0, str(Path(__file__).parent))
