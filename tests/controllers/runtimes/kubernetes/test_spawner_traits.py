"""workspaces/kubernetes.py: the pods KubeSpawner itself makes from the traits.

KubeSpawner renders the pod and claim from the traits without the API server; only its
start-up loading of a kubeconfig is skipped (there is no cluster here).
"""

import json

import kubernetes_validate
import pytest

from tests.fixtures.kubernetes import KUBERNETES_VERSIONS, NAMESPACE, make_spec, spawned
from testsupport.restricted import restricted_violations
from workspaces.kubernetes import (
    DATA_DIR,
    HOME,
    OUTPUTS_DIR,
    PROJECT_DIR,
    extract_claim,
    hub_connect_url,
    hub_traits,
    kubespawner_traits,
)


@pytest.fixture(scope="module")
def pod_and_claim():
    return spawned(make_spec())


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


def test_the_server_never_sees_the_grant(pod_and_claim):
    pod, _ = pod_and_claim
    assert "extract-grant" not in json.dumps(pod) and "SPE_GRANT" not in json.dumps(pod)
    assert not [v for v in pod["spec"]["volumes"] if "secret" in v]


def test_extract_is_read_only_and_the_work_area_persistent(pod_and_claim):
    pod, claim = pod_and_claim
    [notebook] = pod["spec"]["containers"]
    mounts = {m["mountPath"]: m for m in notebook["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert mounts[DATA_DIR]["readOnly"] is True
    assert volumes["extract"]["persistentVolumeClaim"] == {
        "claimName": extract_claim(make_spec().extract.manifest_key), "readOnly": True}
    # home (outputs/ included) is the user's own claim: kept across stops and culling
    assert volumes[mounts[HOME]["name"]]["persistentVolumeClaim"]["claimName"] == \
        claim["metadata"]["name"] == "work-alice"
    assert OUTPUTS_DIR.startswith(HOME + "/") and OUTPUTS_DIR not in mounts
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert claim["metadata"]["labels"]["spe.io/project"] == "p-7f3a9c12"
    assert volumes[mounts[PROJECT_DIR]["name"]]["persistentVolumeClaim"]["claimName"] == "project"
    assert not mounts[PROJECT_DIR].get("readOnly")


def test_the_server_waits_for_the_whole_extract_and_copies_nothing(pod_and_claim):
    pod, _ = pod_and_claim
    [wait] = pod["spec"]["initContainers"]
    assert next(m for m in wait["volumeMounts"] if m["mountPath"] == DATA_DIR)["readOnly"]
    assert wait["command"][:2] == ["sh", "-c"] and ".spe-complete" in wait["command"][2]
    assert "fetch_extract" not in json.dumps(pod)


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
