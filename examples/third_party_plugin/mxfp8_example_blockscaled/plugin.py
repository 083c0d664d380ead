"""The module the entry point names: it hands mxfp8-core this plugin's kernel classes.

Keep it cheap to import: every process that selects an MXFP8 kernel imports every
plugin module. Heavy backends belong inside the kernel's methods.
"""

from mxfp8_core import hookimpl

from .kernel import BlockScaledKernel


@hookimpl
def mxfp8_core_kernels():
    return [BlockScaledKernel]
