"""``spe permit …``: the common permit operations, through the API."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from spe.cli.client import ApiClient, Json, Token, Url, emit, load_file, out
from spe.cli.templates import amendment_template, permit_template

app = typer.Typer(help="Record and change data permits (needs a permit_manager or admin token).",
                  no_args_is_help=True)
NEEDS_REASON = frozenset({"suspend", "revoke"})
"""The transitions whose reason is required (the state machine's ``needs_reason``; a test
keeps the two equal: importing it would load the database layer at start-up)."""
Reason = Annotated[str, typer.Option("--reason", "-r", help="Why (kept in the history).")]


@app.command()
def template(amendment: Annotated[bool, typer.Option(
        "--amendment", help="An amendment (for `spe permit amend`) instead.")] = False) -> None:
    """Print a commented example permit (YAML) that `spe permit create` accepts, naming the
    demo's datasets: save it, edit it, create it."""
    typer.echo(amendment_template() if amendment else permit_template(), nl=False)


@app.command("list")
def list_permits(url: Url = None, token: Token = None, as_json: Json = False) -> None:
    """List permits with their status."""
    def human(items: list[dict]) -> None:
        from rich.table import Table

        table = Table("reference", "status", "valid until", "project", "title")
        for p in items:
            table.add_row(p["reference"], p["effective_status"], p["valid_until"][:10],
                          p["project_id"] or "", p["project_title"])
        out.print(table)
    emit(list(ApiClient(url, token).pages("/permits")), as_json, human)


@app.command()
def show(permit: str, url: Url = None, token: Token = None, as_json: Json = False) -> None:
    """Show one permit (id or reference): terms, status, validity, project."""
    def human(p: dict) -> None:
        out.print(f"permit [bold]{p['reference']}[/] ({p['issuer']}): {p['effective_status']}"
                  f", version {p['version']}, valid {p['valid_from'][:10]} to "
                  f"{p['valid_until'][:10]}, project {p['project_id'] or 'none'}")
        if p.get("status_reason"):
            out.print(f"status reason: {p['status_reason']}")
        out.print(f"purpose: {p['purpose']}")
        out.print(f"principal investigator: {p['principal_investigator']}; members: "
                  f"{', '.join(p['members'])}")
        for d in p["datasets"]:
            out.print(f"dataset {d['dataset']}: {', '.join(d['variables'])}")
        out.print(f"policy pack {p['sdc_policy']}, workspace profile "
                  f"{p['workspace_profile']}", style="dim")
    emit(ApiClient(url, token).call("GET", f"/permits/{permit}"), as_json, human)


@app.command()
def history(permit: str, url: Url = None, token: Token = None, as_json: Json = False) -> None:
    """Show who changed what in a permit, and when."""
    def human(items: list[dict]) -> None:
        from rich.table import Table

        table = Table("version", "at (UTC)", "action", "changed", "reason")
        for r in items:
            table.add_row(str(r["version"]), r["at"][:19].replace("T", " "), r["action"],
                          ", ".join(r["changed"]), r["reason"] or "")
        out.print(table)
    emit(ApiClient(url, token).call("GET", f"/permits/{permit}/history")["items"], as_json,
         human)


@app.command()
def create(file: Annotated[Path, typer.Argument(help="Permit as YAML or JSON.")],
           url: Url = None, token: Token = None) -> None:
    """Record a granted permit from a YAML or JSON file (creates its project)."""
    permit = ApiClient(url, token).call("POST", "/permits", load_file(file))
    out.print(f"permit [bold]{permit['reference']}[/] recorded; project {permit['project_id']}")


@app.command()
def amend(permit: str, file: Annotated[Path, typer.Argument(help="Changed terms, YAML/JSON.")],
          reason: Reason, url: Url = None, token: Token = None) -> None:
    """Amend an active permit's terms (members, datasets, variables, purpose…)."""
    body = {**load_file(file), "reason": reason}
    result = ApiClient(url, token).call("POST", f"/permits/{permit}/amend", body)
    out.print(f"permit {result['reference']} amended (version {result['version']})")


@app.command()
def renew(permit: str,
          until: Annotated[datetime, typer.Option(help="New end of validity (ISO date).")],
          reason: Annotated[str, typer.Option("--reason", "-r")] = "renewal",
          url: Url = None, token: Token = None) -> None:
    """Extend an active permit."""
    moment = until if until.tzinfo else until.astimezone()
    body = {"valid_until": moment.isoformat(), "reason": reason}
    result = ApiClient(url, token).call("POST", f"/permits/{permit}/renew", body)
    out.print(f"permit {result['reference']} renewed until {result['valid_until']}")


@app.command()
def submit(file: Annotated[Path, typer.Argument(
               help="The signed decision, a compact JWS; - reads standard input.")],
           url: Url = None, token: Token = None) -> None:
    """Apply a permit decision signed by a trusted issuer (grant, amend, renew, suspend,
    resume or revoke: docs/permits.md)."""
    try:
        jws = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {file}: {exc}") from exc
    result = ApiClient(url, token).call("POST", "/permits/decisions", {"jws": jws.strip()})
    out.print(f"permit {result['reference']} of {result['issuer']} is now {result['status']} "
              f"(version {result['version']})")


def _simple(action: str):
    def command(permit: str, reason: Annotated[str | None, typer.Option(
                    "--reason", "-r", help="Why (kept in the history).")] = None,
                url: Url = None, token: Token = None) -> None:
        if action in NEEDS_REASON and not reason:
            raise typer.BadParameter(f"{action} needs --reason", param_hint="--reason")
        body = {"reason": reason} if reason else {}
        result = ApiClient(url, token).call("POST", f"/permits/{permit}/{action}", body)
        out.print(f"permit {result['reference']} is now {result['status']}")

    command.__doc__ = {"suspend": "Suspend a permit: workspace stopped, logins refused, data "
                                  "kept.",
                       "resume": "Resume a suspended permit.",
                       "revoke": "Revoke a permit for good: workspace torn down, data "
                                 "shredded."}[action]
    return command


for _action in ("suspend", "resume", "revoke"):
    app.command(_action)(_simple(_action))

