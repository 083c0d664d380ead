"""Exceptions raised by mxfp8_core."""

from __future__ import annotations


class Mxfp8Error(Exception):
    """Base class of mxfp8_core's own errors."""


class NoKernelAvailable(Mxfp8Error, RuntimeError):
    """No installed kernel can run the layer; the message lists every candidate and why."""


class UnknownKernelError(Mxfp8Error, ValueError):
    """An override names a kernel that no loaded plugin provides."""


class PluginLoadError(Mxfp8Error, ImportError):
    """A plugin failed to load while strict loading (``MXFP8_STRICT_PLUGINS=1``) was on."""


class KernelContractError(Mxfp8Error, RuntimeError):
    """A kernel broke the protocol (returned the wrong shape or dtype, say)."""
