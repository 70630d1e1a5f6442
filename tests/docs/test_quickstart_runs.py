"""docs/quickstart.md, then README.md, then the auditor's recipe of docs/audit.md, run as
written: every notebook block in alice's workspace kernel and every shell block in bash, in
order, against a real ``spe up``.

What is substituted, and only that: the placeholders a reader fills in (``<alice's token>``,
``<request id>``, ``<release id>``, ``p-…``) and the address, since the test's ``spe up``
listens on a free port instead of 8000. Not executed, and checked to still say so: ``bash
scripts/up.sh`` (install, then ``spe up``: the fixture runs ``spe up`` itself) and README's
``bash scripts/test.sh`` (this suite). The auditor's recipe gets the shell variables it
names: ``$SPE``, ``$TOKEN`` (the demo auditor's) and ``$READ_ONLY_URL`` (the SQLite file of
``spe up``). A command that fails fails the test.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.docs.test_docs_blocks import blocks_of
from tests.e2e.test_workspace_e2e import (  # noqa: F401
    Platform,
    alice_opens_jupyterlab,
    platform,
    run_in_kernel,
)

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parents[2]
QUICKSTART, README = ROOT / "docs" / "quickstart.md", ROOT / "README.md"
AUDIT = ROOT / "docs" / "audit.md"
BLOCK = re.compile(r"^( *)```(sh|python)\n(.*?)^\1```", re.MULTILINE | re.DOTALL)
NOT_RUN = ("bash scripts/up.sh", "bash scripts/test.sh")


def blocks(text: str) -> list[tuple[str, str]]:
    """(language, code) of each fenced block, indentation removed, in order."""
    found = []
    for match in BLOCK.finditer(text):
        indent = len(match[1])
        code = "\n".join(line[indent:] for line in match[3].splitlines())
        found.append((match[2], code + "\n"))
    return found


def test_blocks_are_found():
    found = blocks(QUICKSTART.read_text(encoding="utf-8"))
    assert found[0][0] == "sh" and found[0][1].startswith(NOT_RUN[0])
    assert {"sh", "python"} <= {language for language, _ in found}
    assert [code.split()[:2] for _, code in blocks(README.read_text(encoding="utf-8"))][:2] \
        == [["bash", "scripts/up.sh"], ["bash", "scripts/test.sh"]]


def test_the_quickstart_runs_as_written(platform, tmp_path: Path):  # noqa: F811
    project_id = platform.wait_for(r"project (p-[0-9a-f]+)", timeout=120)[1]
    hub = platform.wait_for(r"workspace is ready:\S* (\S+)", timeout=240)[1]
    cookies = alice_opens_jupyterlab(platform, hub, tmp_path / "lab.png")
    alice = platform.api("alice")
    values = {"<request id>": None, "<release id>": None, "p-…": project_id,
              "http://127.0.0.1:8000": platform.url}
    values |= {f"<{who}'s token>": token for who, token in platform.tokens.items()}
    env = {**os.environ, "SPE_URL": platform.url, "SPE_DATA_DIR": str(platform.data),
           "COLUMNS": "200"}
    env.pop("SPE_TOKEN", None)

    every = [(f"quickstart block {n}", *b) for n, b in
             enumerate(blocks(QUICKSTART.read_text(encoding="utf-8")), start=1)]
    every += [(f"README block {n}", *b) for n, b in
              enumerate(blocks(README.read_text(encoding="utf-8")), start=1)]
    every += [(f"docs/audit.md:{b.line}", b.language, b.code) for b in blocks_of(AUDIT)
              if b.not_run is None and b.language == "sh"]
    env |= {"SPE": platform.url, "TOKEN": platform.tokens["auditor"],
            "READ_ONLY_URL": f"sqlite:///{platform.data / 'spe.db'}"}
    for number, language, code in every:
        if code.split("#")[0].strip() in NOT_RUN:
            continue  # the fixture's `spe up`; the suite itself
        if values["<request id>"] is None:
            requests = alice.get(f"/api/v1/projects/{project_id}/egress-requests").json()
            if requests["items"]:
                values["<request id>"] = requests["items"][-1]["id"]
        for placeholder, value in values.items():
            if placeholder in code:
                assert value is not None, f"{number} needs {placeholder} too early"
                code = code.replace(placeholder, value)
        if language == "python":
            output = run_in_kernel(f"{hub}user/alice/", cookies, code)
        else:
            done = subprocess.run(["bash", "-e", "-c", code], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, f"{number}:\n{code}\n{done.stdout}{done.stderr}"
            output = done.stdout
        if release := re.search(r"release (\w{32}) of request", output):
            values["<release id>"] = release[1]
    assert values["<release id>"], "the quickstart never released anything"
    assert (tmp_path / "results" / "counts.csv").is_file()  # alice's download
