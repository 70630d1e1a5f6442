"""Project hubs as OAuth2/OIDC clients of the control plane.

The reconciler registers one client per project when it provisions the hub and removes it
on teardown. The client secret is stored sealed (:mod:`spe.crypto.secretbox`) because the
reconciler must hand it to the hub again whenever it renders the hub's configuration.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, Session, SQLModel, select

from spe.audit import Actor, record
from spe.crypto.secretbox import SecretBox
from spe.db.types import UTCDateTime, utcnow


class HubClient(SQLModel, table=True):
    __tablename__ = "hub_clients"

    client_id: str = Field(primary_key=True, max_length=40)
    project_id: str = Field(foreign_key="projects.id", unique=True, max_length=20)
    secret_sealed: str = Field(max_length=500)
    redirect_uri: str = Field(max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(),
                                                                            nullable=False))


def client_id_for(project_id: str) -> str:
    return f"hub-{project_id}"


def register_hub_client(session: Session, box: SecretBox, project_id: str, redirect_uri: str,
                        *, actor: Actor) -> tuple[HubClient, str]:
    """The project's client and its secret, created on first call (idempotent)."""
    client = session.exec(select(HubClient).where(HubClient.project_id == project_id)).first()
    if client is not None:
        if client.redirect_uri != redirect_uri:
            client.redirect_uri = redirect_uri
            session.add(client)
            record(session, action="hub.client.update", actor=actor, target_type="hub_client",
                   target_id=client.client_id, project_id=project_id)
        return client, box.open(client.secret_sealed)
    secret = secrets.token_urlsafe(32)
    client = HubClient(client_id=client_id_for(project_id), project_id=project_id,
                       secret_sealed=box.seal(secret), redirect_uri=redirect_uri)
    session.add(client)
    record(session, action="hub.client.register", actor=actor, target_type="hub_client",
           target_id=client.client_id, project_id=project_id)
    return client, secret


def remove_hub_client(session: Session, project_id: str, *, actor: Actor) -> bool:
    client = session.exec(select(HubClient).where(HubClient.project_id == project_id)).first()
    if client is None:
        return False
    session.delete(client)
    record(session, action="hub.client.remove", actor=actor, target_type="hub_client",
           target_id=client.client_id, project_id=project_id)
    return True
