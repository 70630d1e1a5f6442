"""The contents manager that keeps the notebook server's file manager out of data/."""

from __future__ import annotations

import asyncio

import pytest
from tornado.web import HTTPError

from workspaces.contents import ReadOnlyDataContentsManager

TEXT = {"type": "file", "format": "text", "content": "x"}


@pytest.fixture
def manager(tmp_path) -> ReadOnlyDataContentsManager:
    extract = tmp_path / "extract"
    extract.mkdir()
    (extract / "cohort.csv").write_text("id\n1\n")
    home = tmp_path / "home"
    (home / "outputs").mkdir(parents=True)
    (home / "data").symlink_to(extract, target_is_directory=True)
    return ReadOnlyDataContentsManager(root_dir=str(home))


@pytest.mark.parametrize("change", [
    lambda m: m.save(TEXT, "data/new.txt"),
    lambda m: m.save(TEXT, "data/cohort.csv"),
    lambda m: m.save(TEXT, "outputs/../data/sneaky.txt"),
    lambda m: m.delete_file("data/cohort.csv"),
    lambda m: m.delete_file("data"),
    lambda m: m.rename_file("data/cohort.csv", "outputs/cohort.csv"),
    lambda m: m.new_untitled("data", type="notebook"),
    lambda m: m.create_checkpoint("data/cohort.csv"),
])
def test_changes_under_data_are_refused(manager, tmp_path, change):
    with pytest.raises(HTTPError) as refused:
        asyncio.run(change(manager))
    assert refused.value.status_code == 403
    assert sorted(p.name for p in (tmp_path / "extract").iterdir()) == ["cohort.csv"]
    assert (tmp_path / "extract" / "cohort.csv").read_text() == "id\n1\n"


def test_moving_a_file_into_data_is_refused(manager, tmp_path):
    asyncio.run(manager.save(TEXT, "outputs/table.csv"))
    with pytest.raises(HTTPError):
        asyncio.run(manager.rename_file("outputs/table.csv", "data/table.csv"))
    assert (tmp_path / "home" / "outputs" / "table.csv").exists()


def test_outputs_and_reads_of_data_work(manager, tmp_path):
    asyncio.run(manager.save(TEXT, "outputs/result.txt"))
    assert (tmp_path / "home" / "outputs" / "result.txt").read_text() == "x"
    model = asyncio.run(manager.get("data/cohort.csv"))
    assert model["content"] == "id\n1\n"
