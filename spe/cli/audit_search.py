"""``spe audit search``: the auditor's search, through the API with the auditor's token.

Kept apart from :mod:`spe.cli.audit` (the host-side commands on the database and key files)
and mounted on the same ``spe audit`` group by :mod:`spe.cli.main`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from spe.cli.client import ApiClient, Json, Token, Url, emit, out
from spe.cli.client import table as client_table


def search(
    actor: Annotated[str | None, typer.Option(
        help="A person's name or e-mail (or user id), or a component's id (hub:p-…).")]
    = None,
    project: Annotated[str | None, typer.Option(help="Project id.")] = None,
    action: Annotated[str | None, typer.Option(help="Action prefix, e.g. egress. or "
                                                    "permit.suspend.")] = None,
    outcome: Annotated[str | None, typer.Option(help="success, denied or error.")] = None,
    since: Annotated[datetime | None, typer.Option(help="From this time (ISO).")] = None,
    until: Annotated[datetime | None, typer.Option(help="Before this time (ISO).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many events.")] = 200,
    url: Url = None, token: Token = None, as_json: Json = False,
) -> None:
    """Search the audit log (auditors, admins): who did what, when, with what outcome; each
    person named beside their id."""
    params = {"actor": actor, "project": project, "action": action, "outcome": outcome,
              "since": since and _aware(since).isoformat(),
              "until": until and _aware(until).isoformat()}
    params = {k: v for k, v in params.items() if v is not None}
    client, events, after = ApiClient(url, token), [], None
    while len(events) < limit:
        page = client.call("GET", "/audit/events", params={
            **params, "limit": min(200, limit - len(events)),
            **({"after": after} if after is not None else {})})
        events += page["items"]
        if (after := page["next"]) is None:
            break
    emit(events, as_json, _table)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.astimezone()


def _table(events: list[dict]) -> None:
    if not events:
        out.print("no events")
        return
    table = client_table("seq", "time (UTC)", "actor", "action", "outcome", "target",
                         "project id")
    for e in events:
        who = e["actor_name"] or e["actor_id"]
        if e.get("actor_role"):
            who += f" ({e['actor_role']})"
        style = {"denied": "yellow", "error": "red"}.get(e["outcome"])
        table.add_row(str(e["seq"]), e["ts"][:19].replace("T", " "), who, e["action"],
                      f"[{style}]{e['outcome']}[/]" if style else e["outcome"],
                      f"{e['target_type'] or ''} {e['target_id'] or ''}".strip(),
                      e["project_id"] or "")
    out.print(table)
    out.print(f"{len(events)} event(s)", style="dim")
