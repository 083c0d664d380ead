from mxfp8_core import hookimpl


@hookimpl
def mxfp8_core_kernels():
    raise ValueError("this plugin's hook raises")
