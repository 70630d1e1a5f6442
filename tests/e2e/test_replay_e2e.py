"""Evidence replayed, not believed, on a real ``spe up``: alice's kernel makes tables with the
analysis library from the workspace's data/ and submits them; the airlock makes each again
on the project's encrypted extract.

- a table of mean birth years, made with the library and a filter: verified, and it passes
  on its own merits (a plain CSV of means can only go to review);
- the same kind of table edited afterwards: mismatch, failed, with the cell;
- a hand-written sidecar: not replayable, its evidence informative only;
- a specification with a derived variable: not replayable;
- mean costs by act and drug: a few people's costs dominate some cells. The same bytes
  without the sidecar go to review with no dominance flag; replayed, the extract's own
  per-person contributions fail exactly the cells plain pandas finds dominated.

Every replay is audited with alice as actor and the extract as target.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.e2e.test_workspace_e2e import (
    alice_opens_jupyterlab,
    audit_events,
    platform,  # noqa: F401 - the fixture
    run_in_kernel,
)

pytestmark = pytest.mark.slow

REPLAY_CODE = """
import hashlib, json, os, subprocess, sys
from egress import tables
out = "outputs/replay"
os.makedirs(out, exist_ok=True)
people = tables.read_extract("snds-beneficiaries")
care = tables.read_extract("snds-care")
# verified: made with the library, a filter recorded
tables.pivot_table(people, "birth_year", "sex", aggfunc="mean",
                   where="birth_year >= 1950").to_csv(f"{out}/birth.csv")
# edited afterwards
tables.crosstab(people, "sex", "department").to_csv(f"{out}/edited.csv")
lines = open(f"{out}/edited.csv").read().splitlines()
first = lines[1].split(",")
first[1] = str(int(first[1]) + 7)
lines[1] = ",".join(first)
open(f"{out}/edited.csv", "w").write("\\n".join(lines) + "\\n")
# a hand-written sidecar for a table of means, true to its bytes, with no specification
table = b"sex,mean_cost\\n1,55.2\\n2,56.1\\n"
open(f"{out}/hand.csv", "wb").write(table)
json.dump({"format": "spe-sdc-sidecar", "version": 1, "table_file": "hand.csv",
           "table_sha256": hashlib.sha256(table).hexdigest(),
           "evidence": {"statistic": "mean", "row_dims": ["sex"], "col_dims": ["mean_cost"],
                        "row_labels": [[1], [2]], "col_labels": [["mean_cost"]],
                        "margins": False, "count": [[1000], [1000]],
                        "total": [[55200.0], [56100.0]], "top": [[[90.0, 80.0]], [[95.0, 85.0]]],
                        "negatives": [[0], [0]]}}, open(f"{out}/hand.sdc.json", "w"))
# a derived variable
people["decade"] = people.birth_year // 10 * 10
tables.crosstab(people, "decade", "sex").to_csv(f"{out}/derived.csv")
# dominance: mean cost by act and drug; the cells plain pandas finds dominated (n=2, k=0.85)
tables.pivot_table(care, "cost_eur", "act_code", "atc_code",
                   aggfunc="mean").to_csv(f"{out}/cost.csv")
open(f"{out}/plain_cost.csv", "wb").write(open(f"{out}/cost.csv", "rb").read())
grouped = care.groupby(["act_code", "atc_code"]).cost_eur
share = grouped.apply(lambda x: x.abs().nlargest(2).sum()) / grouped.apply(lambda x: x.abs().sum())
dominated = sorted([a, b] for (a, b), s in share.items() if s >= 0.85)
names = ["birth.csv", "birth.sdc.json", "edited.csv", "edited.sdc.json", "hand.csv",
         "hand.sdc.json", "derived.csv", "derived.sdc.json", "cost.csv", "cost.sdc.json",
         "plain_cost.csv"]
submitted = subprocess.run(
    [sys.executable, "-m", "spe", "egress", "submit", *(f"{out}/{n}" for n in names),
     "--title", "Replayed tables", "--description", "egress.tables on the extract", "--json"],
    capture_output=True, text=True, timeout=300)
assert submitted.returncode == 0, submitted.stderr
print("REPLAY", json.dumps({"request": json.loads(submitted.stdout)["id"],
                            "dominated": dominated}))
"""


def test_tables_are_replayed_on_the_extract(platform, tmp_path):  # noqa: F811
    project_id = platform.wait_for(r"project (p-[0-9a-f]+)", timeout=120)[1]
    hub = platform.wait_for(r"workspace is ready:\S* (\S+)", timeout=240)[1]
    cookies = alice_opens_jupyterlab(platform, hub, tmp_path / "jupyterlab.png")
    output = run_in_kernel(f"{hub}user/alice/", cookies, REPLAY_CODE)
    found = json.loads(re.search(r"^REPLAY (.+)$", output, re.MULTILINE)[1])
    request = platform.api("checker1").get(f"/api/v1/egress/requests/{found['request']}").json()
    files = {f["name"]: f for f in request["files"]}
    replay = {n: f["check"].get("replay", {}).get("status") for n, f in files.items()
              if not f["checker_only"]}
    assert replay == {"birth.csv": "verified", "edited.csv": "mismatch",
                      "hand.csv": "not replayable", "derived.csv": "not replayable",
                      "cost.csv": "verified", "plain_cost.csv": None}, files

    birth = files["birth.csv"]["check"]
    assert birth["replay"]["spec"]["where"] == "birth_year >= 1950"
    assert files["birth.csv"]["outcome"] == "pass", birth

    edited = files["edited.csv"]
    assert edited["outcome"] == "fail"
    [cell] = edited["check"]["replay"]["cells"]
    assert cell["line"] == 2 and int(cell["submitted"]) == int(cell["replayed"]) + 7

    hand = files["hand.csv"]  # believed, its evidence would pass these means
    assert "records no specification" in hand["check"]["replay"]["reason"]
    assert hand["outcome"] == "review"
    derived = files["derived.csv"]["check"]["replay"]
    assert derived["spec"]["derived"] == ["decade"]
    assert files["derived.csv"]["outcome"] != "pass"

    plain = files["plain_cost.csv"]
    assert plain["outcome"] == "review"
    assert not any(f["rule"] == "nk-dominance" for f in plain["check"]["flags"])
    cost = files["cost.csv"]
    assert cost["outcome"] == "fail"
    flagged = sorted(f["row"] + f["column"] for f in cost["check"]["flags"]
                     if f["rule"] == "nk-dominance")
    assert found["dominated"] and flagged == found["dominated"]

    audited = [e for e in audit_events(platform, "egress.replay")
               if e.details["request_id"] == found["request"]]
    assert sorted(e.details["file"] for e in audited) == [
        "birth.csv", "cost.csv", "derived.csv", "edited.csv", "hand.csv"]
    [submit] = [e for e in audit_events(platform, "egress.request.submit")
                if e.target_id == found["request"]]
    assert {(e.actor_id, e.project_id) for e in audited} == {(submit.actor_id, project_id)}
    assert all(e.target_id and e.target_id.startswith("x-") for e in audited)
    assert platform.stop() == 0
