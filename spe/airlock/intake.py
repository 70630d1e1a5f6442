"""Taking files in: safe names, the permit's egress limits, archives unpacked with limits.

Everything a researcher uploads is staged in a private temporary directory under its
sanitised name (so the SDC checks see the folder layout, e.g. an ACRO output folder), hashed
while it is written, and measured against the policy pack's ``egress`` section before
anything is kept. A refusal is a typed :class:`~spe.errors.SpeError` with a precise code.
"""

from __future__ import annotations

import csv
import hashlib
import io
import posixpath
import tarfile
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from spe.errors import InvalidInput
from spe.messages import Message

MAX_NAME = 255
MAX_COMPONENT = 100
MAX_DEPTH = 8
CHUNK = 1024 * 1024
FORBIDDEN_CHARACTERS = set('<>:"|?*\\')
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")

# Material an ACRO output folder carries for checkers (its own records and checksums):
# reviewed, never released. SDC sidecars ``*.sdc.json`` are checker-only wherever they are.
ACRO_SESSION_FILES = frozenset({"results.json", "config.json", "session_summary.json",
                                "session_summary.csv"})


class PayloadTooLarge(InvalidInput):
    """A file (or an archive's content) over the pack's size limit."""

    status = 413
    default_code = "egress.too_large"


@dataclass(frozen=True)
class EgressLimits:
    """The ``egress`` section of a policy pack."""

    allowed_extensions: frozenset[str]
    max_file_bytes: int
    max_csv_rows: int
    max_files_per_request: int
    archives_allowed: bool
    archive_max_members: int
    archive_max_total_bytes: int
    approvals_required: int
    permit_members_may_review: bool

    @classmethod
    def from_pack(cls, pack: dict) -> EgressLimits:
        egress = pack["egress"]
        archives = egress.get("archives", {})
        return cls(
            allowed_extensions=frozenset(e.lower().lstrip(".")
                                         for e in egress["allowed_extensions"]),
            max_file_bytes=egress["max_file_bytes"],
            max_csv_rows=egress["max_csv_rows"],
            max_files_per_request=egress["max_files_per_request"],
            archives_allowed=archives.get("allowed", False),
            archive_max_members=archives.get("max_members", 0),
            archive_max_total_bytes=archives.get("max_total_bytes", 0),
            approvals_required=egress.get("approvals_required", 2),
            permit_members_may_review=egress.get("permit_members_may_review", False),
        )


@dataclass(frozen=True)
class StagedFile:
    name: str
    path: Path
    sha256: str
    size: int
    description: str
    checker_only: bool = False


def sanitise_name(raw: str) -> str:
    """A relative ``/``-separated name that cannot escape, hide or confuse; else refused."""
    name = unicodedata.normalize("NFC", raw or "").replace("\\", "/")
    if not name or len(name) > MAX_NAME:
        raise _bad_name(raw, f"a name has 1 to {MAX_NAME} characters")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise _bad_name(raw, "absolute paths are not accepted")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name):
        raise _bad_name(raw, "control characters are not accepted")
    if FORBIDDEN_CHARACTERS & set(name):
        raise _bad_name(raw, "the characters < > : \" | ? * \\ are not accepted")
    parts = name.split("/")
    if len(parts) > MAX_DEPTH:
        raise _bad_name(raw, f"at most {MAX_DEPTH} folder levels")
    for part in parts:
        if part in ("", ".", ".."):
            raise _bad_name(raw, "empty, '.' and '..' path components are not accepted")
        if part.startswith("."):
            raise _bad_name(raw, "hidden files (names starting with '.') are not accepted")
        if part != part.strip() or len(part) > MAX_COMPONENT:
            raise _bad_name(raw, f"each component has at most {MAX_COMPONENT} characters "
                            "and no leading or trailing spaces")
    return name


def _bad_name(raw: str, why: str) -> InvalidInput:
    shown = (raw or "")[:80].encode("unicode_escape").decode("ascii")
    return InvalidInput(Message("file name {shown!r} refused: {why}", shown=shown, why=why),
                        code="egress.invalid_name")


def is_archive(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def extension(name: str) -> str:
    base = posixpath.basename(name)
    return base.rsplit(".", 1)[1].lower() if "." in base else ""


def is_checker_only(name: str, names: set[str]) -> bool:
    """SDC sidecars, and an ACRO folder's own records (next to its ``results.json``) and
    checksums (in its ``checksums/`` folder)."""
    if name.lower().endswith(".sdc.json"):
        return True
    folder, _, base = name.rpartition("/")
    if _is_acro_folder(folder, names) and base in ACRO_SESSION_FILES:
        return True
    parent, _, last = folder.rpartition("/")
    return last == "checksums" and _is_acro_folder(parent, names)


def _is_acro_folder(folder: str, names: set[str]) -> bool:
    return (f"{folder}/results.json" if folder else "results.json") in names


class Stager:
    """Stages uploads under ``root``, enforcing ``limits``; :meth:`files` lists the result."""

    def __init__(self, root: Path, limits: EgressLimits) -> None:
        self.root = root
        self.limits = limits
        self._staged: dict[str, StagedFile] = {}

    def add(self, raw_name: str, stream: BinaryIO, description: str) -> None:
        name = sanitise_name(raw_name)
        if is_archive(name):
            if not self.limits.archives_allowed:
                raise InvalidInput(Message("{name}: archives are not accepted under this "
                                           "permit's policy; submit the files themselves",
                                           name=name),
                                   code="egress.archive_not_allowed")
            self._unpack(name, stream, description)
            return
        self._stage(name, stream, description, self.limits.max_file_bytes)

    def files(self) -> list[StagedFile]:
        names = set(self._staged)
        return [StagedFile(f.name, f.path, f.sha256, f.size, f.description,
                           is_checker_only(f.name, names))
                for f in sorted(self._staged.values(), key=lambda f: f.name)]

    def _stage(self, name: str, stream: BinaryIO, description: str, limit: int) -> int:
        if name in self._staged:
            raise InvalidInput(Message("{name}: submitted twice", name=name),
                               code="egress.duplicate_name")
        if len(self._staged) >= self.limits.max_files_per_request:
            raise InvalidInput(Message("a request holds at most {max_files_per_request} "
                                       "files under this permit's policy",
                                       max_files_per_request=self.limits.max_files_per_request),
                               code="egress.too_many_files")
        ext = extension(name)
        if ext not in self.limits.allowed_extensions:
            raise InvalidInput(
                Message("{name}: the file type {extension} is not accepted; accepted: {accepted}",
                        name=name, extension='.' + ext if ext else '(none)',
                        accepted=', '.join(sorted(self.limits.allowed_extensions))),
                code="egress.extension_not_allowed")
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        with path.open("xb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(Message("{name}: larger than the {limit} bytes "
                                                  "accepted", name=name, limit=limit))
                digest.update(chunk)
                out.write(chunk)
        if ext == "csv":
            rows = _csv_rows(path)
            if rows > self.limits.max_csv_rows:
                raise InvalidInput(Message("{name}: {rows} data rows; at most {max_csv_rows} "
                                           "are accepted (is this row-level data?)", name=name,
                                           rows=rows, max_csv_rows=self.limits.max_csv_rows),
                                   code="egress.too_many_rows")
        self._staged[name] = StagedFile(name, path, digest.hexdigest(), size, description)
        return size

    def _unpack(self, name: str, stream: BinaryIO, description: str) -> None:
        folder = name
        for suffix in ARCHIVE_SUFFIXES:
            if folder.lower().endswith(suffix):
                folder = folder[: -len(suffix)]
                break
        budget = self.limits.archive_max_total_bytes
        members = _members(name, stream, self.limits.archive_max_total_bytes)
        for count, (member, content) in enumerate(members, start=1):
            if count > self.limits.archive_max_members:
                raise InvalidInput(Message("{name}: more than {archive_max_members} members",
                                           name=name,
                                           archive_max_members=self.limits.archive_max_members),
                                   code="egress.archive_too_many_members")
            member_name = sanitise_name(f"{folder}/{member}")
            if is_archive(member_name):
                raise InvalidInput(Message("{member_name}: archives inside archives are not "
                                           "accepted", member_name=member_name),
                                   code="egress.archive_nested")
            limit = min(self.limits.max_file_bytes, budget)
            budget -= self._stage(member_name, content, description, limit)


def _members(name: str, stream: BinaryIO, max_total: int) -> Iterator[tuple[str, BinaryIO]]:
    """Regular-file members of an archive; links, devices and oversized content refused.

    Sizes declared in the archive are not trusted: the caller reads at most its budget.
    """
    data = stream.read(max_total + 1)
    if len(data) > max_total:
        raise PayloadTooLarge(Message("{name}: larger than the {max_total} bytes accepted",
                                      name=name, max_total=max_total))
    buffer = io.BytesIO(data)
    try:
        if name.lower().endswith(".zip"):
            with zipfile.ZipFile(buffer) as archive:
                for info in archive.infolist():
                    if info.is_dir():
                        continue
                    if (info.external_attr >> 16) & 0o170000 == 0o120000:
                        raise _bad_member(name, info.filename, "symbolic links")
                    with archive.open(info) as member:
                        yield info.filename, member
        else:
            with tarfile.open(fileobj=buffer, mode="r:*") as archive:
                for info in archive:
                    if info.isdir():
                        continue
                    if not info.isfile():
                        raise _bad_member(name, info.name, "links and special files")
                    yield info.name, archive.extractfile(info)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        raise InvalidInput(Message("{name}: not a readable archive ({exc})", name=name, exc=exc),
                           code="egress.archive_unreadable") from exc


def _bad_member(archive: str, member: str, what: str) -> InvalidInput:
    return InvalidInput(Message("{archive}: member {member!r} refused: {what} are not "
                                "accepted", archive=archive, member=member[:80], what=what),
                        code="egress.archive_member_refused")


def _csv_rows(path: Path) -> int:
    """Data rows (records after the header), counting quoted line breaks correctly."""
    with path.open(newline="", encoding="utf-8", errors="replace") as f:
        return max(sum(1 for _ in csv.reader(f)) - 1, 0)
