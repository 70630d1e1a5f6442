"""workspaces/kubernetes.py: the pods KubeSpawner itself makes from the traits.

KubeSpawner renders the pod and claim from the traits without the API server; only its
start-up loading of a kubeconfig is skipped (there is no cluster here).
"""

import asyncio
import json
from types import SimpleNamespace

import kubernetes_validate
import kubespawner
import pytest
from kubernetes_asyncio.client import ApiClient
from traitlets.config import Config

from tests.kubernetes.conftest import KUBERNETES_VERSIONS, make_spec
from tests.kubernetes.restricted import restricted_violations
from workspaces.hubconfig import SPE_SECTION
from workspaces.kubernetes import (
    DATA_DIR,
    OUTPUTS_DIR,
    hub_connect_url,
    hub_traits,
    kubespawner_traits,
)

NAMESPACE = "spe-p-7f3a9c12"

def spawned(spec, user="alice"):
    """The pod and outputs claim KubeSpawner makes for ``user`` from our traits."""
    traits = hub_traits(spec, namespace=NAMESPACE)
    traits.pop(SPE_SECTION)

    async def make():
        spawner = kubespawner.KubeSpawner(
            config=Config(traits), user=SimpleNamespace(name=user, id=7, url=f"/user/{user}/"),
            _mock=True)
        serialise = ApiClient().sanitize_for_serialization
        return serialise(await spawner.get_pod_manifest()), serialise(spawner.get_pvc_manifest())

    return asyncio.run(make())


@pytest.fixture(scope="module")
def pod_and_claim():
    module = kubespawner.spawner
    original = module.load_config
    module.load_config = lambda **_: None
    try:
        return spawned(make_spec())
    finally:
        module.load_config = original


def test_server_pod_meets_restricted(pod_and_claim):
    pod, _ = pod_and_claim
    assert restricted_violations(pod["spec"]) == []
    for container in pod["spec"]["containers"] + pod["spec"]["initContainers"]:
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["runAsUser"] == 1000


def test_server_pod_gets_no_service_account_token(pod_and_claim):
    pod, _ = pod_and_claim
    assert pod["spec"]["automountServiceAccountToken"] is False


def test_only_the_init_container_sees_the_grant(pod_and_claim):
    pod, _ = pod_and_claim
    [notebook] = pod["spec"]["containers"]
    [fetch] = pod["spec"]["initContainers"]
    assert "envFrom" not in notebook
    notebook_env = json.dumps(notebook.get("env", []))
    assert "extract-grant" not in notebook_env and "SPE_GRANT" not in notebook_env
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in fetch["env"]}
    assert refs == {"SPE_GRANT_URL": {"name": "extract-grant", "key": "url"},
                    "SPE_GRANT_TOKEN": {"name": "extract-grant", "key": "token"}}
    assert not [v for v in pod["spec"]["volumes"] if "secret" in v]


def test_extract_is_read_only_and_outputs_writable(pod_and_claim):
    pod, claim = pod_and_claim
    [notebook] = pod["spec"]["containers"]
    [fetch] = pod["spec"]["initContainers"]
    mounts = {m["mountPath"]: m for m in notebook["volumeMounts"]}
    assert mounts[DATA_DIR]["readOnly"] is True
    assert not mounts[OUTPUTS_DIR].get("readOnly")
    assert {m["mountPath"]: m["name"] for m in fetch["volumeMounts"]}[DATA_DIR] == "extract"
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["extract"] == {"name": "extract", "emptyDir": {}}
    assert volumes["outputs"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert claim["metadata"]["labels"]["spe.io/project"] == "p-7f3a9c12"


def test_server_objects_are_not_spe_managed(pod_and_claim):
    """The hub owns users' pods and claims: spe's prune (managed-by spe) must not touch them."""
    pod, claim = pod_and_claim
    for obj in (pod, claim):
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubespawner"
        assert obj["metadata"]["labels"]["component"] == "singleuser-server" or obj is claim


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_server_objects_validate_strictly(pod_and_claim, version):
    pod, claim = pod_and_claim
    for obj in (pod, claim):
        kubernetes_validate.validate(obj, version, strict=True)


def test_without_extract_there_is_no_init_container():
    traits = kubespawner_traits(make_spec(extract=False), namespace=NAMESPACE)
    assert traits["KubeSpawner"]["init_containers"] == []


def test_traits_follow_the_spec_and_keep_common_sections():
    spec = make_spec(profile="small")
    traits = hub_traits(spec, namespace=NAMESPACE, storage_class="fast")
    spawner = traits["KubeSpawner"]
    assert spawner["namespace"] == NAMESPACE
    assert spawner["storage_class"] == "fast"
    assert spawner["mem_limit"] == 2 * 1024**3 and spawner["cpu_limit"] == 1.0
    assert traits["JupyterHub"]["spawner_class"] == "kubespawner.KubeSpawner"
    assert traits["JupyterHub"]["hub_connect_url"] == hub_connect_url(NAMESPACE)
    assert traits["JupyterHub"]["active_server_limit"] == spec.profile.max_servers
    # merged, not replaced: the common JupyterHub settings are still there
    assert traits["JupyterHub"]["authenticator_class"] == "generic-oauth"
    assert traits["Spawner"]["environment"]["JUPYTERHUB_ACTIVITY_INTERVAL"]
