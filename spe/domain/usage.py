"""What each project's workspace has used, per member, and the report made of it.

The controller's meters (:mod:`controllers.usage`) sample the runtime and add what was used
since their last sample (:func:`add_usage`); nothing is ever subtracted. Member ``""`` is the
project itself: its hub and the storage its members share. The report turns the sums into
hours and an estimated energy and carbon footprint (:mod:`spe.footprint`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import JSON, BigInteger, Column
from sqlmodel import Field, Session, SQLModel, select

from spe.db.types import UTCDateTime, utcnow
from spe.footprint import Coefficients, Measured, footprint
from spe.settings import Settings

PROJECT = ""  # the member name of what belongs to the project as a whole
GIB = 1024 ** 3


class ProjectUsage(SQLModel, table=True):
    __tablename__ = "project_usage"

    project_id: str = Field(foreign_key="projects.id", primary_key=True, max_length=20)
    member: str = Field(primary_key=True, max_length=128)
    cpu_seconds: float = 0.0
    memory_gib_seconds: float = 0.0
    peak_memory_bytes: int = Field(default=0, sa_type=BigInteger)
    gpu_seconds: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    storage_bytes: int = Field(default=0, sa_type=BigInteger)  # last measured, not summed
    extract_bytes: int = Field(default=0, sa_type=BigInteger)  # last measured, project only
    extract_copies: int = 0  # decrypted copies of the extract, last counted, project only
    since: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(),
                                                                     nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(),
                                                                          nullable=False))


@dataclass
class Sample:
    """What one member (or the project, ``member=""``) used since the meter's last sample."""

    project_id: str
    member: str = PROJECT
    cpu_seconds: float = 0.0
    memory_gib_seconds: float = 0.0
    memory_bytes: int = 0  # in use at the sample (for the peak)
    gpu_seconds: dict[str, float] = field(default_factory=dict)
    storage_bytes: int | None = None  # None: not measured this time
    extract_bytes: int | None = None
    extract_copies: int | None = None  # decrypted copies of the extract on the runtime


def add_usage(session: Session, sample: Sample) -> int | None:
    """Add ``sample``; returns the number of extract copies it had before, if this sample
    changed it (the caller audits the change)."""
    row = session.get(ProjectUsage, (sample.project_id, sample.member))
    if row is None:
        row = ProjectUsage(project_id=sample.project_id, member=sample.member)
        session.add(row)
        session.flush()  # a second sample of the same member in this transaction finds it
    row.cpu_seconds += max(0.0, sample.cpu_seconds)
    row.memory_gib_seconds += max(0.0, sample.memory_gib_seconds)
    row.peak_memory_bytes = max(row.peak_memory_bytes, sample.memory_bytes)
    gpus = dict(row.gpu_seconds)
    for resource, seconds in sample.gpu_seconds.items():
        gpus[resource] = gpus.get(resource, 0.0) + max(0.0, seconds)
    row.gpu_seconds = gpus  # a new dict, so the JSON column is seen as changed
    if sample.storage_bytes is not None:
        row.storage_bytes = sample.storage_bytes
    if sample.extract_bytes is not None:
        row.extract_bytes = sample.extract_bytes
    before = row.extract_copies
    if sample.extract_copies is not None:
        row.extract_copies = sample.extract_copies
    row.updated_at = utcnow()
    return before if row.extract_copies != before else None


# -- the report ---------------------------------------------------------------------------

class UsageFigures(SQLModel):
    member: str  # "" for the project's own processes and shared storage, "total" for the sum
    cpu_hours: float
    memory_gib_hours: float
    peak_memory_gib: float
    gpu_hours: float
    storage_gib: float
    extract_gib: float
    extract_copies: int
    energy_kwh: float
    carbon_g_co2e: float


class CoefficientsPublic(SQLModel):
    watts_per_core: float
    watts_per_gib_memory: float
    watts_per_gpu: dict[str, float]
    default_watts_per_gpu: float
    pue: float
    grams_co2e_per_kwh: float


class UsageReport(SQLModel):
    project_id: str
    runtime: str
    since: datetime | None
    updated_at: datetime | None
    members: list[UsageFigures]
    total: UsageFigures
    coefficients: CoefficientsPublic
    notes: list[str]


RUNTIME_NOTES = {
    "local": ["CPU and memory from the workspace processes' own accounting (/proc)",
              "GPU-hours are 0: the local runtime has no GPUs",
              "storage: bytes on disk of each member's home and of the project's folders"],
    "kubernetes": ["CPU and memory from the metrics API (metrics.k8s.io), sampled: a rate "
                   "times the sampling interval",
                   "GPU-hours: GPUs allocated to running pods times time, not measured use",
                   "storage: the capacity of the project's volume claims, not bytes used"],
}


def coefficients(settings: Settings) -> Coefficients:
    return Coefficients(
        watts_per_core=settings.usage_watts_per_core,
        watts_per_gib_memory=settings.usage_watts_per_gib_memory,
        watts_per_gpu=dict(settings.usage_watts_per_gpu),
        default_watts_per_gpu=settings.usage_default_watts_per_gpu,
        pue=settings.usage_pue, grams_co2e_per_kwh=settings.usage_grams_co2e_per_kwh)


def _figures(member: str, rows: list[ProjectUsage], c: Coefficients) -> UsageFigures:
    gpus: dict[str, float] = {}
    for row in rows:
        for resource, seconds in row.gpu_seconds.items():
            gpus[resource] = gpus.get(resource, 0.0) + seconds
    measured = Measured(cpu_seconds=sum(r.cpu_seconds for r in rows),
                        memory_gib_seconds=sum(r.memory_gib_seconds for r in rows),
                        gpu_seconds=gpus)
    fp = footprint(measured, c)
    return UsageFigures(
        member=member, cpu_hours=measured.cpu_seconds / 3600,
        memory_gib_hours=measured.memory_gib_seconds / 3600,
        peak_memory_gib=max((r.peak_memory_bytes for r in rows), default=0) / GIB,
        gpu_hours=sum(gpus.values()) / 3600,
        storage_gib=sum(r.storage_bytes for r in rows) / GIB,
        extract_gib=sum(r.extract_bytes for r in rows) / GIB,
        extract_copies=sum(r.extract_copies for r in rows),
        energy_kwh=fp.energy_kwh, carbon_g_co2e=fp.carbon_g_co2e)


def usage_report(session: Session, project_id: str, settings: Settings) -> UsageReport:
    rows = list(session.exec(select(ProjectUsage).where(ProjectUsage.project_id == project_id)
                             .order_by(ProjectUsage.member)))
    c = coefficients(settings)
    total = _figures("total", rows, c)
    # the sum of members' peaks is not a peak: the total's is the largest single one
    return UsageReport(
        project_id=project_id, runtime=settings.runtime,
        since=min((r.since for r in rows), default=None),
        updated_at=max((r.updated_at for r in rows), default=None),
        members=[_figures(r.member, [r], c) for r in rows], total=total,
        coefficients=CoefficientsPublic(**vars(c)),
        notes=RUNTIME_NOTES[settings.runtime])


CSV_COLUMNS = list(UsageFigures.model_fields)


def report_csv(report: UsageReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["project_id", *CSV_COLUMNS])
    for figures in (*report.members, report.total):
        writer.writerow([report.project_id, *(_cell(getattr(figures, c)) for c in CSV_COLUMNS)])
    return out.getvalue()


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.6f}"
    text = str(value)
    # a spreadsheet would run a cell starting with one of these as a formula
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
