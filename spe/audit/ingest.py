"""Events from outside the control plane, turned into drafts.

Project hubs report logins and server actions; object storage reports access through S3
bucket notifications (the JSON Ceph RGW and MinIO send) or S3 server access log lines. The
actor is always the sending component (``hub:<project>`` or ``storage``) and
``details.source`` says which feed it came from; what the component reports (the user, the
object, the client address) goes in the target and details. A hub may only report its own
project.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from spe.audit.events import Actor
from spe.audit.log import Draft, draft
from spe.errors import Forbidden, InvalidInput
from spe.messages import Message

MAX_BATCH = 1000
HUB_ACTIONS = ("workspace.login", "workspace.logout", "workspace.server.start",
               "workspace.server.stop", "workspace.server.create", "workspace.server.delete")
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class HubEvent(BaseModel):
    action: Literal[HUB_ACTIONS]  # type: ignore[valid-type]
    user: Name
    server: Annotated[str, StringConstraints(max_length=200)] = ""
    outcome: Literal["success", "denied", "error"] = "success"
    occurred_at: datetime | None = None
    project_id: Name | None = None


class HubBatch(BaseModel):
    format: Literal["spe.hub.v1"]
    events: list[HubEvent] = Field(max_length=MAX_BATCH)


class S3NotificationBatch(BaseModel):
    format: Literal["s3.notification"]
    Records: list[dict] = Field(max_length=MAX_BATCH)


class S3AccessLogBatch(BaseModel):
    format: Literal["s3.access_log"]
    lines: list[Annotated[str, StringConstraints(max_length=8192)]] = Field(
        max_length=MAX_BATCH)


IngestBatch = Annotated[HubBatch | S3NotificationBatch | S3AccessLogBatch,
                        Field(discriminator="format")]


def hub_drafts(batch: HubBatch, project_id: str) -> list[Draft]:
    actor = Actor.component(f"hub:{project_id}")
    drafts = []
    for event in batch.events:
        if event.project_id not in (None, project_id):
            raise Forbidden(Message("hub of project {project_id} may not report events of "
                                    "project {project_id2}", project_id=project_id,
                                    project_id2=event.project_id), code="audit.foreign_project")
        details = {"source": "hub", "user": event.user}
        if event.server:
            details["server"] = event.server
        if event.occurred_at:
            details["occurred_at"] = event.occurred_at.isoformat()
        target = f"{event.user}/{event.server}" if event.server else event.user
        drafts.append(draft(action=event.action, actor=actor, outcome=event.outcome,
                            target_type="server" if event.server else "user",
                            target_id=target, project_id=project_id, details=details))
    return drafts


PROJECT_KEY = re.compile(r"^projects/(?P<project>[^/]+)/")


def _project_of(key: str) -> str | None:
    match = PROJECT_KEY.match(key)
    return match["project"] if match else None


def notification_drafts(batch: S3NotificationBatch) -> list[Draft]:
    """S3 event notifications (``Records[]``), as Ceph RGW and MinIO send them."""
    actor = Actor.component("storage")
    drafts = []
    for i, record in enumerate(batch.Records):
        try:
            name = record["eventName"].removeprefix("s3:")
            bucket = record["s3"]["bucket"]["name"]
            key = record["s3"]["object"]["key"]
        except (KeyError, TypeError, AttributeError) as exc:
            raise InvalidInput(Message("Records[{i}] is not an S3 event notification: "
                                       "missing {exc}", i=i, exc=exc),
                               code="audit.bad_notification") from exc
        kind, _, operation = name.partition(":")
        action = {"ObjectCreated": "storage.object.create",
                  "ObjectRemoved": "storage.object.delete",
                  "ObjectAccessed": "storage.object.read"}.get(kind)
        if action is None:
            raise InvalidInput(Message("Records[{i}]: unsupported S3 event {name!r}", i=i,
                                       name=name),
                               code="audit.bad_notification")
        details = {"source": "s3.notification", "operation": operation,
                   "event_source": str(record.get("eventSource", "")),
                   "occurred_at": str(record.get("eventTime", "")),
                   "requester": str((record.get("userIdentity") or {}).get("principalId", "")),
                   "remote_ip": str((record.get("requestParameters") or {})
                                    .get("sourceIPAddress", "")),
                   "size": (record["s3"]["object"].get("size"))}
        drafts.append(draft(action=action, actor=actor, target_type="object",
                            target_id=f"{bucket}/{key}"[:200], project_id=_project_of(key),
                            details=details))
    return drafts


ACCESS_LOG = re.compile(
    r'^(?P<owner>\S+) (?P<bucket>\S+) \[(?P<time>[^\]]+)\] (?P<ip>\S+) (?P<requester>\S+) '
    r'(?P<request_id>\S+) (?P<operation>\S+) (?P<key>\S+) "(?P<uri>[^"]*)" (?P<status>\S+) '
    r'(?P<error>\S+) (?P<bytes>\S+)')


def access_log_drafts(batch: S3AccessLogBatch) -> list[Draft]:
    """S3 server access log lines (the AWS format, also written by Ceph RGW's ops log)."""
    actor = Actor.component("storage")
    drafts = []
    for i, line in enumerate(batch.lines):
        m = ACCESS_LOG.match(line)
        if m is None:
            raise InvalidInput(Message("lines[{i}] is not an S3 server access log line", i=i),
                               code="audit.bad_access_log")
        parts = m["operation"].split(".")  # e.g. REST.GET.OBJECT
        verb = parts[1].lower() if len(parts) == 3 else "other"
        noun = parts[2].lower() if len(parts) == 3 else m["operation"].lower()
        status = int(m["status"]) if m["status"].isdigit() else 0
        outcome = "success" if 200 <= status < 400 else \
            "denied" if status in (401, 403) else "error"
        key = "" if m["key"] == "-" else m["key"]
        drafts.append(draft(
            action=f"storage.{re.sub(r'[^a-z0-9_]', '_', noun)}.{verb}", actor=actor,
            outcome=outcome, target_type="object", target_id=f"{m['bucket']}/{key}"[:200],
            project_id=_project_of(key),
            details={"source": "s3.access_log", "occurred_at": m["time"],
                     "remote_ip": m["ip"], "requester": m["requester"],
                     "s3_request_id": m["request_id"], "operation": m["operation"],
                     "http_status": status, "error_code": m["error"]}))
    return drafts


def drafts_for(batch, component: str, project_id: str | None) -> Sequence[Draft]:
    """The drafts a component may append for ``batch`` (raises Forbidden otherwise)."""
    if isinstance(batch, HubBatch):
        if component != "hub" or project_id is None:
            raise Forbidden(Message("only a project hub may report hub events"),
                            code="audit.wrong_component")
        return hub_drafts(batch, project_id)
    if component != "storage":
        raise Forbidden(Message("only object storage may report storage events"),
                        code="audit.wrong_component")
    if isinstance(batch, S3NotificationBatch):
        return notification_drafts(batch)
    return access_log_drafts(batch)
