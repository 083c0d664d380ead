"""Hook specifications for plugins (pluggy project name ``mxfp8_core``).

A plugin is a module or object, named by an entry point in the group
``mxfp8_core.plugins``, that carries hook implementations marked with
:data:`hookimpl`::

    from mxfp8_core import hookimpl

    @hookimpl
    def mxfp8_core_kernels():
        return [MyKernel]
"""

from __future__ import annotations

from collections.abc import Iterable

import pluggy

PROJECT = "mxfp8_core"
ENTRY_POINT_GROUP = "mxfp8_core.plugins"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def mxfp8_core_kernels() -> Iterable[type]:
    """Return the :class:`~mxfp8_core.Mxfp8LinearKernel` subclasses this plugin provides.

    Import heavy backends (CUDA libraries, JIT compilers) inside the kernels' methods,
    not at module import: every process that loads plugins pays for module imports.
    """
