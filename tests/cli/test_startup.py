"""The command line starts at once: what importing it loads (not timed: what it imports).

Every ``spe`` command, ``spe --help`` included, pays for what ``spe.cli.main`` imports. The
heavy parts (pandas, the database layer, jsonschema's format checkers, the SDC engine, httpx)
load inside the commands that use them. The figures: ``python -m benchmarks.cli``.
"""

from __future__ import annotations

import json
import subprocess
import sys

from spe.airlock.models import Decision
from spe.cli.egress import Decision as CliDecision
from spe.cli.main import RoleName
from spe.cli.permits import NEEDS_REASON
from spe.domain.permit_lifecycle import TRANSITIONS
from spe.domain.roles import Role

HEAVY = ("pandas", "numpy", "scipy", "pyarrow", "sqlalchemy", "sqlmodel", "jsonschema",
         "rfc3987_syntax", "fastapi", "pydantic", "httpx", "cryptography", "yaml",
         "egress.sdc", "egress.tables", "egress.checks", "spe.domain", "spe.db",
         "rich", "http.server", "controllers.health")
"""rich loads when something is printed (plain help prints without it); the controller's
health server when the controller runs."""


def loaded_after(code: str) -> list[str]:
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.splitlines()[-1])


def heavy_in(modules: list[str], allowed: tuple[str, ...] = ()) -> list[str]:
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)
            and m.split(".")[0] not in allowed]


def test_importing_the_cli_and_its_help_load_nothing_heavy():
    assert heavy_in(loaded_after("import spe.cli.main")) == []
    code = ("from typer.testing import CliRunner\nfrom spe.cli.main import app\n"
            "assert CliRunner().invoke(app, ['--help']).exit_code == 0\n")
    assert heavy_in(loaded_after(code)) == []


def test_the_help_of_every_group_loads_nothing_heavy():
    """pydantic is typer's own: it converts a group's option types with it."""
    groups = ("egress", "permit", "dataset", "audit", "project", "token", "db", "config",
              "keys", "workspace", "controller")
    code = ("from typer.testing import CliRunner\nfrom spe.cli.main import app\n"
            f"for group in {groups!r}:\n"
            "    assert CliRunner().invoke(app, [group, '--help']).exit_code == 0, group\n")
    assert heavy_in(loaded_after(code), allowed=("pydantic",)) == []


def test_checking_a_lone_table_loads_no_solver_and_no_replay_engine():
    """`spe egress check` of one small CSV: scipy (0.36 s of CPU) is for differencing a group
    of tables, the replay engine (pyarrow, pandas: 0.3 s) for a check given --extract."""
    code = ("import pathlib, tempfile\nfrom typer.testing import CliRunner\n"
            "from spe.cli.main import app\n"
            "p = pathlib.Path(tempfile.mkdtemp()) / 'small.csv'\n"
            "p.write_text('region,count\\nnorth,120\\nsouth,85\\n')\n"
            "assert CliRunner().invoke(app, ['egress', 'check', str(p)]).exit_code == 0\n")
    loaded = loaded_after(code)
    assert "egress.differencing.audit" in loaded  # the differencing check ran
    assert [m for m in loaded if m.split(".")[0] in ("scipy", "pandas", "pyarrow")] == []


def test_a_group_of_tables_loads_the_solver():
    """The other side: two tables sharing a dimension are audited with HiGHS."""
    code = ("import pathlib, tempfile\nfrom egress.checks import check_paths\n"
            "d = pathlib.Path(tempfile.mkdtemp())\n"
            "(d / 'a.csv').write_text('age,n\\n0-17,30\\n18-64,120\\n65+,44\\n')\n"
            "(d / 'b.csv').write_text('age,n\\n0-17,30\\n18-59,110\\n60+,54\\n')\n"
            "assert {r['outcome'] for r in check_paths([d], 'snds')} == {'fail'}\n")
    assert "scipy.optimize" in loaded_after(code)


def test_the_probe_sees_a_heavy_import():
    """The guard itself: a module that imports pandas is caught."""
    assert "pandas" in heavy_in(loaded_after("import egress.tables"))


def test_copies_kept_for_start_up_match_the_domain():
    assert {r.value for r in RoleName} == {r.value for r in Role}
    assert {d.value for d in CliDecision} == {d.value for d in Decision}
    required = {name for name, t in TRANSITIONS.items() if t.needs_reason}
    assert required - {"amend"} == NEEDS_REASON  # amend's reason is an argument, always given
