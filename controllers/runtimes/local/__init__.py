"""The ``local`` runtime (see :mod:`.runtime`)."""

from controllers.runtimes.local.runtime import LocalRuntime

__all__ = ["LocalRuntime"]
