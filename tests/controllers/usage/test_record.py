"""Recording samples, and what is left on the record once the runtime holds nothing of a
project: its storage and extract copies go to 0 (audited), what it used stays."""

from __future__ import annotations

from sqlmodel import Session, select

from controllers import usage
from controllers.reconciler import Reconciler
from spe.audit.models import AuditEvent
from spe.db import session_scope
from spe.domain import permit_lifecycle as lifecycle
from spe.domain.usage import GIB, PROJECT, ProjectUsage, Sample
from tests.controllers.conftest import MemoryRuntime
from tests.controllers.test_reconciler import MANAGER, grant


def test_a_deleted_workspace_leaves_no_copy_and_no_storage_on_the_record(engine, settings,
                                                                        box):
    permit, project = grant(engine)
    reconciler = Reconciler(engine, MemoryRuntime(), settings, box)
    reconciler.run_once()
    usage.record(engine, [
        Sample(project, PROJECT, storage_bytes=GIB, extract_bytes=5 * GIB, extract_copies=1),
        Sample(project, "alice", cpu_seconds=7200, storage_bytes=2 * GIB)])
    with session_scope(engine) as s:
        lifecycle.revoke_permit(s, permit, "ended", MANAGER)
    reconciler.run_once()
    reconciler.run_once()  # a later pass changes nothing

    with Session(engine) as s:
        rows = {r.member: r for r in s.exec(select(ProjectUsage).where(
            ProjectUsage.project_id == project))}
        copies = [e.details for e in s.exec(select(AuditEvent).where(
            AuditEvent.project_id == project, AuditEvent.action == "extract.copies.change")
            .order_by(AuditEvent.seq))]
    assert (rows[PROJECT].extract_copies, rows[PROJECT].extract_bytes,
            rows[PROJECT].storage_bytes, rows["alice"].storage_bytes) == (0, 0, 0, 0)
    assert rows["alice"].cpu_seconds == 7200  # what was used stays
    assert copies == [{"copies": 1, "before": 0}, {"copies": 0, "before": 1}]
