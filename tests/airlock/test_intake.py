"""Names, the policy pack's limits and archives: refused with the right 4xx, and audited."""

from __future__ import annotations

import io
import tarfile
import zipfile
from dataclasses import replace

import pytest

import policies
from spe.airlock.intake import (
    EgressLimits,
    PayloadTooLarge,
    Stager,
    is_checker_only,
    sanitise_name,
)
from spe.errors import InvalidInput
from tests.airlock.conftest import OK_CSV, denied, submit

SNDS = EgressLimits.from_pack(policies.load("packs", "snds"))
WITH_ARCHIVES = replace(SNDS, archives_allowed=True, archive_max_members=3,
                        archive_max_total_bytes=4096)


@pytest.mark.parametrize("name", [
    "../etc/passwd", "a/../../b.csv", "/abs/path.csv", "C:/win.csv", "..\\up.csv",
    ".hidden.csv", "dir/.git/config.csv", "bell\x07.csv", "new\nline.csv", "rtl\u202egnp.csv",
    "", "a//b.csv", "./a.csv", "x" * 256, "what?.csv", " padded.csv",
    "/".join(["d"] * 9) + "/a.csv",
])
def test_unsafe_names_are_refused(name):
    with pytest.raises(InvalidInput) as error:
        sanitise_name(name)
    assert error.value.code == "egress.invalid_name"


@pytest.mark.parametrize("name", ["counts.csv", "acro_out/output_0_0.csv",
                                  "Résultats/tableau 1.csv", "a-b_c.d.csv"])
def test_safe_names_are_kept(name):
    assert sanitise_name(name) == name


def test_checker_only_material():
    names = {"out/results.json", "out/config.json", "out/output_0.csv",
             "out/checksums/output_0.csv.txt", "t.csv", "t.sdc.json", "other/config.json"}
    assert {n for n in names if is_checker_only(n, names)} == {
        "out/results.json", "out/config.json", "out/checksums/output_0.csv.txt", "t.sdc.json"}


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_an_allowed_archive_is_unpacked_under_its_name(tmp_path):
    stager = Stager(tmp_path, WITH_ARCHIVES)
    stager.add("results.zip", io.BytesIO(zip_of({"a.csv": OK_CSV, "sub/b.md": b"# b\n"})),
               "two tables")
    assert [f.name for f in stager.files()] == ["results/a.csv", "results/sub/b.md"]
    assert (tmp_path / "results/a.csv").read_bytes() == OK_CSV


@pytest.mark.parametrize(("members", "code"), [
    ({"../escape.csv": OK_CSV}, "egress.invalid_name"),
    ({f"t{i}.csv": OK_CSV for i in range(4)}, "egress.archive_too_many_members"),
    ({"bomb.csv": b"0" * 1_000_000}, "egress.too_large"),
    ({"inner.zip": b"PK"}, "egress.archive_nested"),
    ({"run.exe": b"MZ"}, "egress.extension_not_allowed"),
])
def test_archives_are_unpacked_within_limits(tmp_path, members, code):
    with pytest.raises(InvalidInput) as error:
        Stager(tmp_path, WITH_ARCHIVES).add("a.zip", io.BytesIO(zip_of(members)), "x")
    assert error.value.code == code


def test_links_inside_a_tar_are_refused(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        link = tarfile.TarInfo("passwd.csv")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(link)
    with pytest.raises(InvalidInput) as error:
        roomy = replace(WITH_ARCHIVES, archive_max_total_bytes=100_000)  # tar pads to 10 KiB
        Stager(tmp_path, roomy).add("a.tar", io.BytesIO(buffer.getvalue()), "x")
    assert error.value.code == "egress.archive_member_refused"


def test_an_oversized_file_stops_being_read(tmp_path):
    small = replace(SNDS, max_file_bytes=10)
    with pytest.raises(PayloadTooLarge):
        Stager(tmp_path, small).add("big.csv", io.BytesIO(b"x" * 11), "x")


@pytest.mark.parametrize(("name", "data", "status", "code"), [
    ("../../etc/cron.d/x.csv", OK_CSV, 422, "egress.invalid_name"),
    ("program.exe", b"MZ", 422, "egress.extension_not_allowed"),
    ("bundle.zip", zip_of({"a.csv": OK_CSV}), 422, "egress.archive_not_allowed"),
    ("rows.csv", b"id,count\n" + b"".join(b"%d,12\n" % i for i in range(5001)), 422,
     "egress.too_many_rows"),
    ("big.csv", b"a,count\n" + b"x" * SNDS.max_file_bytes, 413, "egress.too_large"),
])
def test_refused_uploads_through_the_api(client, engine, project, name, data, status, code):
    response = submit(client, project.id, project.researcher_token, [(name, data)])
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert denied(engine, "egress.request.submit", code)


def test_too_many_files_and_missing_descriptions(client, engine, project):
    files = [(f"t{i}.csv", OK_CSV) for i in range(SNDS.max_files_per_request + 1)]
    response = submit(client, project.id, project.researcher_token, files)
    assert response.status_code == 422
    assert denied(engine, "egress.request.submit", "egress.too_many_files")
    response = submit(client, project.id, project.researcher_token,
                      [("a.csv", OK_CSV), ("b.csv", OK_CSV)], descriptions=["one", " "])
    assert response.json()["error"]["code"] == "egress.description_required"
    response = submit(client, project.id, project.researcher_token,
                      [("results.json", b"{}"), ("t.sdc.json", b"{}")])
    assert response.json()["error"]["code"] == "egress.nothing_to_release"
