"""docs/quickstart.md, run as written: every notebook block in alice's workspace kernel and
every shell block in bash, in order, against a real ``spe up``.

What is substituted, and only that: the placeholders a reader fills in (``<alice's token>``,
``<request id>``, ``<release id>``, ``p-…``) and the address, since the test's ``spe up``
listens on a free port instead of 8000. The first block (``bash scripts/up.sh``: install,
then ``spe up``) is the one thing not executed: the fixture runs ``spe up`` itself, and the
test checks the block still says so. A command that fails, or a block that no longer
matches, fails the test.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.e2e.test_workspace_e2e import (  # noqa: F401
    Platform,
    alice_opens_jupyterlab,
    platform,
    run_in_kernel,
)

pytestmark = pytest.mark.slow
QUICKSTART = Path(__file__).parents[2] / "docs" / "quickstart.md"
BLOCK = re.compile(r"^( *)```(sh|python)\n(.*?)^\1```", re.MULTILINE | re.DOTALL)
FIRST = "bash scripts/up.sh"


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
    assert found[0][0] == "sh" and found[0][1].startswith(FIRST)
    assert {"sh", "python"} <= {language for language, _ in found}


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

    (first, *rest) = blocks(QUICKSTART.read_text(encoding="utf-8"))
    assert first == ("sh", first[1]) and first[1].startswith(FIRST), first  # the fixture
    for number, (language, code) in enumerate(rest, start=2):
        if values["<request id>"] is None:
            requests = alice.get(f"/api/v1/projects/{project_id}/egress-requests").json()
            if requests["items"]:
                values["<request id>"] = requests["items"][-1]["id"]
        for placeholder, value in values.items():
            if placeholder in code:
                assert value is not None, f"block {number} needs {placeholder} too early"
                code = code.replace(placeholder, value)
        if language == "python":
            output = run_in_kernel(f"{hub}user/alice/", cookies, code)
        else:
            done = subprocess.run(["bash", "-e", "-c", code], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, f"block {number}:\n{code}\n{done.stdout}{done.stderr}"
            output = done.stdout
        if release := re.search(r"release (\w{32}) of request", output):
            values["<release id>"] = release[1]
    assert values["<release id>"], "the quickstart never released anything"
    assert (tmp_path / "results" / "counts.csv").is_file()  # alice's download
