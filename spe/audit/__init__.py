"""The tamper-evident audit log: append events, checkpoint, prove and verify.

Callers append with :func:`record` inside their own transaction; see docs/audit.md for the
encoding, the Merkle tree, checkpoints and what an auditor runs.
"""

from spe.audit.events import Actor, InvalidAuditEvent
from spe.audit.log import Draft, draft, record, record_many
from spe.audit.models import AuditEvent

__all__ = ["Actor", "AuditEvent", "Draft", "InvalidAuditEvent", "draft", "record",
           "record_many"]
