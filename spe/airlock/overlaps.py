"""The released tables of a project that overlap each table of a request under review.

The differencing audit names the released tables whose combination with a request reveals a
cell; a checker also sees every released table the audit may put beside each file (the same
people, a dimension in common), what they share, and where it was released
(:func:`egress.differencing.overlap.overlaps`). The request's tables are read from
quarantine as the review page reads them (hash-checked, each opening audited), the released
ones from the project's ledger: never another project's. A project with hundreds of releases
gets the overlaps a page at a time, most shared first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session, col, select

from egress.checks import count_tables
from egress.differencing.overlap import Overlap, overlaps
from egress.differencing.tables import CountTable
from spe.airlock import ledger, permissions, review, staging
from spe.airlock.models import EgressFile, EgressRelease, EgressRequest
from spe.airlock.releases import open_quarantined
from spe.domain.principal import Principal
from spe.storage.base import ObjectStore

PER_PAGE = 25  # overlapping tables shown per file and page


@dataclass
class FileOverlaps:
    """One file of the request: its table (None when it is not a count table) and, on this
    page, the overlapping released tables with where each was released (None: unknown)."""

    file: EgressFile
    table: CountTable | None
    overlaps: list[tuple[Overlap, dict[str, str] | None]] = field(default_factory=list)
    total: int = 0


@dataclass
class OverlapsView:
    request: EgressRequest
    files: list[FileOverlaps]
    released_tables: int
    page: int
    pages: int


def overlaps_view(session: Session, store: ObjectStore, staging_root: Path,
                  request: EgressRequest, principal: Principal, page: int = 1,
                  per_page: int = PER_PAGE) -> OverlapsView:
    """Every released table of the request's project overlapping each of its tables."""
    permissions.check_can_view_file(principal)
    files = review.files_of(session, request.id)
    tables = _request_tables(session, store, staging_root, request, files, principal)
    released = [t for t in ledger.load(session, request.project_id).tables
                if t.origin.get("request_id") != request.id]
    found = [FileOverlaps(f, tables.get(f.id)) for f in files]
    every = {item.file.id: overlaps(item.table, released)
             for item in found if item.table is not None}
    pages = max([1, *(math.ceil(len(e) / per_page) for e in every.values())])
    page = min(page, pages)  # past the last page: the last
    shown = {}
    for item in found:
        if item.file.id in every:
            item.total = len(every[item.file.id])
            shown[item.file.id] = every[item.file.id][(page - 1) * per_page:page * per_page]
    links = _links(session, request.project_id,
                   [o.table for page_of in shown.values() for o in page_of])
    for item in found:
        item.overlaps = [(o, links.get(id(o.table))) for o in shown.get(item.file.id, [])]
    return OverlapsView(request, found, len(released), page, pages)


def _request_tables(session: Session, store: ObjectStore, staging_root: Path,
                    request: EgressRequest, files: list[EgressFile],
                    principal: Principal) -> dict[str, CountTable]:
    """The request's count tables by file id, read as the checks read them."""
    records = [f.check for f in files if f.check]
    if not records:
        return {}
    with staging.folder(staging_root) as root:
        for file in files:
            path = root / file.name
            path.parent.mkdir(parents=True, exist_ok=True)
            with open_quarantined(session, store, request, file, principal) as content, \
                    path.open("wb") as out:
                while chunk := content.read(1024 * 1024):
                    out.write(chunk)
        tables = count_tables(records, sorted(root.iterdir()), request.pack_name)
    by_file = {}
    for table in tables:
        file = ledger.source_file(files, table.name)
        if file is not None:
            by_file.setdefault(file.id, table)
    return by_file


def _links(session: Session, project_id: str,
           tables: list[CountTable]) -> dict[int, dict[str, str]]:
    """Where each released table came from: its recorded origin or, for a table entered
    before origins were kept, the one released file of the project with its name."""
    links = {id(t): t.origin for t in tables if t.origin.get("request_id")}
    names = {t.name for t in tables if id(t) not in links}
    if names:
        rows = session.exec(
            select(EgressFile.name, EgressFile.id, EgressFile.request_id, EgressRelease.id)
            .join(EgressRelease, EgressRelease.request_id == EgressFile.request_id)
            .where(EgressRelease.project_id == project_id, col(EgressFile.name).in_(names))
        ).all()
        by_name: dict[str, list] = {}
        for name, file_id, request_id, release_id in rows:
            by_name.setdefault(name, []).append({"release_id": release_id,
                                                 "request_id": request_id,
                                                 "file_id": file_id})
        for t in tables:
            if id(t) not in links and len(by_name.get(t.name, [])) == 1:
                links[id(t)] = by_name[t.name][0]
    return links
