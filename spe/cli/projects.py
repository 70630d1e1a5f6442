"""``spe project …``: projects and the kill switch, through the API."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from spe.cli.client import ApiClient, print_json
from spe.cli.permits import Reason, Token, Url

app = typer.Typer(help="Projects (workspaces) and the kill switch.", no_args_is_help=True)
out = Console()


@app.command("list")
def list_projects(url: Url = None, token: Token = None,
                  json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the projects visible to the token's owner."""
    client, items, cursor = ApiClient(url, token), [], None
    while True:
        page = client.call("GET", "/projects",
                           params={"limit": 200, **({"cursor": cursor} if cursor else {})})
        items += page["items"]
        if not (cursor := page["next"]):
            break
    if json_out:
        print_json(items)
        return
    table = Table("id", "permit", "desired", "observed", "workspace")
    for p in items:
        table.add_row(p["id"], p["permit_reference"], p["desired_state"], p["observed_state"],
                      p["workspace_url"] or "")
    out.print(table)


@app.command()
def show(project: str, url: Url = None, token: Token = None) -> None:
    """Show one project, with its extract's status, as JSON."""
    client = ApiClient(url, token)
    print_json({**client.call("GET", f"/projects/{project}"),
                "extract": client.call("GET", f"/projects/{project}/extract/status")})


@app.command()
def halt(project: str, reason: Reason, url: Url = None, token: Token = None) -> None:
    """Kill switch: suspend the project's permit; its servers and hub stop at once and
    logins are refused (admin or permit_manager). `spe permit resume` lifts it."""
    result = ApiClient(url, token).call("POST", f"/projects/{project}/halt",
                                        {"reason": reason})
    out.print(f"project {project} halted: permit {result['permit_reference']} is "
              f"{result['permit_status']}", highlight=False)
