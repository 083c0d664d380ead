from mxfp8_core import Mxfp8LinearKernel, hookimpl


class NotAKernel:
    name = "not_a_kernel"


class Unfinished(Mxfp8LinearKernel):
    name = "unfinished"
    priority = 1
    scheme = "w8a16"  # prepare_weights and apply_2d are missing


class BadName(Mxfp8LinearKernel):
    name = "Bad Name!"
    priority = "high"
    scheme = "fp4"

    def prepare_weights(self, weight, weight_scale):
        return {}

    def apply_2d(self, layer, x, bias):
        return x


@hookimpl
def mxfp8_core_kernels():
    return [NotAKernel, "emulation", Unfinished, BadName]
