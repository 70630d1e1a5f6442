"""``spe project …``: projects and the kill switch, through the API."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from spe.cli.client import ApiClient, Json, Token, Url, emit
from spe.cli.client import table as client_table
from spe.cli.output import err, out
from spe.cli.permits import Reason

app = typer.Typer(help="Projects (workspaces) and the kill switch.", no_args_is_help=True)
EXTRACT_DONE = {"ready": 0, "failed": 1, "shredded": 1}
"""Extract states that end ``spe project extract``, with its exit code."""
EXTRACT_NOT_DONE = 4


@app.command("list")
def list_projects(url: Url = None, token: Token = None, as_json: Json = False) -> None:
    """List the projects visible to the token's owner."""
    def human(items: list[dict]) -> None:
        table = client_table("id", "permit", "desired", "observed", "workspace")
        for p in items:
            table.add_row(p["id"], p["permit_reference"], p["desired_state"],
                          p["observed_state"], p["workspace_url"] or "")
        out.print(table)
    emit(list(ApiClient(url, token).pages("/projects")), as_json, human)


@app.command()
def show(project: str, url: Url = None, token: Token = None, as_json: Json = False) -> None:
    """Show one project: its permit, workspace and extract's status."""
    client = ApiClient(url, token)
    found = {**client.call("GET", f"/projects/{project}"),
             "extract": client.call("GET", f"/projects/{project}/extract/status")}

    def human(p: dict) -> None:
        out.print(f"project [bold]{p['id']}[/] of permit {p['permit_reference']}: desired "
                  f"{p['desired_state']}, observed {p['observed_state']}", highlight=False)
        if p.get("workspace_url"):
            out.print(f"workspace: {p['workspace_url']}", highlight=False)
        out.print(_extract_line(p["extract"]), highlight=False)
    emit(found, as_json, human)


@app.command()
def halt(project: str, reason: Reason, url: Url = None, token: Token = None) -> None:
    """Kill switch: suspend the project's permit; its servers and hub stop at once and
    logins are refused (admin or permit_manager). `spe permit resume` lifts it."""
    result = ApiClient(url, token).call("POST", f"/projects/{project}/halt",
                                        {"reason": reason})
    out.print(f"project {project} halted: permit {result['permit_reference']} is "
              f"{result['permit_status']}", highlight=False)


@app.command()
def extract(
    project: str, url: Url = None, token: Token = None,
    once: Annotated[bool, typer.Option("--once", help="Print the status once and exit.")]
    = False,
    interval: Annotated[float, typer.Option(min=0.1, help="Seconds between polls.")] = 1.0,
) -> None:
    """Follow the preparation of the project's extract with a progress bar until it is ready
    (exit 0) or failed (exit 1; also when shredded). With --once, print the status as it is:
    exit 0 ready, 1 failed, 4 not finished yet."""
    client = ApiClient(url, token)
    path = f"/projects/{project}/extract/status"
    status = client.call("GET", path)
    if once:
        out.print(_extract_line(status), highlight=False)
        raise typer.Exit(EXTRACT_DONE.get(status["state"], EXTRACT_NOT_DONE))
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

    columns = (TextColumn("extract {task.fields[state]}"), BarColumn(), TaskProgressColumn(),
               TextColumn("{task.fields[rows]}"))
    with Progress(*columns, console=out.console(), transient=False) as progress:
        bar = progress.add_task("extract", total=100, state="", rows="")
        while True:
            progress.update(bar, completed=status.get("percent") or 0, state=status["state"],
                            rows=_rows(status))
            if status["state"] in EXTRACT_DONE:
                break
            time.sleep(interval)
            status = client.call("GET", path)
    if status["state"] != "ready":
        err.print(f"[red]extract {status['state']}:[/] {status.get('message') or ''}")
    else:
        out.print(_extract_line(status), highlight=False)
    raise typer.Exit(EXTRACT_DONE[status["state"]])


def _rows(status: dict) -> str:
    done, total = status.get("rows_done"), status.get("rows_total")
    if done is None:
        return ""
    return f"{done:,} rows" if total is None else f"{done:,}/{total:,} rows"


def _extract_line(status: dict) -> str:
    parts = [f"extract of {status['project_id']}: {status['state']}"]
    if status.get("percent") is not None:
        parts.append(f"{status['percent']}%")
    if rows := _rows(status):
        parts.append(rows)
    if status.get("extract_id"):
        parts.append(status["extract_id"])
    if status.get("message"):
        parts.append(status["message"])
    return ", ".join(parts)
