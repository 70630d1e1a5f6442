"""The runtimes by name: ``SPE_RUNTIME`` picks one, and each builds itself from the settings
(:meth:`Runtime.from_settings <controllers.runtimes.base.Runtime.from_settings>`).

A new runtime is a :class:`~controllers.runtimes.base.Runtime` subclass with its own
``name``, added to :data:`RUNTIMES`; nothing else asks which runtime it is.
"""

from __future__ import annotations

from controllers.runtimes.base import Runtime
from controllers.runtimes.kubernetes import KubernetesRuntime
from controllers.runtimes.local import LocalRuntime
from spe.settings import Settings

RUNTIMES: dict[str, type[Runtime]] = {cls.name: cls for cls in (LocalRuntime, KubernetesRuntime)}


class UnknownRuntime(ValueError):
    """No runtime is registered under the name asked for."""


def runtime_class(name: str) -> type[Runtime]:
    try:
        return RUNTIMES[name]
    except KeyError:
        raise UnknownRuntime(f"no runtime named {name!r}; the runtimes are "
                             f"{', '.join(sorted(RUNTIMES))} (setting SPE_RUNTIME)") from None


def make_runtime(settings: Settings) -> Runtime:
    """The runtime the settings name, built from them."""
    return runtime_class(settings.runtime).from_settings(settings)
