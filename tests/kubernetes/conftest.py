"""Fixtures for the Kubernetes runtime: a workspace spec, cluster settings, a recording API."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from kubernetes import client as k8s

from controllers.profiles import load_profile
from controllers.runtimes.base import ExtractRef, HubOAuthClient, WorkspaceSpec
from controllers.runtimes.kubernetes.client import KubeClient
from controllers.runtimes.kubernetes.settings import ClusterSettings
from tests.kubernetes.fakeapi import FakeApiServer, serve

KUBERNETES_VERSIONS = ("1.33.0", "1.35.0")
"""Recent releases every rendered object must validate against (strict schemas)."""

API_TOKEN = "test-api-token"


def make_spec(project_id: str = "p-7f3a9c12", *, extract: bool = True,
              profile: str = "standard", **changes) -> WorkspaceSpec:
    oauth = HubOAuthClient(
        client_id=f"hub-{project_id}", client_secret="oauth-client-secret",
        authorize_url="https://spe.example.org/oauth/authorize",
        token_url="https://spe.example.org/oauth/token",
        userdata_url="https://spe.example.org/oauth/userinfo",
        callback_url=f"https://{project_id}.ws.example.org/hub/oauth_callback",
    )
    spec = WorkspaceSpec(
        project_id=project_id, permit_reference="PERMIT-2025-001", users=("alice", "bob"),
        profile=load_profile(profile), oauth=oauth,
        control_plane_url="https://spe.example.org", hub_service_token="hub-service-token",
        extract=ExtractRef("projects/p/extracts/e1/manifest.json",
                           "https://spe.example.org/api/v1/extracts/grant",
                           "grant-token-secret") if extract else None,
    )
    return dataclasses.replace(spec, **changes)


@pytest.fixture
def spec() -> WorkspaceSpec:
    return make_spec()


@pytest.fixture
def cluster() -> ClusterSettings:
    return ClusterSettings(api_server_cidrs=("10.96.0.1/32", "172.18.0.2/32"),
                           ingress_domain="ws.example.org", tls_secret="ws-wildcard-tls")


@pytest.fixture
def fake_api() -> Iterator[FakeApiServer]:
    api = FakeApiServer()
    server = serve(api)
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def kube(fake_api: FakeApiServer) -> Iterator[KubeClient]:
    configuration = k8s.Configuration(host=fake_api.url,
                                      api_key={"authorization": f"Bearer {API_TOKEN}"})
    api_client = k8s.ApiClient(configuration)
    try:
        yield KubeClient(api_client, timeout=5)
    finally:
        api_client.close()
