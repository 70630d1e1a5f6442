"""Usage meters: what each project's workspace uses, sampled from the runtime.

A meter's ``sample()`` returns what was used since its previous call, as
:class:`spe.domain.usage.Sample` deltas, which :func:`record` adds to the projects' usage.
:mod:`.local` reads the workspace processes' own accounting, :mod:`.kubernetes` the metrics
API. See docs/usage.md.
"""

from controllers.usage.record import UsageMeter, record, released

__all__ = ["UsageMeter", "record", "released"]
