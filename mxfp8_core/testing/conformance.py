"""The conformance suite: :func:`check_kernel` checks that a kernel class keeps the
:class:`~mxfp8_core.Mxfp8LinearKernel` contract, and returns a :class:`ConformanceReport`.

Static checks (no device needed; run for every kernel, wherever it is installed):

``class_attributes``
    name, priority and scheme are valid; the declared limits have the right types.
``method_signatures``
    the protocol's methods are classmethods/instance methods taking the protocol's arguments.
``is_supported``
    answers a ``Support`` (or an ``(ok, reason)`` pair) with reasons when it says no, for
    CPU and every CUDA capability from sm_70 to sm_120, in every spelling of the
    capability; never says yes where the declared limits say no.
``honours_capability``
    the answer for an explicit capability does not change when the kit simulates another
    current device (no GPU, sm_75, sm_90, sm_100): planning for another GPU must work.
``can_implement``
    answers with reasons for a grid of shapes and dtypes; rejects every config that its
    declared limits exclude; the constructor refuses what ``can_implement`` rejects.
``tolerance``
    a finite number in (0, 0.25] for every accepted config.

Runtime checks, on each device the kernel supports here (CPU when ``is_supported("cpu")``;
the current CUDA GPU when there is one and ``is_supported()`` says yes), over a grid of
accepted configs (every accepted dtype pair, odd N, K = 32, a square shape, the smallest
shape the declared limits allow, a larger shape; M = 0, 1, a few, 65, large; 3-D,
permuted, row-strided and column-major inputs; with and without bias), each on fresh
random data:

``runs_accepted``
    the kernel constructs, processes and runs every config of that grid it accepts.
``output_contract``
    right shape, dtype and device; every element finite; each output memory of its own
    (a later call leaves an earlier output unchanged).
``numerics`` / ``bias``
    ``||y - ref|| / ||ref|| <= kernel.tolerance(config)`` against the float32
    dequantize-then-matmul reference, without / with a bias (the bias is as large as
    the product, so a kernel that drops it fails; besides the layer's own, a bias of
    other values is given, in the output and in the activation dtype).
``inputs_unchanged``
    ``apply_weights`` changes neither the caller's activations and bias (values and
    strides) nor the layer's processed tensors.
``process_twice``
    a second ``process_weights_after_loading`` (same or a new kernel instance) changes
    nothing and the layer still computes the right thing.
``process_atomic``
    a failure half-way (the kit's subclass raises right after the real
    ``prepare_weights`` ran) leaves every tensor on the layer the same object with the
    same bytes, and the real kernel can then process the layer.
``bad_weights``
    a NaN scale byte (0xFF), a weight of the wrong dtype or scales of the wrong shape
    raise a clear error (``ValueError``, ``TypeError`` or an ``Mxfp8Error``) and leave the
    layer untouched.
``bad_inputs``
    activations of the wrong dtype or the wrong K raise a clear error.

The kit calls the kernel directly (``kernel_cls(config)``, ``process_weights_after_loading``,
``apply_weights``), never through selection, so any kernel can be checked whatever its
priority. It imports no GPU library itself.
"""

from __future__ import annotations

import inspect
import math
import os
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch

from ..config import ACT_DTYPES, Mxfp8LinearLayerConfig
from ..errors import KernelContractError
from ..format import BLOCK_SIZE, SCALE_NAN
from ..kernel import (
    Mxfp8LinearKernel, check_kernel_class, declared_config_violations, declared_platform_violations, hybridmethod,
)
from ..platform import CPU, CPU_TARGET, CUDA, ROCM, Target, current_target
from ._helpers import (
    Built, Problem, Snapshot, as_support, clear_error, dtype_name, exc_text, limited, random_input, rel_error,
    same_tensor, simulated_current_device, target_text,
)
from .report import FAIL, PASS, SKIP, CheckResult, ConformanceReport

ENV_SEED = "MXFP8_CONFORMANCE_SEED"

STATIC_CHECKS = (
    "class_attributes", "method_signatures", "is_supported", "honours_capability", "can_implement", "tolerance",
)
RUNTIME_CHECKS = (
    "runs_accepted", "output_contract", "numerics", "bias", "inputs_unchanged",
    "process_twice", "process_atomic", "bad_weights", "bad_inputs",
)
DEVICES = (CPU, CUDA)

# Targets every kernel is asked about.
PLATFORM_TARGETS = (CPU_TARGET,) + tuple(
    Target(CUDA, cap) for cap in ((7, 0), (7, 5), (8, 0), (8, 6), (8, 9), (9, 0), (10, 0), (10, 3), (12, 0))
)
# Current devices the kit pretends to have while asking about explicit targets.
SIMULATED_DEVICES = (None, (7, 5), (9, 0), (10, 0))
# Shapes (K, N) of the static grid; the runtime grid uses a subset (see _runtime_plan).
STATIC_SHAPES = ((32, 1), (32, 33), (64, 7), (96, 8192), (128, 128), (160, 17), (256, 96), (256, 128),
                 (4096, 4096), (8192, 28672))
MAX_TOLERANCE = 0.25
# A single call is judged on its own when it has this many outputs; smaller ones are
# judged together with the other small calls of their config.
SINGLE_CALL_OUTPUTS = 256
PREFERRED_PAIRS = ((torch.bfloat16, torch.bfloat16), (torch.float16, torch.float16), (torch.float32, torch.float32))
Status = tuple[str, str]


# =========================================================================== entry points
def check_kernel(
    kernel_cls: type,
    *,
    devices: str | Sequence[str] | None = None,
    quick: bool = False,
    seed: int | None = None,
    kernel_kwargs: Mapping[str, object] | None = None,
) -> ConformanceReport:
    """Run the conformance suite on ``kernel_cls`` and return the report (it never raises
    for a broken kernel: every problem is a failed check).

    ``devices``: ``"cpu"``, ``"cuda"`` or a list of them (default: every device the kernel
    supports here). ``quick``: a smaller grid (for CI). ``seed``: the random data's seed
    (default: ``MXFP8_CONFORMANCE_SEED`` or a fresh one; the report records it).
    ``kernel_kwargs``: extra keyword arguments for ``kernel_cls(config, **kernel_kwargs)``.
    """
    start = time.perf_counter()
    seed = resolve_seed(seed)
    kwargs = dict(kernel_kwargs or {})
    wanted = _wanted_devices(devices)
    name = getattr(kernel_cls, "name", None)
    label = name if isinstance(name, str) else getattr(kernel_cls, "__qualname__", repr(kernel_cls))
    results: list[CheckResult] = []

    status = _guard(lambda: _check_class_attributes(kernel_cls))
    results.append(CheckResult("class_attributes", *status))
    usable = isinstance(kernel_cls, type) and issubclass(kernel_cls, Mxfp8LinearKernel) and not getattr(
        kernel_cls, "__abstractmethods__", None
    )
    if not usable:
        why = "not a concrete Mxfp8LinearKernel subclass (see class_attributes)"
        results += [CheckResult(check, SKIP, why) for check in STATIC_CHECKS[1:]]
        results.append(CheckResult("runtime", SKIP, why))
        return _report(kernel_cls, label, results, (), (), quick, seed, start, kwargs)

    statics = {
        "method_signatures": lambda: _check_signatures(kernel_cls),
        "is_supported": lambda: _check_is_supported(kernel_cls),
        "honours_capability": lambda: _check_honours_capability(kernel_cls),
        "can_implement": lambda: _check_can_implement(kernel_cls, kwargs),
        "tolerance": lambda: _check_tolerance(kernel_cls, kwargs),
    }
    results += [CheckResult(check, *_guard(fn)) for check, fn in statics.items()]

    here, skipped = devices_here(kernel_cls, wanted)
    if not here:
        why = "; ".join(f"{device}: {reason}" for device, reason in skipped)
        message = f"runtime checks skipped: not supported on any device here ({why})"
        results.append(CheckResult("runtime", SKIP, message))
    for index, device in enumerate(here):
        gen = torch.Generator().manual_seed(seed + 1000 * index)
        run = _DeviceRun(kernel_cls, kwargs, torch.device(device), quick, gen)
        results += [CheckResult(f"{check}[{device}]", *status) for check, status in run.run().items()]
    return _report(kernel_cls, label, results, tuple(here), tuple(skipped), quick, seed, start, kwargs)


def planned_checks(kernel_cls: type, *, devices: str | Sequence[str] | None = None) -> tuple[str, ...]:
    """The names :func:`check_kernel` will report for ``kernel_cls`` here, without running
    anything but ``is_supported`` (what the pytest plugin collects)."""
    usable = isinstance(kernel_cls, type) and issubclass(kernel_cls, Mxfp8LinearKernel) and not getattr(
        kernel_cls, "__abstractmethods__", None
    )
    if not usable:
        return STATIC_CHECKS + ("runtime",)
    here, _ = devices_here(kernel_cls, _wanted_devices(devices))
    if not here:
        return STATIC_CHECKS + ("runtime",)
    return STATIC_CHECKS + tuple(f"{check}[{device}]" for device in here for check in RUNTIME_CHECKS)


def devices_here(kernel_cls: type[Mxfp8LinearKernel], wanted: Iterable[str] = DEVICES
                 ) -> tuple[list[str], list[tuple[str, str]]]:
    """``(devices, skipped)``: the devices of ``wanted`` where the kernel can run here, and
    ``(device, why not)`` for the others."""
    here: list[str] = []
    skipped: list[tuple[str, str]] = []
    for device in wanted:
        if device == CUDA and not torch.cuda.is_available():
            skipped.append((device, "no CUDA device here"))
            continue
        capability = "cpu" if device == CPU else None
        try:
            ok, reasons = as_support(kernel_cls.is_supported(capability), f"is_supported({capability!r})")
        except Exception as exc:  # noqa: BLE001 - reported by the is_supported check
            skipped.append((device, f"is_supported({capability!r}) failed: {exc_text(exc)}"))
            continue
        if ok:
            here.append(device)
        else:
            where = "the CPU" if device == CPU else str(current_target())
            skipped.append((device, f"not supported on {where}: {'; '.join(reasons)}"))
    return here, skipped


def resolve_seed(seed: int | None) -> int:
    if seed is not None:
        return int(seed)
    env = os.environ.get(ENV_SEED, "").strip()
    if not env:
        return random.SystemRandom().randrange(1 << 30)
    try:
        return int(env)
    except ValueError:
        raise ValueError(f"{ENV_SEED} must be an integer seed, got {env!r}; set it to e.g. 1234 or unset it") from None


def _wanted_devices(devices: str | Sequence[str] | None) -> tuple[str, ...]:
    if devices is None:
        return DEVICES
    items = [devices] if isinstance(devices, str) else list(devices)
    for device in items:
        if device not in DEVICES:
            raise ValueError(f"devices: expected 'cpu' and/or 'cuda', got {device!r}")
    return tuple(dict.fromkeys(items))


def _report(kernel_cls, label, results, here, skipped, quick, seed, start, kwargs) -> ConformanceReport:
    qualname = f"{getattr(kernel_cls, '__module__', '?')}.{getattr(kernel_cls, '__qualname__', repr(kernel_cls))}"
    return ConformanceReport(
        kernel=label, kernel_class=qualname, results=tuple(results), devices=here, skipped_devices=skipped,
        quick=quick, seed=seed, duration_s=time.perf_counter() - start, kernel_kwargs=kwargs,
    )


def _guard(fn: Callable[[], Status]) -> Status:
    """Run one check; an exception escaping it is a failure of that check."""
    try:
        return fn()
    except Problem as problem:
        return FAIL, str(problem)
    except Exception as exc:  # noqa: BLE001 - third-party code under test
        return FAIL, f"the check stopped on an exception from the kernel: {exc_text(exc)}"


def _verdict(problems: list[str], passed: str) -> Status:
    return (FAIL, limited(problems)) if problems else (PASS, passed)


# =========================================================================== static checks
def _check_class_attributes(cls: type) -> Status:
    problem = check_kernel_class(cls)
    if problem is not None and not (isinstance(cls, type) and issubclass(cls, Mxfp8LinearKernel)):
        return FAIL, problem
    problems = [problem.split(": ", 1)[1]] if problem else []
    devices = cls.devices
    if devices is not None and (
        not isinstance(devices, (set, frozenset)) or not devices
        or not all(d in (CPU, CUDA, ROCM) for d in devices)
    ):
        problems.append(f"devices must be None or a non-empty set of 'cuda'/'cpu'/'rocm', got {devices!r}")
    for attr in ("min_capability",):
        value = getattr(cls, attr)
        if value is not None and not _is_capability(value):
            problems.append(f"{attr} must be None or a (major, minor) tuple of ints, got {value!r}")
    caps = cls.capabilities
    if caps is not None and (not isinstance(caps, (set, frozenset)) or not caps
                             or not all(_is_capability(c) for c in caps)):
        problems.append(f"capabilities must be None or a non-empty set of (major, minor) tuples, got {caps!r}")
    for attr in ("act_dtypes", "out_dtypes"):
        value = getattr(cls, attr)
        if value is None and attr == "out_dtypes":
            continue
        if not isinstance(value, (set, frozenset)) or not value or not value <= set(ACT_DTYPES):
            allowed = ", ".join(dtype_name(d) for d in ACT_DTYPES)
            problems.append(f"{attr} must be a non-empty set of dtypes among {allowed}, got {value!r}")
    for attr in ("min_in_features", "min_out_features", "in_features_multiple", "out_features_multiple"):
        value = getattr(cls, attr)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            problems.append(f"{attr} must be a positive int, got {value!r}")
    for attr in ("supports_bias", "supports_bmm"):
        if not isinstance(getattr(cls, attr), bool):
            problems.append(f"{attr} must be a bool, got {getattr(cls, attr)!r}")
    passed = (f"name {getattr(cls, 'name', None)!r}, priority {getattr(cls, 'priority', None)}, "
              f"scheme {getattr(cls, 'scheme', None)}; declared limits well-formed")
    return _verdict(problems, passed)


def _is_capability(value: object) -> bool:
    return (isinstance(value, tuple) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value))


# name -> (kind, list of argument lists to bind); kind "class" or "instance"
_SIGNATURES: dict[str, tuple[str, list[tuple[tuple, dict]]]] = {
    "is_supported": ("class", [((), {}), ((None,), {}), ((), {"capability": None})]),
    "can_implement": ("class", [(("config",), {})]),
    "tolerance": ("class", [(("config",), {})]),
    "extra_platform_reasons": ("class", [(("target",), {})]),
    "extra_config_reasons": ("class", [(("config",), {})]),
    "__init__": ("instance", [(("config",), {})]),
    "prepare_weights": ("instance", [(("weight", "weight_scale"), {})]),
    "process_weights_after_loading": ("instance", [(("layer",), {})]),
    "apply_weights": ("instance", [(("layer", "x"), {}), (("layer", "x", "bias"), {}),
                                   (("layer", "x"), {"bias": None})]),
    "apply_2d": ("instance", [(("layer", "x", "bias"), {})]),
}


def _check_signatures(cls: type[Mxfp8LinearKernel]) -> Status:
    problems = []
    for method, (kind, calls) in _SIGNATURES.items():
        static = inspect.getattr_static(cls, method, None)
        if kind == "class" and not isinstance(static, (classmethod, staticmethod, hybridmethod)):
            problems.append(f"{method} must be a classmethod (it is asked before any instance exists)")
            continue
        if kind == "instance" and isinstance(static, (classmethod, staticmethod, hybridmethod)):
            problems.append(f"{method} must be an instance method")
            continue
        func = getattr(cls, method)
        try:
            signature = inspect.signature(func)
        except (TypeError, ValueError):
            continue  # builtins and C extensions: nothing to inspect
        for args, kwargs in calls:
            bound_args = (object(), *args) if kind == "instance" else args
            try:
                signature.bind(*bound_args, **kwargs)
            except TypeError as exc:
                shown = ", ".join(list(args) + [f"{k}=..." for k in kwargs])
                problems.append(f"{method}{signature} cannot be called as {method}({shown}): {exc}")
    return _verdict(problems, "protocol methods have the protocol's signatures")


def _ask_platform(cls: type[Mxfp8LinearKernel], capability: object) -> bool:
    return as_support(cls.is_supported(capability), f"is_supported({capability!r})")[0]


def _check_is_supported(cls: type[Mxfp8LinearKernel]) -> Status:
    problems: list[str] = []
    yes: list[str] = []
    for target in PLATFORM_TARGETS:
        shown = target_text(target)
        try:
            ok = _ask_platform(cls, target)
        except Problem as problem:
            problems.append(f"for {shown}: {problem}")
            continue
        except Exception as exc:  # noqa: BLE001
            problems.append(f"is_supported({shown}) raised {exc_text(exc)}")
            continue
        if ok:
            yes.append(shown)
            declared = declared_platform_violations(cls, target)
            if declared:
                problems.append(f"is_supported says yes for {shown} although the class declares {declared[0][0]}")
        # Every spelling of the same target gets the same answer.
        spellings = ["cpu"] if target.kind == CPU else [
            target.capability, f"{target.capability[0]}.{target.capability[1]}",
            f"sm_{target.capability[0]}{target.capability[1]}",
        ]
        for spelling in spellings:
            try:
                if _ask_platform(cls, spelling) != ok:
                    problems.append(f"is_supported({spelling!r}) disagrees with is_supported({target!r})")
            except Exception as exc:  # noqa: BLE001
                problems.append(f"is_supported({spelling!r}) raised {exc_text(exc)}")
    try:
        here = current_target()
        if _ask_platform(cls, None) != _ask_platform(cls, here):
            problems.append(f"is_supported() (the current device) disagrees with is_supported({here!r})")
    except Exception as exc:  # noqa: BLE001
        problems.append(f"is_supported() raised {exc_text(exc)}")
    supported = ", ".join(yes) or "none"
    return _verdict(problems, f"answers with reasons for CPU and sm_70..sm_120; supported on: {supported}")


def _check_honours_capability(cls: type[Mxfp8LinearKernel]) -> Status:
    def answers() -> dict[Target, object]:
        found: dict[Target, object] = {}
        for target in PLATFORM_TARGETS:
            try:
                found[target] = _ask_platform(cls, target)
            except Exception as exc:  # noqa: BLE001 - the is_supported check reports it
                found[target] = f"raises {type(exc).__name__}"
        return found

    real = answers()
    problems = []
    for simulated in SIMULATED_DEVICES:
        with simulated_current_device(simulated):
            fake = answers()
        where = "no GPU" if simulated is None else f"an sm_{simulated[0]}{simulated[1]} GPU"
        for target, answer in fake.items():
            if answer != real[target]:
                problems.append(
                    f"is_supported({target_text(target)}) gives {_yes_no(real[target])} on this machine but "
                    f"{_yes_no(answer)} when the current device is {where}"
                )
    if problems:
        problems.insert(0, "the answer for an explicit capability must not depend on the current device")
    return _verdict(problems, "answers for explicit targets do not change with the current device "
                              "(simulated: no GPU, sm_75, sm_90, sm_100)")


def _yes_no(answer: object) -> str:
    return "yes" if answer is True else "no" if answer is False else str(answer)


def derived_shapes(cls: type[Mxfp8LinearKernel]) -> list[tuple[int, int]]:
    """The smallest (K, N) the declared limits allow, and one a tile larger (odd N where
    N has no multiple)."""
    step_k = math.lcm(BLOCK_SIZE, max(int(cls.in_features_multiple), 1))
    k0 = -(-max(int(cls.min_in_features), BLOCK_SIZE) // step_k) * step_k
    step_n = max(int(cls.out_features_multiple), 1)
    n0 = -(-max(int(cls.min_out_features), 1) // step_n) * step_n
    n1 = n0 + 2 * step_n if step_n > 1 else (n0 + 1 if n0 % 2 == 0 else n0 + 2)
    return [(k0, n0), (k0 + step_k, n1)]


def _boundary_shapes(cls: type[Mxfp8LinearKernel]) -> list[tuple[int, int]]:
    """Shapes just outside the declared limits (each must be rejected)."""
    (k0, n0), _ = derived_shapes(cls)
    shapes = []
    if k0 - BLOCK_SIZE >= BLOCK_SIZE:
        shapes.append((k0 - BLOCK_SIZE, n0))
    if n0 - 1 >= 1:
        shapes.append((k0, n0 - 1))
    if cls.in_features_multiple > BLOCK_SIZE:
        shapes.append((k0 + BLOCK_SIZE, n0))
    if cls.out_features_multiple > 1:
        shapes.append((k0, n0 + 1))
    return shapes


def static_configs(cls: type[Mxfp8LinearKernel]) -> list[Mxfp8LinearLayerConfig]:
    shapes = list(dict.fromkeys(STATIC_SHAPES + tuple(derived_shapes(cls)) + tuple(_boundary_shapes(cls))))
    configs = [
        Mxfp8LinearLayerConfig(k, n, act, out, has_bias=bias)
        for k, n in shapes for act in ACT_DTYPES for out in ACT_DTYPES for bias in (False, True)
    ]
    configs += [Mxfp8LinearLayerConfig(256, 128, dtype, has_bias=bias, bmm_batch_size=4)
                for dtype in ACT_DTYPES for bias in (False, True)]
    return configs


def _check_can_implement(cls: type[Mxfp8LinearKernel], kwargs: dict) -> Status:
    problems: list[str] = []
    accepted = 0
    configs = static_configs(cls)
    rejected: list[Mxfp8LinearLayerConfig] = []
    for config in configs:
        try:
            ok, _ = as_support(cls.can_implement(config), "can_implement")
        except Problem as problem:
            problems.append(f"for {config.describe()}: {problem}")
            continue
        except Exception as exc:  # noqa: BLE001
            problems.append(f"can_implement({config.describe()}) raised {exc_text(exc)}")
            continue
        declared = [declaration for declaration, _ in declared_config_violations(cls, config)]
        if ok:
            accepted += 1
            if declared:
                problems.append(f"accepts {config.describe()} although the class declares {', '.join(declared)}")
        else:
            rejected.append(config)
    # The constructor must refuse what can_implement rejects (a few, varied by reason).
    for config in rejected[:: max(len(rejected) // 4, 1)][:4]:
        try:
            cls(config, **kwargs)
        except Exception as exc:  # noqa: BLE001
            if not clear_error(exc):
                problems.append(f"{cls.__name__}({config.describe()}) raised {exc_text(exc)}; expected a ValueError "
                                "saying why (the base class raises one)")
        else:
            problems.append(f"{cls.__name__}({config.describe()}) constructs a kernel although can_implement "
                            "rejects it")
    return _verdict(problems, f"accepts {accepted} and rejects {len(rejected)} of {len(configs)} configs, each "
                              "with reasons, consistently with the declared limits")


def _check_tolerance(cls: type[Mxfp8LinearKernel], kwargs: Mapping[str, object]) -> Status:
    """The class's tolerances, or with ``kernel_kwargs`` the instance's (the bound the
    runtime checks judge by: ``tolerance`` may depend on the options)."""
    problems = []
    values = []
    for config in static_configs(cls):
        try:
            if not as_support(cls.can_implement(config), "can_implement")[0]:
                continue
        except Exception:  # noqa: BLE001 - reported by can_implement
            continue
        try:
            tol = (cls(config, **kwargs) if kwargs else cls).tolerance(config)
        except Exception as exc:  # noqa: BLE001
            problems.append(f"tolerance({config.describe()}) raised {exc_text(exc)}")
            continue
        if not isinstance(tol, (int, float)) or isinstance(tol, bool) or not math.isfinite(tol) \
                or not 0 < tol <= MAX_TOLERANCE:
            problems.append(f"tolerance({config.describe()}) is {tol!r}; it must be a number in (0, {MAX_TOLERANCE}] "
                            "(a looser bound cannot tell a wrong kernel from a right one)")
        else:
            values.append(float(tol))
    if not values and not problems:
        return SKIP, "no config of the grid is accepted"
    span = f"{min(values):.2g}..{max(values):.2g}" if values else "-"
    return _verdict(problems, f"declared tolerances {span}")


# =========================================================================== runtime checks
@dataclass(frozen=True)
class _Spec:
    config: Mxfp8LinearLayerConfig
    ms: tuple[int, ...]
    large_m: int | None = None


def _accepts(cls: type[Mxfp8LinearKernel], config: Mxfp8LinearLayerConfig) -> bool:
    try:
        return as_support(cls.can_implement(config), "can_implement")[0]
    except Exception:  # noqa: BLE001 - reported by the can_implement check
        return False


def runtime_plan(cls: type[Mxfp8LinearKernel], device: str, quick: bool) -> list[_Spec]:
    """The configs (and M values) the runtime checks run on ``device``."""
    cuda = device == CUDA
    # 65 and 100: a partial tile past 64 rows, between decode and the large M
    ms = ((1, 33, 65) if quick else (1, 5, 33, 65, 100, 300)) if cuda else ((1, 5, 65) if quick else (1, 5, 33, 65, 100))
    large_m = (1024 if quick else 4096) if cuda else (256 if quick else 512)
    large_shape = ((4096, 2048) if quick else (4096, 4096)) if cuda else ((512, 192) if quick else (1024, 320))
    pairs = list(PREFERRED_PAIRS) + [(a, o) for a in ACT_DTYPES for o in ACT_DTYPES if (a, o) not in PREFERRED_PAIRS]
    specs: dict[Mxfp8LinearLayerConfig, _Spec] = {}

    def add(k: int, n: int, act: torch.dtype, out: torch.dtype, bias: bool, big: bool = False) -> bool:
        config = Mxfp8LinearLayerConfig(k, n, act, out, has_bias=bias)
        if config in specs or not _accepts(cls, config):
            return False
        specs[config] = _Spec(config, ms, large_m if big else None)
        return True

    def preferred(k: int, n: int) -> tuple[torch.dtype, torch.dtype] | None:
        return next((p for p in pairs if _accepts(cls, Mxfp8LinearLayerConfig(k, n, *p))
                     or _accepts(cls, Mxfp8LinearLayerConfig(k, n, *p, has_bias=True))), None)

    derived = derived_shapes(cls)
    main = next((s for s in [(256, 128), *derived, large_shape] if preferred(*s)), None)
    if main is None:
        return []
    best = preferred(*main)
    # Every accepted dtype pair on the main shape, with and without bias (quick: alternating).
    for index, (act, out) in enumerate(pairs):
        both = not quick or (act, out) == best
        for bias in ((False, True) if both else (index % 2 == 1,)):
            add(*main, act, out, bias, big=(act, out) == best)
    # Odd N, N = 1, K = 32, five blocks, a square (a transposed weight gives the right shape),
    # the smallest allowed shapes: the preferred pair.
    for index, (k, n) in enumerate([(32, 33), (64, 1), (160, 17), (128, 128), *derived]):
        pair = preferred(k, n)
        if pair is None:
            continue
        for bias in ((False, True) if not quick else (index % 2 == 0,)):
            add(k, n, *pair, bias)
    pair = preferred(*large_shape)
    if pair is not None:
        for bias in ((True,) if quick else (False, True)):
            add(*large_shape, *pair, bias, big=True)
    return list(specs.values())


def _input_cases(k: int, spec: _Spec) -> list[tuple[str, tuple[int, ...], Callable | None]]:
    """(label, shape to draw, view to take of it) for one config."""
    cases: list[tuple[str, tuple[int, ...], Callable | None]] = [(f"M={m}", (m, k), None) for m in spec.ms]
    cases += [
        ("M=0", (0, k), None),
        ("3-D [2, 0, K] (M=0)", (2, 0, k), None),
        ("3-D [2, 3, K]", (2, 3, k), None),
        ("3-D permuted (non-contiguous)", (3, 2, k), lambda t: t.transpose(0, 1)),
        ("row-strided slice (non-contiguous)", (7, k + 64), lambda t: t[:, 32:32 + k]),
        ("column-major (transposed)", (k, 6), lambda t: t.t()),
    ]
    if spec.large_m:
        cases.append((f"M={spec.large_m}", (spec.large_m, k), None))
    return cases


class _DeviceRun:
    """Every runtime check of one kernel on one device."""

    def __init__(self, cls: type[Mxfp8LinearKernel], kwargs: dict, device: torch.device, quick: bool,
                 gen: torch.Generator) -> None:
        self.cls, self.kwargs, self.device, self.quick, self.gen = cls, kwargs, device, quick, gen
        self.problems: dict[str, list[str]] = {check: [] for check in RUNTIME_CHECKS}
        self.worst: dict[str, float] = {"numerics": 0.0, "bias": 0.0}  # largest error / tolerance
        self.calls = 0

    def fail(self, check: str, text: str) -> None:
        self.problems[check].append(text)

    def run(self) -> dict[str, Status]:
        plan = runtime_plan(self.cls, self.device.type, self.quick)
        if not plan:
            why = "no config of the runtime grid is accepted by can_implement"
            return {check: (SKIP, why) for check in RUNTIME_CHECKS}
        for spec in plan:
            self._run_config(spec)
        main = plan[0].config
        results: dict[str, Status] = {}
        for check, step in (("process_twice", self._process_twice), ("process_atomic", self._process_atomic),
                            ("bad_weights", self._bad_weights), ("bad_inputs", self._bad_inputs)):
            outcome = _guard(lambda: step(main))
            if outcome is not None:
                results[check] = outcome
        n_configs = len(plan)
        summary = {
            "runs_accepted": f"{n_configs} accepted configs, {self.calls} calls ran",
            "output_contract": f"shape, dtype, device and finite values right in {self.calls} calls",
            "numerics": self._numerics_text("numerics", plan, bias=False),
            "bias": self._numerics_text("bias", plan, bias=True),
            "inputs_unchanged": "activations, bias and the layer's tensors unchanged by every call",
        }
        for check, passed in summary.items():
            if check in ("numerics", "bias") and not any(s.config.has_bias == (check == "bias") for s in plan):
                results[check] = (SKIP, f"no accepted config {'with' if check == 'bias' else 'without'} a bias")
            else:
                results[check] = _verdict(self.problems[check], passed)
        return {check: results.get(check) or _verdict(self.problems[check], "ok") for check in RUNTIME_CHECKS}

    def _numerics_text(self, check: str, plan: list[_Spec], bias: bool) -> str:
        n = sum(s.config.has_bias == bias for s in plan)
        return f"{n} configs: largest error {self.worst[check]:.2f}x the declared tolerance"

    # ------------------------------------------------------------------ building blocks
    def _kernel(self, config: Mxfp8LinearLayerConfig, cls: type | None = None) -> Mxfp8LinearKernel:
        return (cls or self.cls)(config, **self.kwargs)

    def _processed(self, config: Mxfp8LinearLayerConfig) -> tuple[Mxfp8LinearKernel, Built]:
        built = Built(config, self.device, self.gen)
        kernel = self._kernel(config)
        kernel.process_weights_after_loading(built.layer)
        return kernel, built

    def _input(self, config: Mxfp8LinearLayerConfig, shape: tuple[int, ...], view=None) -> torch.Tensor:
        return random_input(shape, config.act_dtype, self.device, self.gen, view)

    def _error_ratio(self, kernel, built: Built, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        tol = float(kernel.tolerance(built.config))
        return rel_error(y, built.reference(x)), tol

    # ------------------------------------------------------------------ the grid
    def _run_config(self, spec: _Spec) -> None:
        config = spec.config
        what = config.describe()
        try:
            kernel = self._kernel(config)
        except Exception as exc:  # noqa: BLE001
            self.fail("runs_accepted", f"{what}: can_implement accepts it but the constructor raised {exc_text(exc)}")
            return
        built = Built(config, self.device, self.gen)
        try:
            kernel.process_weights_after_loading(built.layer)
        except Exception as exc:  # noqa: BLE001
            self.fail("runs_accepted", f"{what}: process_weights_after_loading raised {exc_text(exc)}")
            return
        processed = Snapshot(built.layer)
        pooled = [0.0, 0.0, 0]  # squared error, squared reference, outputs
        cases = [(*case, None) for case in _input_cases(config.in_features, spec)]
        if config.has_bias:  # the bias argument, not the layer's: other values, and the other dtype allowed
            m, rms = max(spec.ms), float(built.bias.float().norm()) / config.out_features**0.5
            for dtype in dict.fromkeys((config.out_dtype, config.act_dtype)):
                other = torch.randn(config.out_features, generator=self.gen) * rms
                cases.append((f"M={m}, a bias of its own in {dtype_name(dtype)}", (m, config.in_features), None,
                              other.to(dtype).to(self.device)))
        earlier = None  # an earlier call's output and its copy: a later call must not write it
        for label, shape, view, bias in cases:
            y = self._call(kernel, built, label, shape, view, pooled, bias)
            if earlier is not None and not torch.equal(*earlier[1:]):
                self.fail("output_contract", f"{what}: the output of the call with input {earlier[0]} changed "
                                             f"during a later call (an output must be memory of its own)")
                earlier = None
            if earlier is None and y is not None and y.numel():
                earlier = (label, y, y.clone())
        if pooled[1]:
            # Activation quantization (W8A8) is only bounded in aggregate, so the calls with
            # fewer than SINGLE_CALL_OUTPUTS outputs are judged together.
            self._judge(kernel, built, f"{what}, all {pooled[2]} outputs of its calls under {SINGLE_CALL_OUTPUTS}",
                        (pooled[0] / pooled[1]) ** 0.5)
        changes = processed.changes(built.layer)
        if changes:
            self.fail("inputs_unchanged", f"{what}: apply_weights modified the layer: {limited(changes, 2)}")

    def _call(self, kernel, built: Built, label: str, shape: tuple[int, ...], view, pooled: list,
              bias: torch.Tensor | None = None) -> torch.Tensor | None:
        """One call (``bias``: the argument given instead of the layer's own), judged; its
        output where the contract holds."""
        config = built.config
        what = f"{config.describe()}, input {label}"
        x = self._input(config, shape, view)
        x_before, x_stride = x.clone(), x.stride()
        given = bias is not None
        bias = bias if given else (built.layer.bias if config.has_bias else None)
        bias_before = None if bias is None else (bias.detach().clone(), bias.stride())
        self.calls += 1
        try:
            y = kernel.apply_weights(built.layer, x, bias)
        except KernelContractError as exc:
            self.fail("output_contract", f"{what}: {exc_text(exc)}")
            return None
        except Exception as exc:  # noqa: BLE001
            self.fail("runs_accepted", f"{what}: apply_weights raised {exc_text(exc)}")
            return None
        finally:
            if not same_tensor(x_before, x, x_stride):
                self.fail("inputs_unchanged", f"{what}: apply_weights modified the caller's activations")
            if bias_before is not None and not same_tensor(bias_before[0], bias, bias_before[1]):
                self.fail("inputs_unchanged", f"{what}: apply_weights modified the bias")
        expected = (*x.shape[:-1], config.out_features)
        if not isinstance(y, torch.Tensor):
            self.fail("output_contract", f"{what}: apply_weights returned {type(y).__name__}, not a tensor")
            return None
        wrong = []
        if tuple(y.shape) != expected:
            wrong.append(f"shape {tuple(y.shape)} (expected {expected})")
        if y.dtype != config.out_dtype:
            wrong.append(f"dtype {dtype_name(y.dtype)} (expected {dtype_name(config.out_dtype)})")
        if y.device != x.device:
            wrong.append(f"device {y.device} (the input is on {x.device})")
        if not wrong and y.numel() and not bool(torch.isfinite(y).all()):
            bad = int((~torch.isfinite(y)).sum())
            wrong.append(f"{bad} of {y.numel()} outputs are not finite")
        if wrong:
            self.fail("output_contract", f"{what}: output has {', '.join(wrong)}")
            return None
        if y.numel() == 0:
            return y
        ref = built.reference(x_before, bias.float() if given else None)
        err2, ref2 = float((y.float() - ref).pow(2).sum()), float(ref.pow(2).sum())
        if y.numel() >= SINGLE_CALL_OUTPUTS or not math.isfinite(err2):
            self._judge(kernel, built, what, (err2 / ref2) ** 0.5 if ref2 else float("inf"))
            return y
        # Too few outputs to judge alone: pooled with the other small calls only (pooled with
        # a large one, a decode path returning zeros at M = 1 would hide in its error).
        pooled[0] += err2
        pooled[1] += ref2
        pooled[2] += y.numel()
        return y

    def _judge(self, kernel, built: Built, what: str, error: float) -> None:
        tol = float(kernel.tolerance(built.config))
        check = "bias" if built.config.has_bias else "numerics"
        self.worst[check] = max(self.worst[check], error / tol)
        if not error <= tol:
            self.fail(check, f"{what}: relative error {error:.3g} > tolerance {tol:.3g}")

    # ------------------------------------------------------------------ processing
    def _process_twice(self, config: Mxfp8LinearLayerConfig) -> Status:
        kernel, built = self._processed(config)
        snapshot = Snapshot(built.layer)
        problems = []
        for who, again in (("the same kernel", kernel), ("a new instance of the kernel", self._kernel(config))):
            try:
                again.process_weights_after_loading(built.layer)
            except Exception as exc:  # noqa: BLE001
                problems.append(f"processing again with {who} raised {exc_text(exc)}")
                continue
            changes = snapshot.changes(built.layer)
            if changes:
                problems.append(f"processing again with {who} changed the layer: {limited(changes, 2)}")
        problems += self._same_as_fresh(kernel, built, "after processing twice")
        return _verdict(problems, f"{config.describe()}: a second process_weights_after_loading is a no-op")

    def _same_as_fresh(self, kernel, built: Built, when: str) -> list[str]:
        """Problems if ``built`` (processed in some unusual way) computes something else
        than a twin layer with the same weights processed once, normally. Faults that a
        fresh layer shows too are the grid checks' business, not reported here."""
        twin = built.twin()
        m = min(-(-SINGLE_CALL_OUTPUTS * 4 // built.config.out_features), 1024)
        x = self._input(built.config, (m, built.config.in_features))
        bias = (lambda b: b.layer.bias if b.config.has_bias else None)
        try:
            fresh = self._kernel(built.config)
            fresh.process_weights_after_loading(twin.layer)
            expected = fresh.apply_weights(twin.layer, x.clone(), bias(twin))
            if not isinstance(expected, torch.Tensor) or not bool(torch.isfinite(expected.float()).all()):
                return []
        except Exception:  # noqa: BLE001 - the grid checks report it
            return []
        try:
            y = kernel.apply_weights(built.layer, x.clone(), bias(built))
        except Exception as exc:  # noqa: BLE001
            return [f"{when}, apply_weights raised {exc_text(exc)} (a freshly processed layer works)"]
        if not isinstance(y, torch.Tensor) or y.shape != expected.shape or y.dtype != expected.dtype:
            return [f"{when}, apply_weights returned {type(y).__name__} unlike a freshly processed layer"]
        tol = float(kernel.tolerance(built.config))
        error = rel_error(y, expected.float())
        if not error <= tol:
            return [f"{when}, the output differs from a freshly processed layer's by {error:.3g} (relative; "
                    f"tolerance {tol:.3g})"]
        return []

    def _process_atomic(self, config: Mxfp8LinearLayerConfig) -> Status:
        failing = _failing_subclass(self.cls)
        built = Built(config, self.device, self.gen)
        snapshot = Snapshot(built.layer)
        try:
            self._kernel(config, failing).process_weights_after_loading(built.layer)
        except Exception as exc:  # noqa: BLE001
            raised = exc
        else:
            return SKIP, ("process_weights_after_loading never called prepare_weights, so the kit could not inject "
                          "a failure half-way (bad_weights still checks failures on corrupt checkpoints)")
        problems = []
        if not _caused_by_injection(raised):
            problems.append(f"the injected failure did not come through: process_weights_after_loading raised "
                            f"{exc_text(raised)} instead")
        changes = snapshot.changes(built.layer)
        if changes:
            problems.append(f"after a failure half-way through processing, {limited(changes, 3)}")
        try:
            kernel = self._kernel(config)
            kernel.process_weights_after_loading(built.layer)
        except Exception as exc:  # noqa: BLE001
            problems.append(f"processing the layer again after the failure raised {exc_text(exc)}")
        else:
            problems += self._same_as_fresh(kernel, built, "after a failed then a successful processing")
        return _verdict(problems, "a failure half-way through processing leaves the layer as it was")

    def _bad_weights(self, config: Mxfp8LinearLayerConfig) -> Status:
        problems = []
        n, k = config.out_features, config.in_features

        def nan_scale(built: Built) -> None:
            scale = built.layer.weight_scale.data
            scale[n // 2, (k // BLOCK_SIZE) // 2] = SCALE_NAN

        def wrong_dtype(built: Built) -> None:
            built.layer.weight = torch.nn.Parameter(built.weight.to(torch.bfloat16), requires_grad=False)

        def wrong_scale_shape(built: Built) -> None:
            built.layer.weight_scale = torch.nn.Parameter(built.weight_scale.repeat(1, 2), requires_grad=False)

        for label, corrupt in (("a NaN scale byte (0xFF)", nan_scale), ("a bf16 weight", wrong_dtype),
                               ("scales of shape [N, 2K/32]", wrong_scale_shape)):
            built = Built(config, self.device, self.gen)
            corrupt(built)
            snapshot = Snapshot(built.layer)
            try:
                self._kernel(config).process_weights_after_loading(built.layer)
            except Exception as exc:  # noqa: BLE001
                if not clear_error(exc):
                    problems.append(f"a layer with {label}: raised {exc_text(exc)}, not a clear ValueError/TypeError")
            else:
                problems.append(f"a layer with {label} was processed without an error")
            changes = snapshot.changes(built.layer)
            if changes:
                problems.append(f"a layer with {label} was changed by the failed processing: {limited(changes, 2)}")
        return _verdict(problems, "NaN scale bytes, a wrong weight dtype and wrong scale shapes raise clear errors "
                                  "and leave the layer untouched")

    def _bad_inputs(self, config: Mxfp8LinearLayerConfig) -> Status:
        kernel, built = self._processed(config)
        k = config.in_features
        other = next(d for d in ACT_DTYPES if d != config.act_dtype)
        cases = [
            (f"dtype {dtype_name(other)}", lambda: self._input(config, (3, k)).to(other)),
            ("dtype float64", lambda: self._input(config, (3, k)).to(torch.float64)),
            (f"K={k + BLOCK_SIZE}", lambda: self._input(config, (3, k + BLOCK_SIZE))),
            (f"K={k + 1}", lambda: self._input(config, (3, k + 1))),
            (f"K={k // 2}", lambda: self._input(config, (3, k // 2))),
        ]
        snapshot = Snapshot(built.layer)
        problems = []
        for label, make in cases:
            x = make()
            before, stride = x.clone(), x.stride()
            try:
                kernel.apply_weights(built.layer, x, built.layer.bias if config.has_bias else None)
            except Exception as exc:  # noqa: BLE001
                if not clear_error(exc):
                    problems.append(f"input with {label}: raised {exc_text(exc)}, not a clear ValueError/TypeError")
            else:
                problems.append(f"input with {label} (layer {config.describe()}) was accepted")
            if not same_tensor(before, x, stride):
                problems.append(f"input with {label} was modified")
        changes = snapshot.changes(built.layer)
        if changes:
            problems.append(f"bad inputs changed the layer: {limited(changes, 2)}")
        return _verdict(problems, "wrong activation dtypes and wrong K raise clear errors")


class InjectedFailure(RuntimeError):
    """Raised by the kit's wrapper right after the kernel's real ``prepare_weights``."""


def _failing_subclass(cls: type[Mxfp8LinearKernel]) -> type[Mxfp8LinearKernel]:
    def prepare_weights(self, weight, weight_scale):
        cls.prepare_weights(self, weight, weight_scale)
        raise InjectedFailure("failure injected by the mxfp8 conformance kit after prepare_weights ran")

    return type(f"{cls.__name__}FailingHalfway", (cls,), {"prepare_weights": prepare_weights,
                                                           "__module__": __name__})


def _caused_by_injection(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, InjectedFailure):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False
