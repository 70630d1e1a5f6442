"""A member amended away on Kubernetes: what is applied after the amendment gives bob no way
to the project folder. The folder is one claim that KubeSpawner mounts into the server of
any user the hub starts; who may have a server is the hub's configuration (its members and
its pre-spawn refusal of anyone else) and the pods running. So after the amendment his running
pod is deleted, the hub's members no longer name him, and nothing rendered names him."""

import base64
import json
import re

import pytest

from controllers.runtimes.kubernetes import KubernetesRuntime
from controllers.runtimes.kubernetes.render import render
from tests.fixtures.kubernetes import NAMESPACE, make_spec, spawned
from workspaces.kubernetes import PROJECT_CLAIM


@pytest.fixture(scope="module")
def pods():
    """alice's and bob's server pods, as KubeSpawner makes them from the project's traits."""
    spec = make_spec()
    return {user: spawned(spec, user)[0] for user in ("alice", "bob")}


def mounts_project_folder(pod):
    return any(v.get("persistentVolumeClaim", {}).get("claimName") == PROJECT_CLAIM
               for v in pod["spec"]["volumes"])


def test_bob_amended_away_loses_his_pod_and_the_hubs_membership(kube, fake_api, cluster,
                                                                  pods):
    runtime = KubernetesRuntime(cluster, kube)
    both = make_spec(users=("alice", "bob"))
    runtime.ensure(both)
    for pod in pods.values():
        assert mounts_project_folder(pod)
        name = pod["metadata"]["name"]
        fake_api.put_object(f"/api/v1/namespaces/{NAMESPACE}/pods/{name}", {
            **pod, "metadata": {**pod["metadata"], "namespace": NAMESPACE},
            "status": {"phase": "Running"}})
    assert runtime.observe(both.project_id).servers == ("alice", "bob")
    fake_api.requests.clear()

    amended = make_spec(users=("alice",))
    observed = runtime.ensure(amended)

    bob_pod = pods["bob"]["metadata"]["name"]
    assert [r.path for r in fake_api.requests if r.method == "DELETE"] == [
        f"/api/v1/namespaces/{NAMESPACE}/pods/{bob_pod}"]
    assert observed.servers == ("alice",)
    left = [fake_api.get_object(f"/api/v1/namespaces/{NAMESPACE}/pods/{p['metadata']['name']}")
            for p in pods.values()]
    left = [p for p in left if p is not None]
    assert [p["metadata"]["annotations"]["hub.jupyter.org/username"] for p in left
            if mounts_project_folder(p)] == ["alice"]
    secret = fake_api.get_object(f"/api/v1/namespaces/{NAMESPACE}/secrets/hub")
    hub = json.loads(base64.b64decode(secret["data"]["hub.json"]))
    assert hub["GenericOAuthenticator"]["allowed_users"] == ["alice"]
    # no per-user object carries access: nothing rendered names him any more
    assert not re.search(r"\bbob\b", json.dumps(render(amended, cluster)))
    assert re.search(r"\bbob\b", json.dumps(render(both, cluster)))

    fake_api.requests.clear()
    runtime.ensure(amended)  # the steady state deletes nothing more
    assert not [r for r in fake_api.requests if r.method == "DELETE"]
