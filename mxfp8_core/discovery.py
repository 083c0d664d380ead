"""Plugin discovery: entry points in the group ``mxfp8_core.plugins``, isolated.

A plugin whose import raises, whose registration or hook raises, or whose hook returns
something other than kernel classes never breaks the host: the failure is recorded on
its :class:`PluginInfo`, logged once, and shown by ``mxfp8 plugins``. With
``MXFP8_STRICT_PLUGINS=1`` (or ``strict=True``) the first failure raises
:class:`~mxfp8_core.PluginLoadError` instead. ``MXFP8_DISABLE_PLUGIN_AUTOLOAD=1`` (or
``autoload=False``) loads no entry points; plugins can still be registered in code.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from . import hookspecs
from ._text import describe
from .errors import PluginLoadError, UnknownKernelError
from .kernel import Mxfp8LinearKernel, check_kernel_class

logger = logging.getLogger("mxfp8_core")

ENV_DISABLE_AUTOLOAD = "MXFP8_DISABLE_PLUGIN_AUTOLOAD"
ENV_STRICT = "MXFP8_STRICT_PLUGINS"
_TRUE = {"1", "true", "yes", "on"}
# Registry serials: unlike id(), never reused in a process, so caches keyed on them
# cannot hand one registry's results to a later one.
_serials = itertools.count()


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


@dataclass(frozen=True)
class PluginInfo:
    """One plugin: where it came from, what it provides, and what went wrong."""

    name: str
    source: str  # "entry point 'name = module:attr'" or "registered in code"
    distribution: str | None = None
    version: str | None = None
    kernels: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def label(self) -> str:
        if self.distribution is None:
            return self.name
        return f"{self.distribution} {self.version}" if self.version else self.distribution

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "distribution": self.distribution,
            "version": self.version,
            "kernels": list(self.kernels),
            "errors": list(self.errors),
        }


@dataclass(frozen=True)
class KernelEntry:
    """A kernel class together with the plugin that provided it."""

    kernel: type[Mxfp8LinearKernel]
    plugin: PluginInfo

    @property
    def name(self) -> str:
        return self.kernel.name


@dataclass
class _Plugin:
    name: str
    source: str
    distribution: str | None = None
    version: str | None = None
    errors: list[str] = field(default_factory=list)


class PluginRegistry:
    """The plugins and kernels of one process (or of a test).

    Entry points are loaded on first use; kernels are collected by calling each plugin's
    ``mxfp8_core_kernels`` hook on its own, so one failure cannot hide the others.
    """

    def __init__(self, *, autoload: bool | None = None, strict: bool | None = None) -> None:
        self._autoload = autoload
        self._strict = strict
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._plugins: dict[str, _Plugin] = {}
        self._lock = threading.RLock()
        self._loaded = False
        self._entries: tuple[KernelEntry, ...] | None = None
        self._infos: tuple[PluginInfo, ...] = ()
        self.generation = 0  # bumps whenever the set of plugins changes
        self.serial = next(_serials)  # unique for the process's life (id() is reused)

    # ------------------------------------------------------------------ loading
    @property
    def strict(self) -> bool:
        return env_flag(ENV_STRICT) if self._strict is None else self._strict

    @property
    def autoload(self) -> bool:
        return not env_flag(ENV_DISABLE_AUTOLOAD) if self._autoload is None else self._autoload

    def autoload_off_reason(self) -> str | None:
        """Why entry points are not loaded, for messages (None: they are)."""
        if self.autoload:
            return None
        if self._autoload is False:
            return "plugin autoload is off: the registry was built with autoload=False"
        return f"plugin autoload is off: {ENV_DISABLE_AUTOLOAD} is set"

    def _strict_source(self) -> str:
        """Where strict mode was turned on, for messages."""
        return "the registry was built with strict=True" if self._strict else f"{ENV_STRICT} is set"

    def load(self) -> None:
        """Load entry-point plugins once (unless autoload is off). In strict mode a broken
        plugin raises, and every later call raises again: the plugins loaded before it are
        dropped, so a partial set is never used."""
        with self._lock:
            if self._loaded:
                return
            if self.autoload:
                try:
                    for ep in _entry_points():
                        self._load_entry_point(ep)
                except BaseException:  # strict mode's PluginLoadError, or an interrupt
                    for name in self._plugins:
                        if self._pm.get_plugin(name) is not None:
                            self._pm.unregister(name=name)
                    self._plugins.clear()
                    raise
            self._loaded = True
            self._changed()

    def _load_entry_point(self, ep: metadata.EntryPoint) -> None:
        dist = getattr(ep, "dist", None)
        record = _Plugin(
            name=ep.name,
            source=f"entry point '{ep.name} = {ep.value}'",
            distribution=dist.name if dist is not None else None,
            version=dist.version if dist is not None else None,
        )
        if ep.name in self._plugins:
            record.errors.append(f"another plugin is already registered as {ep.name!r}; this one was skipped")
            self._plugins[f"{ep.name}@{record.distribution}"] = record
            self._fail(record, None)
            return
        self._plugins[ep.name] = record
        try:
            obj = ep.load()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - a plugin (even one calling sys.exit) must not break the host
            record.errors.append(f"import failed: {_format_exc(exc)}")
            self._fail(record, exc)
            return
        self._register(record, obj)

    def register(self, plugin: object, name: str | None = None) -> str:
        """Register a plugin object (module, class or instance with hook implementations)
        in code; returns the name it is registered under."""
        with self._lock:
            self.load()
            name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
            if name in self._plugins:
                raise ValueError(f"a plugin named {name!r} is already registered")
            record = _Plugin(name=name, source="registered in code")
            self._plugins[name] = record
            try:
                self._register(record, plugin)
                if self.strict:  # check its kernels now: a plugin that would break kernels() is refused
                    self._collect()
            except PluginLoadError:  # strict mode: nothing of it stays registered
                del self._plugins[name]
                if self._pm.get_plugin(name) is not None:
                    self._pm.unregister(name=name)
                raise
            self._changed()
            return name

    def unregister(self, name: str) -> None:
        with self._lock:
            if self._plugins.pop(name, None) is None:
                raise KeyError(f"no plugin named {name!r} is registered")
            if self._pm.get_plugin(name) is not None:
                self._pm.unregister(name=name)
            self._changed()

    def _register(self, record: _Plugin, obj: object) -> None:
        try:
            self._pm.register(obj, name=record.name)
        except Exception as exc:  # noqa: BLE001
            record.errors.append(f"registration failed: {_format_exc(exc)}")
            self._fail(record, exc)

    def _fail(self, record: _Plugin, exc: BaseException | None) -> None:
        message = f"mxfp8 plugin {record.name!r} ({record.source}): {record.errors[-1]}"
        if self.strict:
            raise PluginLoadError(f"{message} [{self._strict_source()}]") from exc
        logger.warning("%s; it is skipped (run `mxfp8 plugins` for details)", message)

    def _changed(self) -> None:
        self._entries = None
        self.generation += 1

    # ------------------------------------------------------------------ kernels
    def kernels(self) -> tuple[KernelEntry, ...]:
        """Every valid kernel of every plugin, sorted by name."""
        self.load()
        entries = self._entries
        if entries is None:
            with self._lock:
                entries = self._collect()
        return entries

    def plugins(self) -> tuple[PluginInfo, ...]:
        self.kernels()
        return self._infos

    def get(self, name: str) -> KernelEntry:
        for entry in self.kernels():
            if entry.name == name:
                return entry
        raise UnknownKernelError(f"no kernel named {name!r}; known kernels: {', '.join(self.names()) or 'none'}")

    def names(self) -> tuple[str, ...]:
        return tuple(entry.name for entry in self.kernels())

    def _collect(self) -> tuple[KernelEntry, ...]:
        found: dict[str, KernelEntry] = {}
        provided: dict[str, list[str]] = {name: [] for name in self._plugins}
        errors: dict[str, list[str]] = {name: list(record.errors) for name, record in self._plugins.items()}
        impls = {impl.plugin_name: impl for impl in self._pm.hook.mxfp8_core_kernels.get_hookimpls()}
        for name, record in self._plugins.items():
            if record.errors:
                continue
            impl = impls.get(name)
            if impl is None:
                errors[name].append("provides no kernels: it implements no mxfp8_core_kernels hook")
                self._fail_collect(record, errors[name][-1])
                continue
            valid: dict[str, type[Mxfp8LinearKernel]] = {}
            for kernel, problem in _call_hook(impl.function):
                if problem is None and (kernel.name in found or kernel.name in valid):
                    other = found[kernel.name].plugin.name if kernel.name in found else name
                    problem = f"kernel name {kernel.name!r} is already provided by plugin {other!r}"
                if problem is not None:
                    errors[name].append(problem)
                    self._fail_collect(record, problem)
                else:
                    valid[kernel.name] = kernel
            if errors[name]:
                continue  # a plugin with any invalid kernel is skipped whole, as its log line says
            info = PluginInfo(record.name, record.source, record.distribution, record.version)
            for kernel_name, kernel in valid.items():
                found[kernel_name] = KernelEntry(kernel, info)
                provided[name].append(kernel_name)
        infos = {
            name: PluginInfo(
                record.name, record.source, record.distribution, record.version,
                tuple(provided[name]), tuple(errors[name]),
            )
            for name, record in self._plugins.items()
        }
        entries = tuple(
            KernelEntry(entry.kernel, infos[entry.plugin.name]) for _, entry in sorted(found.items())
        )
        self._infos = tuple(infos[name] for name in sorted(infos))
        self._entries = entries
        return entries

    def _fail_collect(self, record: _Plugin, problem: str) -> None:
        message = f"mxfp8 plugin {record.name!r} ({record.source}): {problem}"
        if self.strict:
            raise PluginLoadError(f"{message} [{self._strict_source()}]")
        logger.warning("%s; it is skipped (run `mxfp8 plugins` for details)", message)


def _call_hook(function: Any) -> list[tuple[type[Mxfp8LinearKernel] | None, str | None]]:
    """Call one plugin's hook; returns ``(kernel, None)`` per valid kernel and
    ``(None, problem)`` per failure."""
    try:
        result = function()
        # A string or a class is no collection of kernels even where it is iterable.
        if result is not None and (isinstance(result, (str, bytes, type)) or not isinstance(result, Iterable)):
            is_class = isinstance(result, type)
            what = f"the class {result.__module__}.{result.__qualname__}" if is_class else describe(result)
            return [(None, f"mxfp8_core_kernels returned {what}; expected a list of kernel classes")]
        items = list(result) if result is not None else []
    except Exception as exc:  # noqa: BLE001
        return [(None, f"mxfp8_core_kernels raised: {_format_exc(exc)}")]
    out: list[tuple[type[Mxfp8LinearKernel] | None, str | None]] = []
    for item in items:
        problem = check_kernel_class(item)
        out.append((None, f"returned an invalid kernel: {problem}") if problem else (item, None))
    return out


def _entry_points() -> list[metadata.EntryPoint]:
    eps = metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP)
    # Deterministic order in every process: by distribution, then entry-point name.
    return sorted(eps, key=lambda ep: ((ep.dist.name if getattr(ep, "dist", None) else ""), ep.name))


def _format_exc(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    message = " ".join(str(exc).split())  # one line, whatever the plugin raised
    return f"{type(exc).__name__}: {message}{where}"


_default: PluginRegistry | None = None
_default_lock = threading.Lock()


def get_registry() -> PluginRegistry:
    """The process-wide registry, loaded on first use."""
    global _default
    registry = _default
    if registry is None:
        with _default_lock:
            if _default is None:
                _default = PluginRegistry()
            registry = _default
    return registry


def reset_plugins() -> None:
    """Forget the process-wide registry: the next use loads plugins again (and reads
    the autoload/strict environment variables again)."""
    global _default
    with _default_lock:
        _default = None


def register_plugin(plugin: object, name: str | None = None) -> str:
    """Register a plugin object in code with the process-wide registry."""
    return get_registry().register(plugin, name)


def list_plugins() -> tuple[PluginInfo, ...]:
    """Every plugin of the process's registry, with its kernels and load errors (``mxfp8 plugins``)."""
    return get_registry().plugins()
