"""OpenTelemetry: a span per request named by its route, the trace id returned to the caller
and stored in the audit event, spans for reconcile passes."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlmodel import Session, select

from spe import migrations
from spe.audit.models import AuditEvent
from spe.db import make_engine
from spe.domain.roles import Role
from spe.settings import Settings
from spe.web import create_app
from testsupport.factories import auth, make_dataset, make_user, permit_body


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    create_app(Settings(data_dir="/nonexistent-unused"), make_engine("sqlite://"))  # configures
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('db') / 'spe.db'}")
    migrations.upgrade(engine)
    return engine


def test_requests_are_traced_and_the_trace_reaches_the_audit_log(spans, engine, tmp_path):
    client = TestClient(create_app(Settings(data_dir=tmp_path), engine))
    _, manager = make_user(engine, Role.permit_manager)
    spans.clear()
    response = client.post("/api/v1/permits", headers=auth(manager),
                           json=permit_body(make_dataset(engine), ["alice"]))
    assert response.status_code == 201
    trace_id = response.headers["x-trace-id"]
    [span] = [s for s in spans.get_finished_spans()  # spe's request span
              if s.name == "POST /api/v1/permits" and "spe.request_id" in s.attributes]
    assert format(span.context.trace_id, "032x") == trace_id
    assert span.attributes["http.response.status_code"] == 201
    assert span.attributes["spe.request_id"] == response.headers["x-request-id"]
    with Session(engine) as s:
        event = s.exec(select(AuditEvent).where(AuditEvent.action == "permit.create")
                       .where(AuditEvent.target_id == response.json()["id"])).one()
    assert event.trace_id == trace_id
    assert event.request_id == response.headers["x-request-id"]


def test_spans_are_named_by_route_not_by_path(spans, engine, tmp_path):
    client = TestClient(create_app(Settings(data_dir=tmp_path), engine))
    _, auditor = make_user(engine, Role.auditor)
    spans.clear()
    client.get("/api/v1/permits/HDH-NOPE-1", headers=auth(auditor))
    names = [s.name for s in spans.get_finished_spans()]
    assert "GET /api/v1/permits/{permit_id}" in names
    assert not any("HDH-NOPE-1" in n for n in names)


def test_reconcile_passes_are_traced(spans, engine, tmp_path):
    from controllers.reconciler import Reconciler
    from spe.crypto.secretbox import SecretBox
    from tests.controllers.conftest import MemoryRuntime

    settings = Settings(data_dir=tmp_path)
    reconciler = Reconciler(engine, MemoryRuntime(), settings,
                            SecretBox.load_or_create(tmp_path / "secrets.key"))
    spans.clear()
    reconciler.run_once()
    names = [s.name for s in spans.get_finished_spans()]
    assert "reconcile.pass" in names and "reconcile.project" in names
