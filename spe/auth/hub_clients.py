"""Project hubs as OAuth2/OIDC clients of the control plane.

The reconciler registers one client per project when it provisions the hub and removes it
on teardown. The client secret is stored sealed (:mod:`spe.crypto.secretbox`) because the
reconciler must hand it to the hub again whenever it renders the hub's configuration.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Column
from sqlmodel import Field, Session, SQLModel, select

from spe.audit import Actor, record
from spe.auth.tokens import issue_token, revoke_component_tokens
from spe.crypto.secretbox import SecretBox
from spe.db.types import UTCDateTime, utcnow


class HubClient(SQLModel, table=True):
    __tablename__ = "hub_clients"

    client_id: str = Field(primary_key=True, max_length=40)
    project_id: str = Field(foreign_key="projects.id", unique=True, max_length=20)
    secret_sealed: str = Field(max_length=500)
    redirect_uri: str = Field(default="", max_length=500)
    service_token_sealed: str = Field(max_length=500, description="The hub's own bearer token "
                                      "(audit events, workspace tokens), sealed.")
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(),
                                                                            nullable=False))


SERVICE_TOKEN_TTL = timedelta(days=365)


def client_id_for(project_id: str) -> str:
    return f"hub-{project_id}"


@dataclass(frozen=True)
class HubCredentials:
    client_id: str
    client_secret: str
    service_token: str


def register_hub_client(session: Session, box: SecretBox, project_id: str, *,
                        actor: Actor) -> HubCredentials:
    """The project hub's OAuth client and service token, created on first call; later calls
    return the same credentials (idempotent, so a re-rendered hub keeps working)."""
    client = session.exec(select(HubClient).where(HubClient.project_id == project_id)).first()
    if client is None:
        _, service_token = issue_token(session, ttl=SERVICE_TOKEN_TTL, actor=actor,
                                       component="hub", project_id=project_id,
                                       description="project hub service token")
        client = HubClient(client_id=client_id_for(project_id), project_id=project_id,
                           secret_sealed=box.seal(secrets.token_urlsafe(32)),
                           service_token_sealed=box.seal(service_token))
        session.add(client)
        record(session, action="hub.client.register", actor=actor, target_type="hub_client",
               target_id=client.client_id, project_id=project_id)
    return HubCredentials(client.client_id, box.open(client.secret_sealed),
                          box.open(client.service_token_sealed))


def set_redirect_uri(session: Session, project_id: str, redirect_uri: str, *,
                     actor: Actor) -> None:
    """Point the client at the hub's callback once the runtime knows the hub's address."""
    client = session.exec(select(HubClient).where(HubClient.project_id == project_id)).one()
    if client.redirect_uri != redirect_uri:
        client.redirect_uri = redirect_uri
        session.add(client)
        record(session, action="hub.client.update", actor=actor, target_type="hub_client",
               target_id=client.client_id, project_id=project_id,
               details={"redirect_uri": redirect_uri})


def remove_hub_client(session: Session, project_id: str, *, actor: Actor) -> bool:
    client = session.exec(select(HubClient).where(HubClient.project_id == project_id)).first()
    if client is None:
        return False
    session.delete(client)
    revoke_component_tokens(session, "hub", project_id, actor=actor)
    record(session, action="hub.client.remove", actor=actor, target_type="hub_client",
           target_id=client.client_id, project_id=project_id)
    return True
