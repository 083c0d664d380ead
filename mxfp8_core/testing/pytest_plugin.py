"""pytest plugin of the MXFP8 conformance kit (entry point ``mxfp8_conformance`` in the
``pytest11`` group, so installing mxfp8-core makes it available).

It does nothing unless asked, in one of three ways:

1. On the command line, for installed kernels (the names ``mxfp8 plugins`` lists)::

       pytest --mxfp8-kernel=marlin            # or a comma list, or "all"; --mxfp8-quick

   adds one test per conformance check, ``mxfp8-conformance/marlin::numerics[cuda]``.

2. In a test module, one test per check of a kernel class::

       @pytest.mark.mxfp8_conformance(MyKernel, quick=True)
       def test_conformance(mxfp8_check):
           mxfp8_check.assert_ok()

3. The whole report in one test::

       @pytest.mark.mxfp8_conformance(MyKernel, kernel_kwargs={"mode": "fast"})
       def test_conformance(mxfp8_report):
           assert mxfp8_report.ok, mxfp8_report.format_table()

The marker takes the keyword arguments of :func:`mxfp8_core.testing.check_kernel`.
``--mxfp8-seed`` fixes the random data (the default is a fresh seed, printed in every
report). Each kernel's suite runs once per session however many tests read it.

Importing this module imports pytest only; the kit is imported when first used.
"""

from __future__ import annotations

from typing import Any

import pytest

MARKER = "mxfp8_conformance"
_CACHE = pytest.StashKey[dict]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mxfp8", "MXFP8 kernel conformance (mxfp8_core.testing)")
    group.addoption(
        "--mxfp8-kernel", action="append", default=[], metavar="NAME",
        help="run the conformance suite on the installed kernel NAME (repeat, comma-separate, or 'all')",
    )
    group.addoption("--mxfp8-quick", action="store_true", help="conformance: the smaller grid of shapes")
    group.addoption("--mxfp8-seed", type=int, default=None, metavar="N",
                    help="conformance: seed of the random data (default: MXFP8_CONFORMANCE_SEED or fresh)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(kernel_cls, **check_kernel_kwargs): run the MXFP8 conformance suite on kernel_cls; the "
        "test takes the mxfp8_check fixture (one test per check) or mxfp8_report (the whole report); with no "
        f"keyword argument write {MARKER}.with_args(kernel_cls)",
    )
    config.stash[_CACHE] = {}


# ----------------------------------------------------------------------- shared runs
def _options(config: pytest.Config, kwargs: dict[str, Any]) -> dict[str, Any]:
    options = dict(kwargs)
    if config.getoption("mxfp8_quick"):
        options["quick"] = True
    if options.get("seed") is None and config.getoption("mxfp8_seed") is not None:
        options["seed"] = config.getoption("mxfp8_seed")
    return options


def _key(kernel_cls: type, options: dict[str, Any]) -> tuple:
    return (kernel_cls, repr(sorted(options.items())))


def _report(config: pytest.Config, kernel_cls: type, options: dict[str, Any]):
    from .conformance import check_kernel

    cache = config.stash[_CACHE]
    key = _key(kernel_cls, options)
    if key not in cache:
        cache[key] = check_kernel(kernel_cls, **options)
    return cache[key]


def _marker_args(node: Any) -> tuple[type, dict[str, Any]]:
    marker = node.get_closest_marker(MARKER)
    if marker is None:
        raise pytest.UsageError(
            f"the mxfp8 conformance fixtures need @pytest.mark.{MARKER}(KernelClass, quick=...) or "
            f"@pytest.mark.{MARKER}.with_args(KernelClass) on the test (pytest takes a mark called with a class "
            f"alone for a class decorator)"
        )
    if len(marker.args) != 1:
        raise pytest.UsageError(f"@pytest.mark.{MARKER} takes one kernel class, got {marker.args!r}")
    return marker.args[0], dict(marker.kwargs)


def _show(result) -> None:
    from .report import SKIP

    if result.status == SKIP:
        pytest.skip(result.message)


# ----------------------------------------------------------------------- marker mode
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "mxfp8_check" not in metafunc.fixturenames:
        return
    from .conformance import planned_checks

    kernel_cls, kwargs = _marker_args(metafunc.definition)
    names = planned_checks(kernel_cls, devices=kwargs.get("devices"))
    metafunc.parametrize("mxfp8_check", names, ids=names, indirect=True)


@pytest.fixture
def mxfp8_check(request: pytest.FixtureRequest):
    """The :class:`~mxfp8_core.testing.CheckResult` of one conformance check (the test is
    parametrized over every check; skipped checks skip the test)."""
    kernel_cls, kwargs = _marker_args(request.node)
    result = _report(request.config, kernel_cls, _options(request.config, kwargs))[request.param]
    _show(result)
    return result


@pytest.fixture
def mxfp8_report(request: pytest.FixtureRequest):
    """The :class:`~mxfp8_core.testing.ConformanceReport` of the marker's kernel class."""
    kernel_cls, kwargs = _marker_args(request.node)
    return _report(request.config, kernel_cls, _options(request.config, kwargs))


# ----------------------------------------------------------------------- option mode
class ConformanceFailure(Exception):
    """A failed conformance check (shown without a traceback)."""


class _Item(pytest.Item):
    def repr_failure(self, excinfo, style=None):  # noqa: ANN001 - pytest's signature
        if isinstance(excinfo.value, ConformanceFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)


class ConformanceItem(_Item):
    """One check of one installed kernel, added by ``--mxfp8-kernel``."""

    def __init__(self, *, kernel_cls: type, check: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kernel_cls = kernel_cls
        self.check = check

    def runtest(self) -> None:
        result = _report(self.config, self.kernel_cls, _options(self.config, {}))[self.check]
        _show(result)
        if not result.ok:
            raise ConformanceFailure(f"{self.kernel_cls.name}: {result.name} failed: {result.message}")

    def reportinfo(self):
        return self.path, None, f"mxfp8 conformance of {self.kernel_cls.name}: {self.check}"


class PluginLoadItem(_Item):
    """Under ``--mxfp8-kernel=all``, a plugin that failed to load: its kernels were not checked."""

    def __init__(self, *, info: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.info = info

    def runtest(self) -> None:
        raise ConformanceFailure(f"plugin {self.info.name} ({self.info.label}) failed to load, its kernels "
                                 f"were not checked: {'; '.join(self.info.errors)}")

    def reportinfo(self):
        return self.path, None, f"mxfp8 plugin {self.info.name} loads"


class ConformanceCollector(pytest.Collector):
    """The checks of one installed kernel."""

    def __init__(self, *, kernel_cls: type, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kernel_cls = kernel_cls

    def collect(self):
        from .conformance import planned_checks

        return [ConformanceItem.from_parent(self, name=check, kernel_cls=self.kernel_cls, check=check)
                for check in planned_checks(self.kernel_cls)]


def _requested_names(values: list[str]) -> list[str]:
    """The names in ``--mxfp8-kernel`` values (each a comma list)."""
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def requested_kernels(values: list[str]) -> list[type]:
    """Kernel classes for ``--mxfp8-kernel`` values; a usage error names the installed ones."""
    from ..discovery import get_registry

    names = _requested_names(values)
    registry = get_registry()
    installed = registry.names()
    unknown = [name for name in names if name not in installed and name != "all"]  # "all,typo" too
    if unknown:
        raise pytest.UsageError(
            f"--mxfp8-kernel: no installed kernel named {', '.join(map(repr, unknown))}; installed kernels: "
            f"{', '.join(installed) or 'none'} (see `mxfp8 plugins`)"
        )
    if "all" in names:
        return [entry.kernel for entry in registry.kernels()]
    return [registry.get(name).kernel for name in dict.fromkeys(names)]


@pytest.hookimpl(tryfirst=True)  # before -k/-m/--deselect filter the items
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    values = config.getoption("mxfp8_kernel")
    if not values:
        return
    for kernel_cls in requested_kernels(values):
        name = f"mxfp8-conformance/{kernel_cls.name}"
        collector = ConformanceCollector.from_parent(session, name=name, nodeid=name, kernel_cls=kernel_cls)
        items.extend(collector.collect())
    if "all" in _requested_names(values):
        from ..discovery import get_registry

        for info in get_registry().plugins():
            if info.errors:
                name = f"mxfp8-plugin-load/{info.name}"
                items.append(PluginLoadItem.from_parent(session, name=name, nodeid=name, info=info))
