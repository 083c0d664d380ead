"""The kernel protocol: :class:`Mxfp8LinearKernel`.

A kernel *declares* its limits as class attributes; the base class turns them into
rejection reasons (all of them, not only the first). A kernel writes code only for
what data cannot say, in :meth:`~Mxfp8LinearKernel.extra_platform_reasons` and
:meth:`~Mxfp8LinearKernel.extra_config_reasons`.

Kernel authors implement two methods:

- ``prepare_weights(weight, weight_scale)``: a pure function from the checkpoint tensors
  to the tensors the kernel wants on the layer. The base class validates the layer first
  and installs the result only once it is complete, so a failure leaves the layer as it
  was (``process_weights_after_loading`` is atomic by construction).
- ``apply_2d(layer, x, bias)``: ``x`` is ``[M, K]`` with ``M >= 1`` and arbitrary strides,
  and ``bias`` ``None`` or ``[N]`` in the output or activation dtype, both already checked
  against the config; return ``[M, N]`` in ``config.out_dtype``.
"""

from __future__ import annotations

import abc
import functools
import inspect
import re
from collections.abc import Mapping
from typing import Any, ClassVar

import torch

from ._text import describe
from .config import DTYPE_NAMES, Mxfp8LinearLayerConfig
from .errors import KernelContractError
from .format import BLOCK_SIZE, check_no_nan_scales
from .platform import CPU, CUDA, Target, resolve_target
from .support import Support

SCHEMES = ("w8a8", "w8a16", "emulated")
NAME_RE = re.compile(r"[a-z][a-z0-9_]*")
PROCESSED_ATTR = "mxfp8_processed_by"

# Bound on ||y - ref|| / ||ref|| that the base tolerance allows for rounding the output
# once to each dtype (its unit roundoff) on top of float32 accumulation.
_UNIT_ROUNDOFF = {torch.bfloat16: 2.0**-8, torch.float16: 2.0**-11, torch.float32: 2.0**-24}
# e4m3 has 3 mantissa bits: quantizing activations costs up to 2**-4 per element, about
# 2**-4 / sqrt(3) = 0.036 in RMS; 0.06 leaves room for the output rounding on top.
ACT_QUANT_TOLERANCE = 0.06


class hybridmethod:
    """Like ``classmethod``, but an instance passes itself: ``f(self_or_cls, ...)``."""

    def __init__(self, func: Any) -> None:
        self.__func__ = func
        self.__doc__ = func.__doc__

    def __get__(self, obj: object, owner: type) -> Any:
        return functools.partial(self.__func__, owner if obj is None else obj)


class Mxfp8LinearKernel(abc.ABC):
    """Base class of every MXFP8 linear kernel.

    Class attributes a kernel sets (the first three are required):

    ``name``: stable short id (``[a-z][a-z0-9_]*``) used by env vars, the CLI and logs.
    ``priority``: int, higher wins. ``scheme``: ``"w8a8"``, ``"w8a16"`` or ``"emulated"``.
    ``devices``: device kinds it runs on (``"cuda"``, ``"cpu"``), or ``None`` for any.
    ``min_capability`` / ``capabilities``: lowest CUDA capability, or an exact allowlist.
    ``act_dtypes`` / ``out_dtypes``: accepted activation and output dtypes.
    ``min_in_features``, ``min_out_features``, ``in_features_multiple``,
    ``out_features_multiple``: shape limits. ``supports_bias``, ``supports_bmm``.
    """

    name: ClassVar[str]
    priority: ClassVar[int]
    scheme: ClassVar[str]

    devices: ClassVar[frozenset[str] | None] = frozenset({CUDA})  # None: any device
    min_capability: ClassVar[tuple[int, int] | None] = None
    capabilities: ClassVar[frozenset[tuple[int, int]] | None] = None
    act_dtypes: ClassVar[frozenset[torch.dtype]] = frozenset({torch.bfloat16})
    out_dtypes: ClassVar[frozenset[torch.dtype] | None] = None  # None: same set as act_dtypes
    min_in_features: ClassVar[int] = BLOCK_SIZE
    min_out_features: ClassVar[int] = 1
    in_features_multiple: ClassVar[int] = BLOCK_SIZE
    out_features_multiple: ClassVar[int] = 1
    supports_bias: ClassVar[bool] = True
    supports_bmm: ClassVar[bool] = False

    def __init__(self, config: Mxfp8LinearLayerConfig) -> None:
        if not isinstance(config, Mxfp8LinearLayerConfig):
            raise TypeError(f"{type(self).__name__} needs an Mxfp8LinearLayerConfig, got {type(config).__name__}")
        support = type(self).can_implement(config)
        if not support:
            raise ValueError(f"kernel {self.name!r} cannot implement {config.describe()}: {support.reason}")
        self.config = config

    # ----------------------------------------------------------------- support checks
    @classmethod
    def is_supported(cls, capability: object = None) -> Support:
        """Can this kernel run on ``capability`` (default: the current device)?"""
        target = resolve_target(capability)
        reasons = [reason for _, reason in declared_platform_violations(cls, target)]
        reasons.extend(_extra_reasons(cls, "extra_platform_reasons", cls.extra_platform_reasons(target)))
        return Support.from_reasons(reasons)

    @classmethod
    def can_implement(cls, config: Mxfp8LinearLayerConfig) -> Support:
        """Can this kernel run a layer of this shape and these dtypes?"""
        if not isinstance(config, Mxfp8LinearLayerConfig):
            raise TypeError(f"can_implement needs an Mxfp8LinearLayerConfig, got {type(config).__name__}")
        reasons = [reason for _, reason in declared_config_violations(cls, config)]
        reasons.extend(_extra_reasons(cls, "extra_config_reasons", cls.extra_config_reasons(config)))
        return Support.from_reasons(reasons)

    @classmethod
    def extra_platform_reasons(cls, target: Target) -> list[str]:
        """Reasons beyond the declared limits why ``target`` cannot run this kernel
        (e.g. a missing library). Called for every target, supported or not."""
        return []

    @classmethod
    def extra_config_reasons(cls, config: Mxfp8LinearLayerConfig) -> list[str]:
        """Reasons beyond the declared limits why ``config`` cannot run."""
        return []

    @hybridmethod
    def tolerance(self_or_cls, config: Mxfp8LinearLayerConfig) -> float:
        """Largest ``||y - ref|| / ||ref||`` this kernel promises against the float32
        dequantize-then-matmul reference on the same (unquantized) activations.

        Called on the class it answers for the kernel's default options; called on an
        instance, for that instance's options (a kernel whose numerics depend on
        constructor options overrides it as a :func:`hybridmethod` too).

        The default covers kernels that use the activations as given: one rounding of
        the output to ``out_dtype`` plus float32 accumulation (``K * 2**-24`` is the
        worst case of a sum of K products, for well-conditioned data far less).
        W8A8 kernels quantize activations too and get the e4m3 rounding on top.
        """
        bound = 2 * _UNIT_ROUNDOFF[config.out_dtype] + config.in_features * 2.0**-24
        if self_or_cls.scheme == "w8a8":
            bound += ACT_QUANT_TOLERANCE
        return bound

    # ----------------------------------------------------------------- weights
    def process_weights_after_loading(self, layer: torch.nn.Module) -> None:
        """Turn the layer's checkpoint tensors into what this kernel runs on; atomic, and
        a no-op when this kernel (with these options) has already processed the layer.

        A processed layer is never reprocessed in place: calling this again is a no-op even
        if new checkpoint tensors were assigned to it since. Load a new checkpoint into a
        new layer."""
        tag = self.weights_layout()
        done = getattr(layer, PROCESSED_ATTR, None)
        if done == tag:
            return
        if done is not None:
            raise RuntimeError(
                f"the layer's weights were already processed by kernel {done!r}; load the "
                f"checkpoint into a new layer to process it for {tag!r}"
            )
        weight, weight_scale = check_layer_weights(layer, self.config)
        prepared = self.prepare_weights(weight, weight_scale)
        if not isinstance(prepared, Mapping) or not all(
            isinstance(key, str) and (value is None or isinstance(value, torch.Tensor))
            for key, value in prepared.items()
        ):
            raise KernelContractError(
                f"kernel {self.name!r}: prepare_weights must return a mapping of attribute "
                f"names to tensors (or None to remove one), got {type(prepared).__name__}"
            )
        for key in prepared:  # check every key first, so installing cannot fail half-way
            problem = _install_problem(layer, key)
            if problem:
                raise KernelContractError(f"kernel {self.name!r}: prepare_weights returned key {key!r}: {problem}")
        for key, value in prepared.items():
            _install(layer, key, value)
        self.mark_processed(layer)

    def mark_processed(self, layer: torch.nn.Module) -> None:
        """Record on ``layer`` that this kernel processed it (what ``apply_weights`` checks).
        ``process_weights_after_loading`` does it; a kernel that overrides that method calls
        this last, once everything is installed."""
        if isinstance(layer, torch.nn.Module):  # a plain attribute: not in the state dict
            object.__setattr__(layer, PROCESSED_ATTR, self.weights_layout())
        else:
            setattr(layer, PROCESSED_ATTR, self.weights_layout())

    def weights_layout(self) -> str:
        """The tag ``process_weights_after_loading`` records on the layer (``PROCESSED_ATTR``)
        and ``apply_weights`` expects there: the kernel's name. A kernel whose options change
        what ``prepare_weights`` leaves on the layer returns one tag per such option."""
        return self.name

    @abc.abstractmethod
    def prepare_weights(self, weight: torch.Tensor, weight_scale: torch.Tensor) -> Mapping[str, torch.Tensor | None]:
        """From ``weight [N, K] float8_e4m3fn`` and ``weight_scale [N, K/32] uint8`` (already
        validated; do not modify them), compute the tensors to set on the layer. Keys
        are attribute names; ``None`` removes an attribute; keys left out keep theirs."""

    # ----------------------------------------------------------------- compute
    def apply_weights(self, layer: torch.nn.Module, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        """``x [..., K]`` in ``act_dtype`` -> ``[..., N]`` in ``out_dtype``."""
        # Engines call this for every layer at every step: keep the common 2-D case to a
        # handful of attribute reads (no reshape calls).
        config = self.config
        shape = x.shape
        if x.dtype != config.act_dtype or not shape or shape[-1] != config.in_features:
            raise ValueError(
                f"kernel {self.name!r} expects input [..., {config.in_features}] in {config.act_dtype}, "
                f"got {tuple(shape)} in {x.dtype}"
            )
        if bias is not None and (problem := _bias_problem(config, bias, x)):
            raise ValueError(f"kernel {self.name!r}: {problem}")
        if (done := getattr(layer, PROCESSED_ATTR, None)) != (tag := self.weights_layout()):
            state = "were not processed" if done is None else f"were processed by {done!r}"
            raise RuntimeError(
                f"kernel {tag!r}: the layer's weights {state}; call process_weights_after_loading(layer) "
                f"with this kernel after loading the checkpoint"
            )
        x2d = x if len(shape) == 2 else x.reshape(-1, config.in_features)
        m = x2d.shape[0]
        if m == 0:
            return x.new_empty((*shape[:-1], config.out_features), dtype=config.out_dtype)
        y = self.apply_2d(layer, x2d, bias)
        if not isinstance(y, torch.Tensor) or y.shape != (m, config.out_features) or y.dtype != config.out_dtype:
            raise KernelContractError(
                f"kernel {self.name!r} returned {describe(y)} for input [{m}, {config.in_features}]; "
                f"expected [{m}, {config.out_features}] in {config.out_dtype}"
            )
        return y if len(shape) == 2 else y.reshape(*shape[:-1], config.out_features)

    @abc.abstractmethod
    def apply_2d(self, layer: torch.nn.Module, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """``x [M, K]`` (M >= 1, any strides) -> ``[M, N]`` in ``config.out_dtype``; ``bias``
        is None or ``[N]`` in the output or activation dtype on x's device (only where
        ``config.has_bias``), added in the output dtype."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, {self.config.describe()})"


def _extra_reasons(cls: type[Mxfp8LinearKernel], hook: str, reasons: object) -> list[str] | tuple[str, ...]:
    """``reasons`` if ``hook`` answered a list of strings; a string would be read per character."""
    if not isinstance(reasons, (list, tuple)) or not all(isinstance(reason, str) for reason in reasons):
        raise KernelContractError(
            f"kernel {getattr(cls, 'name', cls.__qualname__)!r}: {hook} must return a list of strings "
            f"(empty when it has no reason), got {reasons!r}"
        )
    return reasons


def check_kernel_class(obj: object) -> str | None:
    """Why ``obj`` is not a usable kernel class, or ``None`` when it is."""
    if not isinstance(obj, type) or not issubclass(obj, Mxfp8LinearKernel):
        return f"{obj!r} is not a subclass of mxfp8_core.Mxfp8LinearKernel"
    problems = []
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        problems.append(f"name must match {NAME_RE.pattern} (lower case), got {name!r}")
    priority = getattr(obj, "priority", None)
    if not isinstance(priority, int) or isinstance(priority, bool):
        problems.append(f"priority must be an int, got {priority!r}")
    if getattr(obj, "scheme", None) not in SCHEMES:
        problems.append(f"scheme must be one of {SCHEMES}, got {getattr(obj, 'scheme', None)!r}")
    if getattr(obj, "__abstractmethods__", None):
        problems.append(f"abstract methods not implemented: {', '.join(sorted(obj.__abstractmethods__))}")
    return f"{obj.__module__}.{obj.__qualname__}: {'; '.join(problems)}" if problems else None


def check_layer_weights(layer: torch.nn.Module, config: Mxfp8LinearLayerConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The layer's ``weight`` and ``weight_scale``, or a clear error if they do not form
    the MXFP8 weight that ``config`` describes."""
    n, k = config.out_features, config.in_features
    weight = getattr(layer, "weight", None)
    scale = getattr(layer, "weight_scale", None)
    if not isinstance(weight, torch.Tensor) or weight.dtype != torch.float8_e4m3fn or tuple(weight.shape) != (n, k):
        raise ValueError(f"layer.weight must be float8_e4m3fn of shape ({n}, {k}), got {describe(weight)}")
    if not isinstance(scale, torch.Tensor) or scale.dtype != torch.uint8 or tuple(scale.shape) != (n, k // BLOCK_SIZE):
        raise ValueError(
            f"layer.weight_scale must be uint8 E8M0 bytes of shape ({n}, {k // BLOCK_SIZE}), got {describe(scale)}"
        )
    if weight.device != scale.device:
        raise ValueError(f"layer.weight is on {weight.device} but layer.weight_scale is on {scale.device}")
    check_no_nan_scales(scale, "layer.weight_scale")
    return weight, scale


def _bias_problem(config: Mxfp8LinearLayerConfig, bias: Any, x: torch.Tensor) -> str | None:
    """Why ``bias`` cannot be added to this layer's output, or ``None``."""
    if not config.has_bias:
        return ("got a bias, but the layer config has has_bias=False (the kernel was chosen for a layer "
                "without one); build the config with has_bias=True, or pass bias=None")
    n = config.out_features
    if (not isinstance(bias, torch.Tensor) or bias.shape != (n,)
            or (bias.dtype is not config.out_dtype and bias.dtype is not config.act_dtype)):
        names = " or ".join(sorted({str(config.out_dtype), str(config.act_dtype)}))
        return f"bias must be [{n}] in {names} (the output or activation dtype), got {describe(bias)}"
    if bias.device != x.device:
        return f"bias is on {bias.device} but the input is on {x.device}"
    return None


def _install_problem(layer: Any, key: str) -> str | None:
    if not key.isidentifier():
        return "not a valid attribute name"
    if inspect.getattr_static(type(layer), key, None) is not None:
        # a property, method or class attribute: setting or deleting it fails or hides it
        return f"the layer's class {type(layer).__name__} defines {key!r}; a kernel may not replace it"
    existing = getattr(layer, key, None)
    if existing is not None and not isinstance(existing, torch.Tensor):
        return f"the layer's {key!r} is a {type(existing).__name__}, not a tensor"
    return None


def _install(layer: Any, key: str, value: torch.Tensor | None) -> None:
    if value is None:
        if hasattr(layer, key):
            delattr(layer, key)
    elif isinstance(layer, torch.nn.Module):
        if key in layer._buffers:
            layer._buffers[key] = value
        else:
            setattr(layer, key, torch.nn.Parameter(value, requires_grad=False))
    else:
        setattr(layer, key, value)


_DEVICE_NAMES = {CUDA: "an NVIDIA CUDA GPU", CPU: "the CPU"}


def declared_platform_violations(cls: type[Mxfp8LinearKernel], target: Target) -> list[tuple[str, str]]:
    """The class's declared platform limits that exclude ``target``, as (declaration,
    reason) pairs: ``is_supported`` gives the reasons, the conformance kit checks an
    overridden ``is_supported`` against the declarations."""
    found = []
    if cls.devices is not None and target.kind not in cls.devices:
        wanted = " or ".join(_DEVICE_NAMES.get(d, d) for d in sorted(cls.devices))
        found.append((f"devices={sorted(cls.devices)}", f"needs {wanted}; the target is {target}"))
    elif target.kind == CUDA:
        cap = target.capability
        if cls.capabilities is not None and cap not in cls.capabilities:
            listed = ", ".join(f"sm_{a}{b}" for a, b in sorted(cls.capabilities))
            found.append((f"capabilities={sorted(cls.capabilities)}",
                          f"supports only {listed}; the target is sm_{cap[0]}{cap[1]}"))
        if cls.min_capability is not None and cap < cls.min_capability:
            need = cls.min_capability
            found.append((f"min_capability={need}",
                          f"needs compute capability >= {need[0]}.{need[1]}; the target is {cap[0]}.{cap[1]}"))
    return found


def declared_config_violations(cls: type[Mxfp8LinearKernel], config: Mxfp8LinearLayerConfig) -> list[tuple[str, str]]:
    """The class's declared shape and dtype limits that exclude ``config``, as
    (declaration, reason) pairs (see :func:`declared_platform_violations`)."""
    out_dtypes = cls.act_dtypes if cls.out_dtypes is None else cls.out_dtypes
    k, n = config.in_features, config.out_features
    act, out = DTYPE_NAMES[config.act_dtype], DTYPE_NAMES[config.out_dtype]  # the config admits only named dtypes
    found = []
    if config.act_dtype not in cls.act_dtypes:
        found.append((f"act_dtypes without {act}", f"activation dtype {act} not supported (takes {_names(cls.act_dtypes)})"))
    if config.out_dtype not in out_dtypes:
        found.append((f"out_dtypes without {out}", f"output dtype {out} not supported (gives {_names(out_dtypes)})"))
    if k < cls.min_in_features:
        found.append((f"min_in_features={cls.min_in_features}", f"needs K (in_features) >= {cls.min_in_features}, got {k}"))
    if n < cls.min_out_features:
        found.append((f"min_out_features={cls.min_out_features}", f"needs N (out_features) >= {cls.min_out_features}, got {n}"))
    if k % cls.in_features_multiple:
        found.append((f"in_features_multiple={cls.in_features_multiple}",
                      f"needs K (in_features) to be a multiple of {cls.in_features_multiple}, got {k}"))
    if n % cls.out_features_multiple:
        found.append((f"out_features_multiple={cls.out_features_multiple}",
                      f"needs N (out_features) to be a multiple of {cls.out_features_multiple}, got {n}"))
    if config.has_bias and not cls.supports_bias:
        found.append(("supports_bias=False", "does not support bias"))
    if config.bmm_batch_size is not None and not cls.supports_bmm:
        found.append(("supports_bmm=False", "does not support batched (bmm) weights"))
    return found


def _names(dtypes: frozenset[torch.dtype]) -> str:
    return ", ".join(sorted(DTYPE_NAMES.get(d, str(d)) for d in dtypes))
