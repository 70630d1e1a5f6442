"""``spe``: run the control plane, manage its database and bootstrap tokens.

Every command pays this module's imports before it starts, ``spe --help`` included: modules
here and in the groups import typer only (rich loads when something is printed), and what a
command needs (the database, the SDC engine) inside the command (tests/cli/test_startup.py
guards it).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from controllers import controller
from spe.cli import audit as audit_cli
from spe.cli import audit_search, datasets, permits, projects, workspace
from spe.cli import egress as egress_cli
from spe.cli.durations import parse_duration
from spe.cli.output import err, out, reported_errors

app = typer.Typer(
    help="spe, a secure processing environment for health data: permits become locked-down "
    "workspaces, every action is audited, results leave only after disclosure checks.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help: typer's rich help loads a Markdown parser (70 ms)
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
token_app = typer.Typer(help="Personal API tokens (run on the control plane host).",
                        no_args_is_help=True)
config_app = typer.Typer(help="Configuration.", no_args_is_help=True)
keys_app = typer.Typer(help="The platform's key files.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")
app.add_typer(permits.app, name="permit")
app.add_typer(projects.app, name="project")
app.add_typer(workspace.app, name="workspace")
app.add_typer(controller.app, name="controller")
app.add_typer(config_app, name="config")
app.add_typer(keys_app, name="keys")
app.add_typer(datasets.app, name="dataset")
app.add_typer(egress_cli.app, name="egress")
audit_cli.app.command("search")(audit_search.search)
app.add_typer(audit_cli.app, name="audit")


class RoleName(StrEnum):
    """The roles (``spe.domain.roles.Role``; a test keeps the two equal: importing the domain
    would load the database layer at start-up)."""
    admin = "admin"
    permit_manager = "permit_manager"
    data_steward = "data_steward"
    researcher = "researcher"
    output_checker = "output_checker"
    auditor = "auditor"


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration, through the privileged connection
    (SPE_DATABASE_ADMIN_URL, default SPE_DATABASE_URL); SPE_DATABASE_APP_ROLE gets the
    application's grants (INSERT and SELECT only on the audit log), SPE_DATABASE_SIGNER_ROLE
    the checkpoint signer's (SELECT on the audit log, INSERT on its checkpoints, nothing
    else)."""
    from spe.db import make_engine
    from spe.migrations import pending_migrations, upgrade
    from spe.settings import get_settings

    settings = get_settings()
    engine = make_engine(settings.resolved_admin_database_url)
    pending = pending_migrations(engine)
    upgrade(engine, app_role=settings.database_app_role,
            signer_role=settings.database_signer_role)
    out.print(f"database at head ({len(pending)} migration(s) applied)")


@token_app.command("create")
def token_create(
    user: Annotated[str, typer.Option(help="Subject (username) of the token's owner.")],
    role: Annotated[RoleName | None, typer.Option(
        help="Grant this role to the user first (created if new): how a deployment is "
        "bootstrapped.")] = None,
    expires_in: Annotated[str | None, typer.Option(
        help="Lifetime: 90s, 30m, 8h, 7d (default SPE_TOKEN_DEFAULT_TTL_HOURS).")] = None,
    description: Annotated[str, typer.Option(help="What the token is for.")] = "",
) -> None:
    """Print a new bearer token for USER, once. Only its hash is stored."""
    from datetime import timedelta

    from spe.bootstrap import create_token
    from spe.domain.roles import Role
    from spe.settings import get_settings

    ttl = parse_duration(expires_in) if expires_in else \
        timedelta(hours=get_settings().token_default_ttl_hours)
    with reported_errors():
        secret, token = create_token(user, Role(role) if role else None, ttl, description)
    err.print(f"token {token.id} for {user}, expires {token.expires_at:%Y-%m-%d %H:%M} UTC",
              style="dim", highlight=False)
    typer.echo(secret)  # alone on stdout: export SPE_TOKEN=$(spe token create …)


@token_app.command("revoke")
def token_revoke(token_id: str) -> None:
    """Revoke a token by its id (see `spe token list`)."""
    from spe.bootstrap import revoke

    with reported_errors():
        revoke(token_id)
    out.print(f"token {token_id} revoked")


@token_app.command("list")
def token_list(user: Annotated[str | None, typer.Option(help="Only this user's.")] = None
               ) -> None:
    """List tokens (ids, owners, expiry; never secrets)."""
    from rich.table import Table

    from spe.bootstrap import list_tokens

    table = Table("id", "owner", "project", "expires", "revoked", "description")
    for token, owner in list_tokens(user):
        table.add_row(token.id, owner, token.project_id or "",
                      f"{token.expires_at:%Y-%m-%d %H:%M}",
                      "yes" if token.revoked_at else "", token.description)
    out.print(table)


@keys_app.command("init")
def keys_init(directory: Annotated[Path, typer.Argument(
        help="Where to write the key files (then store them as the keys Secret).")]) -> None:
    """Create every key file the platform needs (missing ones only, mode 0600): signing keys,
    the secret box, the key-encryption key, the pseudonymisation secret. Back them up:
    losing the key-encryption key makes every extract unreadable."""
    from spe.dataplane.config import create_key_files

    created = create_key_files(directory)
    for path in created:
        out.print(f"created {path}")
    out.print(f"{len(created)} key file(s) created in {directory}")


@config_app.command("reference")
def config_reference() -> None:
    """Print every setting with its default and meaning (Markdown)."""
    from spe.cli.reference import reference_markdown

    typer.echo(reference_markdown(), nl=False)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (SPE_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (SPE_PORT).")] = None,
) -> None:
    """Run the API server. With the embedded SQLite default, migrations run first."""
    from spe.server import PortInUse, run

    try:
        run(host=host, port=port)
    except PortInUse as exc:
        raise _port_in_use(exc) from exc


@app.command()
def up(
    host: Annotated[str | None, typer.Option(help="Listen address.")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port.")] = None,
    demo: Annotated[bool, typer.Option(help="Load the demo permit, users and data.")] = True,
) -> None:
    """Start the embedded platform on this machine (SQLite, local storage) with demo data.

    Prints the URL to open and a token for each demo user.
    """
    from spe.server import PortInUse, SignerFailed, run_embedded

    try:
        run_embedded(host=host, port=port, demo=demo)
    except PortInUse as exc:
        raise _port_in_use(exc) from exc
    except SignerFailed as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from exc


def _port_in_use(exc: Exception) -> typer.Exit:
    err.print(f"[red]error:[/] {exc}", highlight=False)
    err.print("  is spe already running? Stop it, or choose another port: --port 8001 "
              "(then export SPE_URL=http://127.0.0.1:8001)", style="dim", highlight=False)
    return typer.Exit(1)


def main() -> None:  # pragma: no cover - console entry point
    app()
