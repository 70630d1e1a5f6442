import pytest
from kubernetes import client as k8s

from controllers.runtimes.kubernetes.client import (
    KubeClient,
    KubeRetryableError,
    KubeTerminalError,
    Resource,
)
from spe.errors import RetryableError, TerminalError
from tests.fixtures.kubernetes import API_TOKEN

CONFIG_MAPS = Resource("v1", "ConfigMap", "configmaps")
NAMESPACES = Resource("v1", "Namespace", "namespaces", namespaced=False)
ROLES = Resource("rbac.authorization.k8s.io/v1", "Role", "roles")


def test_paths_follow_group_scope_and_name():
    assert CONFIG_MAPS.path() == "/api/v1/configmaps"
    assert CONFIG_MAPS.path("ns") == "/api/v1/namespaces/ns/configmaps"
    assert CONFIG_MAPS.path("ns", "x") == "/api/v1/namespaces/ns/configmaps/x"
    assert NAMESPACES.path("ignored", "ns") == "/api/v1/namespaces/ns"
    assert ROLES.path("ns", "hub") == \
        "/apis/rbac.authorization.k8s.io/v1/namespaces/ns/roles/hub"


def test_a_namespaced_object_without_namespace_is_refused():
    with pytest.raises(KubeTerminalError, match="no namespace"):
        CONFIG_MAPS.object_path({"metadata": {"name": "x"}})


def test_requests_carry_the_bearer_token_and_json(kube, fake_api):
    fake_api.put_object("/api/v1/namespaces/ns", {"apiVersion": "v1", "kind": "Namespace",
                                                   "metadata": {"name": "ns"}})
    assert kube.get("/api/v1/namespaces/ns")["metadata"]["name"] == "ns"
    assert kube.get("/api/v1/namespaces/absent") is None
    assert {r.authorization for r in fake_api.requests} == {f"Bearer {API_TOKEN}"}


@pytest.mark.parametrize("status", [409, 429, 500, 503])
def test_transient_statuses_are_retryable(kube, fake_api, status):
    fake_api.fail_next("GET", status)
    with pytest.raises(KubeRetryableError) as caught:
        kube.get("/api/v1/namespaces/ns")
    assert caught.value.status == status
    assert isinstance(caught.value, RetryableError)


@pytest.mark.parametrize("status", [400, 401, 403, 422])
def test_refusals_are_terminal(kube, fake_api, status):
    fake_api.fail_next("PATCH", status)
    with pytest.raises(KubeTerminalError) as caught:
        kube.apply("/api/v1/namespaces/ns", {"apiVersion": "v1", "kind": "Namespace",
                                              "metadata": {"name": "ns"}}, "spe")
    assert caught.value.status == status
    assert isinstance(caught.value, TerminalError)
    assert "injected" in str(caught.value)


def test_no_connection_is_retryable():
    configuration = k8s.Configuration(host="http://127.0.0.1:9")  # discard port: refused
    configuration.retries = 0
    with k8s.ApiClient(configuration) as api, pytest.raises(KubeRetryableError):
        KubeClient(api, timeout=2).get("/api/v1/namespaces")


def test_writing_into_a_missing_namespace_is_retryable(kube):
    with pytest.raises(KubeRetryableError) as caught:
        kube.apply("/api/v1/namespaces/later/configmaps/x",
                   {"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "x", "namespace": "later"}}, "spe")
    assert caught.value.status == 404
