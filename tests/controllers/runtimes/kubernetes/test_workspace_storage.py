"""Work that survives, a project folder, one extract copy per version, GPUs (Kubernetes)."""

import dataclasses
import json

import kubernetes_validate
import pytest
from sqlmodel import select

from controllers.profiles import ProfileError, load_profile, profile_from_dict
from controllers.reconciler import Reconciler
from controllers.runtimes.kubernetes import KubernetesRuntime
from controllers.runtimes.kubernetes.apply import apply
from controllers.runtimes.kubernetes.render import prune_selector, render
from spe import migrations
from spe.crypto.secretbox import SecretBox
from spe.db import make_engine, session_scope
from spe.domain import permit_lifecycle as lifecycle
from spe.domain.permits import PermitCreate
from spe.domain.principal import Principal
from spe.domain.projects import Project
from spe.domain.roles import Role
from spe.settings import Settings
from tests.fixtures.dataplane import WorkAreaKeysOnly
from tests.fixtures.kubernetes import KUBERNETES_VERSIONS, make_spec, spawned
from testsupport.factories import make_dataset, permit_body
from testsupport.restricted import restricted_violations
from workspaces.kubernetes import DATA_DIR, PROJECT_DIR, extract_claim
from workspaces.spec import ExtractRef


def of_kind(objects, kind):
    return [o for o in objects if o["kind"] == kind]


@pytest.fixture(scope="module")
def two_members():
    """The pods KubeSpawner makes for alice and bob in the same project."""
    spec = make_spec()
    return spec, [spawned(spec, user)[0] for user in ("alice", "bob")]


def test_the_extract_is_written_once_for_every_member(two_members, cluster):
    spec, pods = two_members
    objects = render(spec, cluster)
    [job] = of_kind(objects, "Job")
    name = extract_claim(spec.extract.manifest_key)
    claims = {o["metadata"]["name"]: o for o in of_kind(objects, "PersistentVolumeClaim")}
    assert claims[name]["spec"]["accessModes"] == ["ReadWriteMany"]
    assert job["metadata"]["name"] == name
    [writer] = job["spec"]["template"]["spec"]["volumes"][:1]
    assert writer["persistentVolumeClaim"] == {"claimName": name}
    for pod in pods:  # each member reads the same copy, and copies nothing
        [notebook] = pod["spec"]["containers"]
        extract = {v["name"]: v for v in pod["spec"]["volumes"]}["extract"]
        assert extract["persistentVolumeClaim"] == {"claimName": name, "readOnly": True}
        assert {m["mountPath"]: m.get("readOnly") for m in notebook["volumeMounts"]}[DATA_DIR]
    copies = [c for c in (*job["spec"]["template"]["spec"]["containers"],
                          *(c for p in pods for c in p["spec"]["initContainers"]))
              if "fetch_extract.py" in json.dumps(c["command"])]
    assert len(copies) == 1


def test_only_the_extract_job_holds_the_grant(two_members, cluster):
    spec, pods = two_members
    objects = render(spec, cluster)
    [job] = of_kind(objects, "Job")
    pod = job["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert restricted_violations(pod) == []
    refs = {e["valueFrom"]["secretKeyRef"]["name"] for c in pod["containers"] for e in c["env"]}
    assert refs == {"extract-grant"}
    for server in pods:
        assert "extract-grant" not in json.dumps(server)


def test_the_extract_job_may_reach_the_control_plane_and_nothing_else(spec, cluster):
    policies = {o["metadata"]["name"]: o for o in of_kind(render(spec, cluster), "NetworkPolicy")}
    job = policies["extract-job"]["spec"]
    assert job["podSelector"] == {"matchLabels": {"spe.io/component": "extract"}}
    assert job["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in job
    [rule] = job["egress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": cluster.control_plane_port}]


def test_a_new_extract_version_replaces_the_old_copy(kube, fake_api, cluster):
    first = make_spec()
    second = dataclasses.replace(first, extract=ExtractRef(
        "projects/p/extracts/e2/manifest.json", first.extract.grant_url, "grant-2"))
    selector = prune_selector(first.project_id)
    apply(kube, render(first, cluster), prune_selector=selector)
    changes = apply(kube, render(second, cluster), prune_selector=selector)
    old, new = (extract_claim(s.extract.manifest_key) for s in (first, second))
    assert old != new
    deleted = {(c.kind, c.name) for c in changes if c.outcome == "deleted"}
    assert deleted == {("Job", old), ("PersistentVolumeClaim", old)}
    created = {(c.kind, c.name) for c in changes if c.outcome == "created"}
    assert {("Job", new), ("PersistentVolumeClaim", new)} <= created


def test_the_project_folder_is_shared_read_write(two_members, cluster):
    spec, pods = two_members
    claims = {o["metadata"]["name"]: o for o in of_kind(render(spec, cluster),
                                                          "PersistentVolumeClaim")}
    assert claims["project"]["spec"]["accessModes"] == ["ReadWriteMany"]
    for pod in pods:
        [notebook] = pod["spec"]["containers"]
        mount = {m["mountPath"]: m for m in notebook["volumeMounts"]}[PROJECT_DIR]
        assert not mount.get("readOnly")


def test_shared_volumes_use_the_shared_storage_class(spec, cluster):
    shared = dataclasses.replace(cluster, shared_storage_class="cephfs",
                                 encrypted_storage_classes=("rbd-encrypted", "cephfs"))
    claims = of_kind(render(spec, shared), "PersistentVolumeClaim")
    rwx = [c for c in claims if c["spec"]["accessModes"] == ["ReadWriteMany"]]
    assert len(rwx) == 2 and {c["spec"]["storageClassName"] for c in rwx} == {"cephfs"}


@pytest.fixture(scope="module")
def gpu_pod():
    return spawned(make_spec(profile="gpu"))[0]


def test_a_gpu_profile_requests_gpus_on_gpu_nodes(gpu_pod):
    [notebook] = gpu_pod["spec"]["containers"]
    assert notebook["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert gpu_pod["spec"]["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in \
        gpu_pod["spec"]["tolerations"]
    assert restricted_violations(gpu_pod["spec"]) == []


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_gpu_workspace_objects_validate_strictly(gpu_pod, cluster, version):
    for obj in [gpu_pod, *render(make_spec(profile="gpu"), cluster)]:
        kubernetes_validate.validate(obj, version, strict=True)


def test_the_quota_caps_the_project_gpus(cluster):
    [quota] = of_kind(render(make_spec(profile="gpu"), cluster), "ResourceQuota")
    assert quota["spec"]["hard"]["requests.nvidia.com/gpu"] == "4"
    [plain] = of_kind(render(make_spec(), cluster), "ResourceQuota")
    assert not [k for k in plain["spec"]["hard"] if "gpu" in k]


def test_a_profile_whose_quota_cannot_hold_one_gpu_server_is_refused():
    data = dataclasses.asdict(load_profile("gpu"))
    data.update(quota_gpus=0, node_selector=dict(data["node_selector"]),
                tolerations=[{"key": k, "operator": o, "effect": e}
                             for k, o, e in data["tolerations"]])
    with pytest.raises(ProfileError, match="quota_gpus"):
        profile_from_dict(data)


def test_the_work_area_goes_with_the_namespace_when_the_permit_ends(kube, fake_api, cluster,
                                                                      tmp_path, two_members):
    """Reconciler actions on the recording API: alice's work-area claim (as KubeSpawner
    creates it at her first start) is spared by every pass while the permit is active and
    deleted with the project's namespace, the one DELETE of the pass after revocation."""
    manager = Principal(user_id="u-pm", subject="pm", roles=frozenset({Role.permit_manager}),
                        via="token")
    engine = make_engine(f"sqlite:///{tmp_path / 'spe.db'}")
    migrations.upgrade(engine)
    settings = Settings(data_dir=tmp_path / "data")
    reconciler = Reconciler(engine, KubernetesRuntime(cluster, kube), settings,
                            SecretBox.load_or_create(settings.keys_dir / "secrets.key"),
                            WorkAreaKeysOnly(engine, settings))
    with session_scope(engine) as s:
        permit = lifecycle.create_permit(
            s, PermitCreate(**permit_body(make_dataset(engine), ["alice"])), manager)
        project = s.exec(select(Project.id).where(Project.permit_id == permit.id)).one()
    reconciler.run_once()
    ns = cluster.namespace(project)
    _spec, [alice_pod, _] = two_members
    [home] = [v for v in alice_pod["spec"]["volumes"] if v["name"] == "home"]
    claim_name = home["persistentVolumeClaim"]["claimName"]
    claim_path = f"/api/v1/namespaces/{ns}/persistentvolumeclaims/{claim_name}"
    fake_api.put_object(claim_path, {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": claim_name, "namespace": ns, "labels": {
            "app.kubernetes.io/managed-by": "kubespawner", "spe.io/project": project,
            "hub.jupyter.org/username": "alice"}},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {
            "storage": "10Gi"}}}})
    reconciler.run_once()  # a pass while the permit is active keeps it
    assert fake_api.get_object(claim_path) is not None
    assert not [r for r in fake_api.requests if r.method == "DELETE"]

    with session_scope(engine) as s:
        lifecycle.revoke_permit(s, permit.id, "study ended", manager)
    [ended] = reconciler.run_once()

    assert ended.observed == "deleted"
    assert [r.path for r in fake_api.requests if r.method == "DELETE"] == [
        f"/api/v1/namespaces/{ns}"]
    assert fake_api.get_object(claim_path) is None
    engine.dispose()
