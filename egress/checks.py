"""One entry point: check the files of an egress request with a permit's pack.

    records = check_paths(["outputs/a.csv", "outputs/acro_out"], "snds", ledger=ledger)

A directory holding ACRO's ``results.json`` is an ACRO output folder; any other directory
is checked file by file. Every CSV is first interpreted from its own bytes
(:mod:`egress.csvtable`), which decides the best outcome it can have. Evidence beside it (an
spe sidecar, ACRO's results.json) is verified against those bytes and can only add checks: a
claim that contradicts them fails the file. Anything else goes to review. Count tables are
then checked for differencing against the ledger and against each other.

Given the project's extract (``extract``, see :mod:`egress.replay.engine`), a table whose
sidecar records how it was made is made again on the extract and compared cell by cell
(``replay`` in its record): ``verified`` lets the replayed evidence (true counts, per-unit
contributions) decide the table's outcome on its own merits, ``mismatch`` fails it with the
cells that differ, ``not replayable`` leaves its evidence a claim that can only add checks.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from egress import acro
from egress.csvtable import check_csv_bytes, not_understood
from egress.differencing import Auditor, CountTable, Ledger
from egress.errors import EvidenceError, InputError
from egress.record import make_record
from egress.replay.conditions import conditions, opaque
from egress.replay.outcome import MISMATCH, NOT_REPLAYABLE, VERIFIED, ExtractTables, Replay
from egress.replay.spec import ReplaySpec, parse_filter
from egress.sdc.assess import Assessment, assess_table
from egress.sdc.evidence import TableEvidence
from egress.sdc.params import SdcRules, load_rules
from egress.sdc.rules import dof_too_low
from egress.sidecar import is_sidecar, read_sidecar, sidecar_path, verify_evidence
from spe.messages import Message

OTHER_NOTES = {
    "png": Message("image: a person must check it (small groups, outliers, axis ranges)"),
    "svg": Message("image: a person must check it; SVG can also embed the plotted data"),
    "jpg": Message("image: a person must check it (small groups, outliers, axis ranges)"),
    "ipynb": Message("notebook: may embed outputs and data; a person must check every cell "
                     "output"),
    "html": Message("HTML: may embed tables, data or scripts; a person must check it"),
    "json": Message("JSON: structure unknown to spe; a person must check it"),
    "txt": Message("text: a person must check it"),
    "md": Message("text: a person must check it"),
}


DEFAULT_REPLAY_SECONDS = 60.0


@dataclass
class _Checked:
    record: dict[str, Any]
    assessment: Assessment
    at_least: str
    counts: CountTable | None = None


def check_paths(paths: Iterable[str | Path], pack_name: str | SdcRules,
                ledger: Ledger | None = None, cohort_size: int | None = None,
                extract: ExtractTables | None = None,
                replay_seconds: float = DEFAULT_REPLAY_SECONDS) -> list[dict[str, Any]]:
    """A check record per file under ``paths`` (see ``egress/schemas/check-record.schema``).

    With ``extract``, analysis tables are replayed on it, all within ``replay_seconds``.

    Raises :class:`~egress.errors.UnknownPolicyError` for an unknown pack and
    :class:`~egress.errors.InputError` for a path that does not exist or cannot be read.
    """
    rules = load_rules(pack_name)
    replayer = None if extract is None else _Replayer(extract, replay_seconds)
    checked: list[_Checked] = []
    for path in map(Path, paths):
        if acro.is_acro_folder(path):
            checked += _check_acro(path, rules, cohort_size)
        elif path.is_dir():
            checked += [_check_file(p, p.relative_to(path.parent).as_posix(), rules,
                                    cohort_size, replayer)
                        for p in sorted(path.rglob("*")) if p.is_file()]
        elif path.is_file():
            checked.append(_check_file(path, path.name, rules, cohort_size, replayer))
        else:
            raise InputError(f"no such file or directory: {path}")
    if rules.differencing:
        _differencing(checked, ledger, rules)
    return [c.record for c in checked]


def released_tables(records: list[dict[str, Any]], paths: Iterable[str | Path],
                    rules: str | SdcRules) -> list[CountTable]:
    """Count tables of released files, for the workflow to add to the project's ledger."""
    return count_tables(records, paths, rules)


def count_tables(records: list[dict[str, Any]], paths: Iterable[str | Path],
                 rules: str | SdcRules) -> list[CountTable]:
    """The count tables among ``paths`` whose content has a record in ``records``, as the
    ledger keeps them (evidence from a sidecar only when it matches the bytes)."""
    released = {r["sha256"] for r in records}
    out = []
    for path in map(Path, paths):
        if path.is_dir():
            prefix = path.name
            files = [(f, f"{prefix}/{f.relative_to(path).as_posix()}")
                     for f in acro.folder_files(path)]
        else:
            files = [(path, path.name)]
        for f, name in files:
            data = _read(f)
            sha = hashlib.sha256(data).hexdigest()
            if sha in released and f.suffix.lower() == ".csv":
                spec = _verified_spec(next(r for r in records if r["sha256"] == sha))
                table = _count_table(f, name, data, load_rules(rules), spec)
                if table is not None:
                    out.append(table)
    return out


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc


def _check_file(path: Path, name: str, rules: SdcRules, cohort_size: int | None,
                replayer: _Replayer | None = None) -> _Checked:
    data = _read(path)
    sha = hashlib.sha256(data).hexdigest()
    if is_sidecar(path):
        a = Assessment()
        a.applied("sidecar")
        a.flag((), (), "sidecar", Message("checker-only SDC evidence: stays in quarantine, "
                                          "never released"), "fail")
        return _Checked(make_record(name, sha, "other", rules, a), a, "fail")
    if path.suffix.lower() != ".csv":
        a = Assessment(notes=[OTHER_NOTES.get(path.suffix.lower().lstrip("."),
                                              Message("file type spe cannot check: a person "
                                                      "must"))])
        return _Checked(make_record(name, sha, "other", rules, a, at_least="review"), a,
                        "review")
    side = sidecar_path(path)
    if side.is_file():
        return _check_analysis_table(path, name, data, sha, side, rules, cohort_size,
                                     replayer)
    return _check_csv(name, data, sha, rules, cohort_size)


def _check_csv(name: str, data: bytes, sha: str, rules: SdcRules, cohort_size: int | None,
               kind: str = "csv-table") -> _Checked:
    c = check_csv_bytes(data, name, rules, cohort_size=cohort_size)
    counts = CountTable.from_evidence(name, c.evidence) if c.evidence is not None else None
    return _Checked(make_record(name, sha, kind, rules, c.assessment, at_least=c.at_least,
                                table=_shape(c.evidence),
                                interpretation=c.interpretation_json()),
                    c.assessment, c.at_least, counts)


class _Replayer:
    """Replays the specifications of one request's tables on the project's extract, all of
    them within ``seconds``: each gets what the ones before it left."""

    def __init__(self, extract: ExtractTables, seconds: float) -> None:
        self.extract, self.seconds = extract, seconds
        self.deadline = time.monotonic() + seconds

    def __call__(self, doc: dict[str, Any] | None, data: bytes) -> Replay:
        about = dict(getattr(self.extract, "about", None) or {})
        left = self.deadline - time.monotonic()
        if left <= 0:
            return Replay(NOT_REPLAYABLE, Message(
                "the request's replays took their whole time bound ({seconds:g} s) before "
                "this table", seconds=self.seconds), extract=about)
        if doc is None:
            return Replay(NOT_REPLAYABLE, Message("the sidecar cannot be read"), extract=about)
        if doc.get("replay") is None:
            return Replay(NOT_REPLAYABLE, Message(
                "the sidecar records no specification of how the table was made (written by "
                "hand, or by another tool)"), extract=about)
        try:
            spec = ReplaySpec.from_json(doc["replay"])
        except InputError as exc:
            return Replay(NOT_REPLAYABLE, Message(
                "the sidecar's specification is malformed: {error}",
                error=exc.args[0] if exc.args and isinstance(exc.args[0], Message)
                else str(exc)), extract=about)
        from egress.replay.engine import replay  # pyarrow and pandas: only with an extract

        return replay(spec, data, self.extract, left, about)


def _check_analysis_table(path: Path, name: str, data: bytes, sha: str, side: Path,
                          rules: SdcRules, cohort_size: int | None,
                          replayer: _Replayer | None = None) -> _Checked:
    """The table's own cells decide the least outcome; the sidecar can only add checks, and
    a sidecar that contradicts the table's bytes fails the file. A replay on the extract
    that verifies every cell lets its own evidence decide instead; one that finds other
    cells fails the file."""
    own = check_csv_bytes(data, name, rules, cohort_size=cohort_size)
    a = own.assessment
    a.applied("sidecar", file=side.name)
    interp = own.interpretation_json()
    try:
        doc = read_sidecar(side)
    except InputError as exc:
        doc, unreadable = None, exc
    replayed = replayer(doc, data) if replayer is not None else None
    extra = {} if replayed is None else {"replay": replayed.to_json()}
    if replayed is not None:
        a.applied("replay", status=replayed.status)
    if replayed is not None and replayed.status == VERIFIED:
        return _verified(name, sha, rules, a, interp, replayed, doc)
    if replayed is not None and replayed.status == MISMATCH:
        shown = Message.listing([Message(
            "{where}, {column}: {submitted} in the file, {replayed} on the extract",
            where=" / ".join(c["row"]) or Message("line {line}", line=c["line"]),
            column=c["column"], submitted=c["submitted"], replayed=c["replayed"])
            for c in replayed.cells[:5]], "; ")
        a.flag((), (), "replay", Message("the table made again on the extract is not this "
                                         "file: {reason}{cells}", reason=replayed.reason,
                                         cells=Message(" ({shown})", shown=shown)
                                         if replayed.cells else ""), "fail")
    elif replayed is not None:
        a.notes.append(Message("not replayable, its evidence is informative only: {reason}",
                               reason=replayed.reason))
    else:
        a.notes.append(Message("checked without the extract: on submission the airlock makes "
                               "the table again on the extract to verify its evidence"))
    if doc is None:
        a.flag((), (), "evidence", Message("evidence does not match the table: {unreadable}",
                                           unreadable=unreadable), "fail")
        return _Checked(make_record(name, sha, "analysis-table", rules, a, at_least="fail",
                                    interpretation=interp, **extra), a, "fail")
    ev: TableEvidence = doc["evidence"]
    mismatch = None if doc.get("table_sha256") == sha else (
        f"sidecar {side.name} was written for other bytes (SHA-256 differs): the table was "
        "edited after it was made")
    if mismatch is None and own.interpretation is not None:
        mismatch = verify_evidence(ev, own.interpretation.text)
    elif own.interpretation is None and mismatch is None:
        mismatch = "the table cannot be read to compare with its evidence"
    if mismatch is not None:
        a.flag((), (), "evidence", Message("evidence does not match the table: {mismatch}",
                                           mismatch=mismatch), "fail")
        return _Checked(make_record(name, sha, "analysis-table", rules, a, at_least="fail",
                                    interpretation=interp, **extra), a, "fail")
    try:
        a.extend(assess_table(ev, rules))
    except EvidenceError as exc:
        a.notes.append(Message("{error}", error=str(exc)))
    a.notes.append(Message("evidence matches the table's cells and added its checks; it "
                           "cannot lift the table above what its own cells allow unless it "
                           "is replayed on the extract"))
    counts = CountTable.from_evidence(name, ev) if ev.statistic == "count" else None
    at_least = "fail" if replayed is not None and replayed.status == MISMATCH else own.at_least
    return _Checked(make_record(name, sha, "analysis-table", rules, a, at_least=at_least,
                                table=_shape(ev), interpretation=interp, **extra),
                    a, at_least, counts)


def _verified(name: str, sha: str, rules: SdcRules, a: Assessment,
              interp: dict[str, Any] | None, replayed: Replay,
              doc: dict[str, Any] | None) -> _Checked:
    """Every cell made again on the extract: the replayed evidence is the airlock's own and
    decides the outcome (the file's own flags stay: a formula cell is still one)."""
    ev = replayed.evidence
    doubt = not_understood("").template
    a.notes = [Message("the file alone does not say it, the replay does: {reason}",
                       reason=n.params["reason"]) if getattr(n, "template", None) == doubt
               else n for n in a.notes]
    try:
        a.extend(assess_table(ev, rules))
    except EvidenceError as exc:
        a.notes.append(Message("{exc}: a person must check", exc=exc))
        a.flag((), (), "evidence", Message("{error}", error=str(exc)), "review")
    if doc is not None and doc.get("table_sha256") != sha:
        a.notes.append(Message("the sidecar was written for other bytes, but the table made "
                               "again on the extract is this file"))
    a.notes.append(Message("replayed: {reason}; the counts and contributions checked are the "
                           "extract's, not the sidecar's", reason=replayed.reason))
    counts = None
    if ev.statistic == "count":
        counts = CountTable.from_evidence(name, ev, population=_spec_population(replayed.spec),
                                          filters=_spec_filters(replayed.spec))
    return _Checked(make_record(name, sha, "analysis-table", rules, a, at_least="pass",
                                table=_shape(ev), interpretation=interp,
                                replay=replayed.to_json()), a, "pass", counts)


def _spec_filters(spec: ReplaySpec | None) -> dict[str, str] | None:
    """The filters a verified specification records, as the differencing audit reads them:
    one condition per variable, or one opaque condition when they do not translate."""
    if spec is None or spec.where is None:
        return None
    found = conditions(parse_filter(spec.where))
    return opaque(spec.where) if found is None else found


def _spec_population(spec: ReplaySpec | None) -> str:
    """A verified table counts rows of one extract table: tables of another extract table
    (patients, hospital stays) are another population. ``""``: not known."""
    return f"extract table {spec.table}" if spec is not None and spec.table else ""


def _verified_spec(record: dict[str, Any]) -> ReplaySpec | None:
    """From a released file's check record: the specification of a replay that verified it
    (a filter only claimed by a sidecar is not entered into the ledger)."""
    replayed = record.get("replay") or {}
    if replayed.get("status") != VERIFIED:
        return None
    try:
        return ReplaySpec.from_json({"format": "spe-replay-spec", "version": 1,
                                     **replayed.get("spec", {})})
    except InputError:
        return None


def _check_acro(folder: Path, rules: SdcRules, cohort_size: int | None) -> list[_Checked]:
    outputs = acro.read_results(folder)
    checked = []
    for path in acro.folder_files(folder):
        name = path.relative_to(folder).as_posix()
        data = _read(path)
        sha = hashlib.sha256(data).hexdigest()
        output = outputs.get(name)
        holder: dict[str, Any] = {"counts": None, "interpretation": None}

        def recheck(claimed_counts: bool, name=name, data=data, holder=holder,
                    output=output) -> tuple[Assessment, str]:
            labels = acro.label_columns(output) if output else 1
            c = check_csv_bytes(data, name, rules, cohort_size=cohort_size,
                                label_columns=labels, claimed_counts=claimed_counts)
            holder["interpretation"] = c.interpretation_json()
            if c.evidence is not None:
                holder["counts"] = CountTable.from_evidence(f"{folder.name}/{name}", c.evidence)
            if output is not None and c.interpretation is not None:
                c.assessment.extend(acro.cells_flagged(output, c.interpretation))
            return c.assessment, c.at_least

        def dof_check(dof: float) -> Assessment:
            a = Assessment()
            a.applied("dof", min_dof=rules.min_dof)
            if dof_too_low(dof, rules.min_dof):
                a.flag((), (), "dof", Message("{dof:g} residual degrees of freedom, fewer "
                                              "than {min_dof}", dof=dof, min_dof=rules.min_dof),
                                      "fail")
            return a

        try:
            a, at_least = acro.assess_acro_file(folder, name, sha, output, recheck, dof_check,
                                                  rules.single_unit_stats, data)
        except InputError as exc:
            a, at_least = Assessment(notes=[Message("{error}", error=str(exc))]), "review"
        surfaced = output.surfaced() if output else None
        record = make_record(f"{folder.name}/{name}", sha, "acro", rules, a,
                             at_least=at_least, acro=surfaced,
                             interpretation=holder["interpretation"])
        checked.append(_Checked(record, a, at_least, holder["counts"]))
    return checked


def _count_table(path: Path, name: str, data: bytes, rules: SdcRules,
                 spec: ReplaySpec | None = None) -> CountTable | None:
    own = check_csv_bytes(data, name, rules)
    side = sidecar_path(path)
    if side.is_file() and own.interpretation is not None:
        try:
            doc = read_sidecar(side)
        except InputError:
            doc = None
        if doc is not None and doc.get("table_sha256") == hashlib.sha256(data).hexdigest() \
                and verify_evidence(doc["evidence"], own.interpretation.text) is None:
            ev = doc["evidence"]  # only evidence that matches the bytes enters the ledger
            return CountTable.from_evidence(name, ev, population=_spec_population(spec),
                                            filters=_spec_filters(spec)) \
                if ev.statistic == "count" else None
    return CountTable.from_evidence(name, own.evidence) if own.evidence is not None else None


def _differencing(checked: list[_Checked], ledger: Ledger | None, rules: SdcRules) -> None:
    tables = [c for c in checked if c.counts is not None]
    auditor = Auditor(ledger, rules.threshold)
    for i, c in enumerate(tables):
        others = [t.counts for j, t in enumerate(tables) if j != i]
        c.assessment.applied("differencing", threshold=rules.threshold,
                             released=len(ledger.tables) if ledger else 0,
                             same_request=len(others))
        for cell in auditor.check(c.counts, others):
            c.assessment.flags.append(cell.flag())
        c.record["outcome"] = max(c.assessment.outcome, c.at_least,
                                  c.record["outcome"], key=["pass", "review", "fail"].index)


def _shape(ev: TableEvidence | None) -> dict[str, Any] | None:
    if ev is None:
        return None
    return {"statistic": ev.statistic, "rows": ev.row_dims, "columns": ev.col_dims,
            "shape": [len(ev.row_labels), len(ev.col_labels)], "margins": ev.margins}
