"""``spe permit …``: the common permit operations, through the API."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.console import Console
from rich.table import Table

from spe.cli.client import ApiClient, print_json
from spe.domain.permit_lifecycle import TRANSITIONS

app = typer.Typer(help="Record and change data permits (needs a permit_manager or admin token).",
                  no_args_is_help=True)
Url = Annotated[str | None, typer.Option(envvar="SPE_URL", help="Control plane URL.")]
Token = Annotated[str | None, typer.Option(envvar="SPE_TOKEN", help="Bearer token.",
                                           show_default=False)]
Reason = Annotated[str, typer.Option("--reason", "-r", help="Why (kept in the history).")]
out = Console()


def _load(path: Path) -> dict:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc}") from exc


@app.command("list")
def list_permits(url: Url = None, token: Token = None,
                 json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List permits with their status."""
    client, items, cursor = ApiClient(url, token), [], None
    while True:
        page = client.call("GET", "/permits", params={"limit": 200, "cursor": cursor} if cursor
                           else {"limit": 200})
        items += page["items"]
        cursor = page["next"]
        if not cursor:
            break
    if json_out:
        print_json(items)
        return
    table = Table("reference", "status", "valid until", "project", "title")
    for p in items:
        table.add_row(p["reference"], p["effective_status"], p["valid_until"][:10],
                      p["project_id"] or "", p["project_title"])
    out.print(table)


@app.command()
def show(permit: str, url: Url = None, token: Token = None) -> None:
    """Show one permit (id or reference) as JSON."""
    print_json(ApiClient(url, token).call("GET", f"/permits/{permit}"))


@app.command()
def history(permit: str, url: Url = None, token: Token = None) -> None:
    """Show who changed what in a permit, and when."""
    print_json(ApiClient(url, token).call("GET", f"/permits/{permit}/history")["items"])


@app.command()
def create(file: Annotated[Path, typer.Argument(help="Permit as YAML or JSON.")],
           url: Url = None, token: Token = None) -> None:
    """Record a granted permit from a YAML or JSON file (creates its project)."""
    permit = ApiClient(url, token).call("POST", "/permits", _load(file))
    out.print(f"permit [bold]{permit['reference']}[/] recorded; project {permit['project_id']}")


@app.command()
def amend(permit: str, file: Annotated[Path, typer.Argument(help="Changed terms, YAML/JSON.")],
          reason: Reason, url: Url = None, token: Token = None) -> None:
    """Amend an active permit's terms (members, datasets, variables, purpose…)."""
    body = {**_load(file), "reason": reason}
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
    needs_reason = TRANSITIONS[action].needs_reason  # the state machine's own rule

    def command(permit: str, reason: Annotated[str | None, typer.Option(
                    "--reason", "-r", help="Why (kept in the history).")] = None,
                url: Url = None, token: Token = None) -> None:
        if needs_reason and not reason:
            raise typer.BadParameter(f"{action} needs --reason")
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

