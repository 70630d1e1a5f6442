"""``spe workspace render``: what a project's workspace is, as the runtime would create it.

Read from the database on the control plane host (like ``spe token``). Secrets (the hub's
OAuth client secret and service token, the extract grant, the work-area key) are replaced by
a placeholder:
this is for review and ``kubectl diff``, the controller applies the real ones.
"""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from spe.cli.output import err, reported_errors
from spe.messages import Message

app = typer.Typer(help="Project workspaces, as the runtime sees them.", no_args_is_help=True)
PLACEHOLDER = "REDACTED"


def workspace_spec(project_id: str):
    """The project's :class:`WorkspaceSpec` as the reconciler builds it, secrets replaced by
    :data:`PLACEHOLDER`."""
    from sqlmodel import Session

    from controllers.reconciler import workspace_spec as spec_of
    from spe.auth.hub_clients import HubCredentials, client_id_for
    from spe.dataplane import CONDITION
    from spe.db import get_engine
    from spe.domain.budgets import ProjectBudget
    from spe.domain.permits import Permit, members_of
    from spe.domain.projects import Project
    from spe.errors import NotFound
    from spe.settings import get_settings
    from spe.storage.layout import extract_prefix
    from workspaces.spec import ExtractRef

    settings = get_settings()
    with Session(get_engine()) as session:
        project = session.get(Project, project_id)
        if project is None:
            raise NotFound(Message("no project {project_id!r}", project_id=project_id),
                           code="project.not_found")
        permit = session.get(Permit, project.permit_id)
        users = tuple(members_of(session, permit.id))
        budget = session.get(ProjectBudget, project_id)
    condition = project.conditions.get(CONDITION, {})
    base = settings.public_url.rstrip("/")
    extract = ExtractRef(
        manifest_key=extract_prefix(project_id, condition["extract_id"]) + "manifest.json",
        grant_url=f"{base}/api/v1/projects/{project_id}/extract", grant_token=PLACEHOLDER,
    ) if condition.get("extract_id") else None
    redacted = HubCredentials(client_id_for(project_id), PLACEHOLDER, PLACEHOLDER)
    return spec_of(settings, project, permit, users, redacted, extract, budget,
                   work_area_key=PLACEHOLDER)


@app.command()
def render(
    project: str,
    runtime: Annotated[Literal["kubernetes"], typer.Option(
        help="The runtime whose objects to print (the local runtime has none).")
    ] = "kubernetes",
    ingress_domain: Annotated[str | None, typer.Option(
        help="Hubs at https://<project>.<domain>/ (default SPE_KUBERNETES_INGRESS_DOMAIN).")
    ] = None,
    api_server_cidr: Annotated[list[str] | None, typer.Option(
        help="Kubernetes API server endpoint CIDR (repeat; default "
        "SPE_KUBERNETES_API_SERVER_CIDRS).")] = None,
) -> None:
    """Print the Kubernetes objects of PROJECT's workspace as YAML (secrets redacted)."""
    from controllers.runtimes.kubernetes import SettingsError, from_settings, render_yaml
    from spe.errors import TerminalError
    from spe.settings import get_settings

    settings = get_settings()
    overrides = {"kubernetes_ingress_domain": ingress_domain,
                 "kubernetes_api_server_cidrs": api_server_cidr}
    settings = settings.model_copy(update={k: v for k, v in overrides.items() if v})
    with reported_errors():
        try:
            cluster = from_settings(settings)
        except SettingsError as exc:
            raise typer.BadParameter(f"{exc} (or give --ingress-domain, --api-server-cidr)"
                                     ) from exc
        try:
            objects = render_yaml(workspace_spec(project), cluster)
        except TerminalError as exc:  # e.g. storage classes not declared encrypting
            err.print(f"[red]refused:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from exc
        typer.echo(objects, nl=False)
