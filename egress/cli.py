"""``spe egress check``: run the automated SDC checks on files, inside or outside a workspace.

Exit codes: 0 every file passes; 1 at least one needs review (none fails); 2 at least one
fails; 3 usage error or unreadable input; 4 unknown policy pack.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from egress.errors import InputError, UnknownPolicyError

EXIT = {"pass": 0, "review": 1, "fail": 2}
EXIT_USAGE = 3
EXIT_UNKNOWN_POLICY = 4
STYLE = {"pass": "green", "review": "yellow", "fail": "bold red"}

app = typer.Typer(help="Statistical disclosure control checks for egress.",
                  no_args_is_help=True, add_completion=False)


@app.callback()
def main() -> None:
    """Statistical disclosure control checks for egress."""


@app.command()
def check(
    files: Annotated[list[Path], typer.Argument(help="Files or folders (ACRO output folders "
                                                     "too) to check.")],
    policy: Annotated[str, typer.Option("--policy", "-p", help="Policy pack name.")] = "snds",
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON check records.")]
    = False,
    ledger: Annotated[Path | None, typer.Option(help="Released-tables ledger (JSON) for "
                                                     "differencing.")] = None,
    cohort_size: Annotated[int | None, typer.Option(help="Cohort size, to spot row-level "
                                                         "data.")] = None,
    extract: Annotated[Path | None, typer.Option(help="The workspace's extract folder "
                                                      "(data/): replay analysis-library "
                                                      "tables on it, as the airlock will on "
                                                      "the project's extract.")] = None,
) -> None:
    """Check FILES with a policy pack. Exit 0 pass, 1 review, 2 fail, 3 bad input, 4 unknown
    policy."""
    from rich.console import Console  # rich, the SDC engine and numpy load only when checking

    from egress.checks import check_paths
    from egress.differencing import Ledger

    err = Console(stderr=True)
    tables = None
    if extract is not None:
        if not extract.is_dir():
            err.print(f"[red]cannot check:[/] no extract folder {extract}")
            raise typer.Exit(EXIT_USAGE)
        from egress.replay.engine import ParquetFolder  # pyarrow and pandas: only to replay

        tables = ParquetFolder(extract)
    try:
        released = Ledger.from_json(json.loads(ledger.read_text())) if ledger else None
        records = check_paths(files, policy, ledger=released, cohort_size=cohort_size,
                              extract=tables)
    except UnknownPolicyError as exc:
        err.print(f"[red]unknown policy:[/] {exc}")
        raise typer.Exit(EXIT_UNKNOWN_POLICY) from exc
    except (InputError, OSError, ValueError) as exc:
        err.print(f"[red]cannot check:[/] {exc}")
        raise typer.Exit(EXIT_USAGE) from exc
    if as_json:
        typer.echo(json.dumps(records, indent=2))
    else:
        _summary(records)
    worst = max((EXIT[r["outcome"]] for r in records), default=0)
    raise typer.Exit(worst)


def _summary(records: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="SDC checks", show_lines=True)
    for col in ("file", "kind", "outcome", "flags", "notes"):
        table.add_column(col)
    for r in records:
        flags = "\n".join(f"{f['rule']}: {' / '.join(f['row'] + f['column']) or '(file)'}: "
                          f"{f['reason']}" for f in r["flags"][:8])
        if len(r["flags"]) > 8:
            flags += f"\n… {len(r['flags']) - 8} more"
        table.add_row(r["file"], r["kind"], f"[{STYLE[r['outcome']]}]{r['outcome']}[/]", flags,
                      "\n".join(r["notes"]))
    console.print(table)


if __name__ == "__main__":
    app()
