"""Per table, the console says whether its evidence was replayed on the extract and what
matched: the checker's request page and the researcher's, in English and French."""

from __future__ import annotations

import hashlib
import json

import pandas as pd

from egress import tables
from egress.sidecar import FORMAT
from spe.console import i18n
from spe.console.web import templates
from spe.domain.roles import Role
from tests.console.conftest import Browser
from tests.console.test_pages import assert_strict
from testsupport.factories import auth, make_user

MISMATCH = {
    "status": "mismatch", "reason": "1 cell(s) of the file differ from the table made again on "
    "the extract", "seconds": 0.4, "rows_read": 40000,
    "extract": {"extract_id": "x-0123456789abcdef"},
    "spec": {"table": "snds-care", "rows": ["act_code"], "columns": ["icd10"],
             "statistic": "mean", "values": "cost_eur", "where": "cost_eur >= 5",
             "margins": False, "margins_name": "All", "derived": [], "unrecorded": None},
    "cells": [{"line": 3, "row": ["C"], "column": "E11", "submitted": "12.5",
               "replayed": "40.25"}],
    "cells_differing": 1}


def _render(replay: dict, language: str) -> str:
    macro = templates.env.get_template("_flags.html").module.replay_summary
    with i18n.speaking(language):
        return str(macro(replay))


def test_a_mismatch_shows_the_specification_and_the_cells():
    html = _render(MISMATCH, "en")
    assert "Evidence replayed on the extract:" in html and ">mismatch<" in html
    assert "<code>snds-care</code> · <code>x-0123456789abcdef</code>" in html
    assert "<code>cost_eur &gt;= 5</code>" in html and "mean of <code>cost_eur</code>" in html
    assert "Cells that differ (1 of 1)" in html
    assert '<td>C</td><td>E11</td><td class="sev-fail">12.5</td><td>40.25</td>' in html
    french = _render(MISMATCH, "fr")
    assert "Preuve rejouée sur l'extraction" in french and "non concordante" in french
    assert "Cellules qui diffèrent (1 sur 1)" in french


def test_verified_and_not_replayable_say_what_the_evidence_is_worth():
    verified = _render({**MISMATCH, "status": "verified", "cells": []}, "en")
    assert "the counts and contributions checked are the extract's" in verified
    assert "Cells that differ" not in verified
    derived = _render({"status": "not replayable", "reason": "derived variable(s) 'band'",
                       "seconds": 0.0, "spec": {**MISMATCH["spec"], "derived": ["band"]}},
                      "en")
    assert "informative only" in derived and "<dd>band</dd>" in derived


def test_the_request_pages_show_the_replay(app, engine, client, world):
    """A table with its specification, submitted to a project whose extract is not ready:
    not replayable, said so on the checker's page and on the researcher's."""
    res = tables.crosstab(pd.DataFrame({"sex": ["F", "M"] * 20, "region": ["N"] * 40}),
                          "region", "sex")
    res.spec.table = "snds-beneficiaries"
    csv = res.table.to_csv().encode()
    side = json.dumps({"format": FORMAT, "version": 1, "checker_only": True,
                       "table_file": "n.csv", "table_sha256": hashlib.sha256(csv).hexdigest(),
                       "evidence": res.evidence.to_json(), "replay": res.spec.to_json()})
    response = client.post(
        f"/api/v1/projects/{world.project_id}/egress-requests", headers=auth(world.alice_token),
        data={"title": "Replayed?", "descriptions": ["counts"]},
        files=[("files", ("n.csv", csv, "text/csv")),
               ("files", ("n.sdc.json", side.encode(), "application/json"))])
    assert response.status_code == 201, response.text
    rid = response.json()["id"]
    checker = Browser(app, make_user(engine, Role.output_checker)[1])
    page = checker.get(f"/console/review/{rid}")
    assert page.status_code == 200
    assert_strict(page.text)
    assert "Evidence replayed on the extract:" in page.text
    assert "not replayable" in page.text and "the project&#39;s extract is not ready" in page.text
    mine = Browser(app, world.alice_token, "fr").get(f"/console/requests/{rid}")
    assert mine.status_code == 200 and "non rejouable" in mine.text
    assert "l’extraction du projet n’est pas prête" in mine.text  # noqa: RUF001
    assert "extract is not ready" not in mine.text


def _mismatched_record(tmp_path) -> dict:
    """The check record of a library table edited after it was made, replayed on its
    extract: a mismatch."""
    from egress.checks import check_paths
    from egress.replay.engine import ParquetFolder

    (tmp_path / "data").mkdir()
    (tmp_path / "outputs").mkdir()
    pd.DataFrame({"region": ["11", "24", "75"] * 20, "sex": ["F", "M"] * 30}).to_parquet(
        tmp_path / "data" / "cohort.parquet")
    path = tmp_path / "outputs" / "n.csv"
    tables.crosstab(tables.read_extract("cohort", tmp_path / "data"), "region", "sex"
                    ).to_csv(path)
    path.write_text(path.read_text().replace("\n24,", "\n24,9", 1))
    [record] = check_paths([path], "snds", extract=ParquetFolder(tmp_path / "data"))
    return record


def test_a_mismatch_says_its_reason_and_rule_in_french(tmp_path):
    record = _mismatched_record(tmp_path)
    replayed = record["replay"]
    assert replayed["status"] == "mismatch"
    english_reason = "1 cell(s) of the file differ from the table made again on the extract"
    assert replayed["reason"] == english_reason  # the record's English, as before
    [flag] = [f for f in record["flags"] if f["rule"] == "replay"]
    assert flag["reason"] == (f"the table made again on the extract is not this file: "
                              f"{english_reason} (24, F: 9{replayed['cells'][0]['replayed']} "
                              f"in the file, {replayed['cells'][0]['replayed']} on the extract)")
    flags = templates.env.get_template("_flags.html").module.flag_list
    with i18n.speaking("fr"):
        french = _render(replayed, "fr") + str(flags(record["flags"]))
    assert "1 cellule(s) du fichier diffèrent du tableau refait sur l’extraction" in french  # noqa: RUF001
    assert "<strong>rejeu</strong>" in french and "<strong>replay</strong>" not in french
    assert ("le tableau refait sur l’extraction n’est pas ce fichier : 1 cellule(s) du "  # noqa: RUF001
            "fichier diffèrent") in french
    assert "24, F : 9" in french and "dans le fichier" in french
    assert "differ from the table" not in french
    with i18n.speaking("en"):
        english = _render(replayed, "en") + str(flags(record["flags"]))
    assert english_reason in english and "<strong>replay</strong>" in english


def test_a_replay_that_cannot_run_says_why_in_french():
    from egress.replay.engine import replay
    from egress.replay.spec import ReplaySpec

    spec = ReplaySpec(table="cohort", rows=["band"], columns=[], derived=["band"])
    found = replay(spec, b"band,n\n", _NeverRead(), 5)
    assert found.to_json()["reason"] == ("derived variable(s) 'band': not columns of extract "
                                         "table 'cohort'")
    french = _render(found.to_json(), "fr")
    assert ("variable(s) dérivée(s) &#39;band&#39; : pas des colonnes de la table "
            "d’extraction &#39;cohort&#39;") in french  # noqa: RUF001


class _NeverRead:
    """Extract tables never read: the specification refuses first."""

    def read(self, name, columns, deadline):
        raise AssertionError("not read")


def test_a_filter_the_extract_cannot_answer_says_why_in_french(tmp_path):
    from egress.replay.engine import ParquetFolder, replay
    from egress.replay.spec import ReplaySpec

    pd.DataFrame({"sex": ["F", "M"] * 10}).to_parquet(tmp_path / "cohort.parquet")
    spec = ReplaySpec(table="cohort", rows=["sex"], columns=[], where="sex == 1")
    found = replay(spec, b"sex,count\nF,10\nM,10\n", ParquetFolder(tmp_path), 10).to_json()
    assert found["status"] == "not replayable"
    assert found["reason"] == ("the table cannot be made from the extract: 'sex' holds string "
                               "values, compared with a number (1.0)")
    french = _render(found, "fr").replace("&#39;", "'")
    assert ("le tableau ne peut pas être fait à partir de l’extraction : 'sex' contient des "  # noqa: RUF001
            "valeurs string, comparées à un nombre (1.0)") in french
