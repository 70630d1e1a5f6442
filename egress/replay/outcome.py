"""What a replay found (:class:`Replay`), and where the engine reads extract tables
(:class:`ExtractTables`): apart from :mod:`egress.replay.engine`, which loads pyarrow and
pandas, so that checking files without an extract (``spe egress check``) does not."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from spe.messages import Message

if TYPE_CHECKING:
    import pyarrow as pa

    from egress.replay.spec import ReplaySpec
    from egress.sdc.evidence import TableEvidence

VERIFIED, MISMATCH, NOT_REPLAYABLE = "verified", "mismatch", "not replayable"


class ExtractTables(Protocol):
    """Where the engine reads extract tables."""

    def read(self, name: str, columns: list[str], deadline: float) -> pa.Table:
        """Those columns of extract table ``name``; :class:`NotReplayable` (with the reason)
        when there is no such table or column, or reading would go over a bound."""
        ...


@dataclass
class Replay:
    """What a replay found, as the check record keeps it."""

    status: str
    reason: Message  # English; ``reason_message`` in the JSON for the reader's language
    spec: ReplaySpec | None = None
    cells: list[dict[str, Any]] = field(default_factory=list)
    cells_differing: int = 0
    evidence: TableEvidence | None = None
    rows_read: int | None = None
    seconds: float = 0.0
    extract: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "reason": str(self.reason),
                               "seconds": round(self.seconds, 3)}
        if isinstance(self.reason, Message):
            out["reason_message"] = self.reason.as_json()
        if self.spec is not None:
            out["spec"] = {k: v for k, v in self.spec.to_json().items()
                           if k not in ("format", "version")}
        if self.status == MISMATCH:
            out["cells"] = self.cells
            out["cells_differing"] = self.cells_differing
        if self.rows_read is not None:
            out["rows_read"] = self.rows_read
        if self.extract:
            out["extract"] = self.extract
        return out
