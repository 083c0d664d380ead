from mxfp8_core import hookimpl


@hookimpl
def mxfp8_core_kernels(device):  # the spec takes no argument: pluggy rejects this
    return []
