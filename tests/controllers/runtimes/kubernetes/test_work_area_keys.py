"""Crypto-shredding of work areas on Kubernetes: the project's volumes are on storage classes
that encrypt with the key of the namespace's ``work-area-key`` Secret, which spe writes from
its key store; when the permit ends spe destroys that key (signed, audited record naming the
store) before it deletes the namespace. On the recording API server, with the real key
store and data plane."""

from __future__ import annotations

import base64
import dataclasses
import json
import logging

import kubernetes_validate
import pytest
from sqlmodel import Session, select

from controllers.reconciler import Reconciler
from controllers.runtimes.kubernetes import KubernetesRuntime
from controllers.runtimes.kubernetes.render import (
    ENCRYPTION_ANNOTATION,
    PLAINTEXT,
    WORK_AREA_KEY_SECRET,
    RenderError,
    render,
)
from spe import migrations
from spe.audit.models import AuditEvent
from spe.crypto.canonical import canonical_json
from spe.crypto.secretbox import SecretBox
from spe.crypto.signing import verify
from spe.dataplane import workareas
from spe.db import make_engine, session_scope
from spe.domain import permit_lifecycle as lifecycle
from spe.domain.permits import PermitCreate
from spe.domain.principal import Principal
from spe.domain.projects import Project
from spe.domain.roles import Role
from spe.keys import KeyDestroyed
from spe.settings import Settings
from tests.fixtures.dataplane import WorkAreaKeysOnly
from tests.fixtures.kubernetes import KUBERNETES_VERSIONS, WORK_AREA_KEY
from testsupport.factories import make_dataset, permit_body
from workspaces.kubernetes import hub_traits

MANAGER = Principal(user_id="u-pm", subject="pm", roles=frozenset({Role.permit_manager}),
                    via="token")


def of_kind(objects, kind, name=None):
    return [o for o in objects if o["kind"] == kind
            and (name is None or o["metadata"]["name"] == name)]


def test_every_volume_is_on_an_encrypting_class_keyed_by_the_project_secret(spec, cluster):
    objects = render(spec, cluster)
    [secret] = of_kind(objects, "Secret", WORK_AREA_KEY_SECRET)
    assert secret["metadata"]["namespace"] == cluster.namespace(spec.project_id)
    assert secret["stringData"]["encryptionPassphrase"] == WORK_AREA_KEY  # Ceph-CSI
    assert secret["stringData"]["CRYPTO_KEY_VALUE"] == WORK_AREA_KEY  # Longhorn
    claims = {c["metadata"]["name"]: c["spec"]["storageClassName"]
              for c in of_kind(objects, "PersistentVolumeClaim")}
    assert claims["project"] == "cephfs-encrypted" and claims["hub-db"] == "rbd-encrypted"
    assert set(claims.values()) <= set(cluster.encrypted_storage_classes)
    # the work areas: KubeSpawner creates each member's claim with this class
    spawner = hub_traits(spec, namespace="ns", storage_class=cluster.storage_class)
    assert spawner["KubeSpawner"]["storage_class"] == "rbd-encrypted"
    # the key is written before any claim that needs it
    kinds = [(o["kind"], o["metadata"]["name"]) for o in objects]
    assert kinds.index(("Secret", WORK_AREA_KEY_SECRET)) < min(
        i for i, (kind, _) in enumerate(kinds) if kind == "PersistentVolumeClaim")
    namespace = objects[0]
    assert namespace["metadata"]["annotations"][ENCRYPTION_ANNOTATION] == "project-key"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_key_secret_validates_strictly(spec, cluster, version):
    [secret] = of_kind(render(spec, cluster), "Secret", WORK_AREA_KEY_SECRET)
    kubernetes_validate.validate(secret, version, strict=True)


def test_no_pod_of_the_namespace_may_read_the_key(spec, cluster):
    objects = render(spec, cluster)
    for role in of_kind(objects, "Role"):
        assert not [r for r in role["rules"] if "secrets" in r["resources"]]
    assert WORK_AREA_KEY not in json.dumps(hub_traits(spec, namespace="ns"))
    for obj in objects:
        if obj["kind"] in ("Deployment", "Job"):
            assert WORK_AREA_KEY_SECRET not in json.dumps(obj)


@pytest.mark.parametrize(("changes", "named"), [
    ({"storage_class": None}, "work areas on the cluster default"),
    ({"shared_storage_class": "nfs"}, "the project folder on storage class 'nfs'"),
    ({"encrypted_storage_classes": ()}, "work areas on storage class 'rbd-encrypted'"),
])
def test_a_class_not_declared_encrypted_is_refused_and_says_so(spec, cluster, changes, named):
    with pytest.raises(RenderError, match="not declared encrypted") as refused:
        render(spec, dataclasses.replace(cluster, **changes))
    assert named in str(refused.value)
    assert "SPE_KUBERNETES_PLAINTEXT_WORK_AREAS" in str(refused.value)


def test_plaintext_only_when_the_operator_accepts_it_and_then_no_key(spec, cluster):
    plain = dataclasses.replace(cluster, encrypted_storage_classes=(),
                                plaintext_work_areas=True)
    objects = render(dataclasses.replace(spec, work_area_key=""), plain)
    assert of_kind(objects, "Secret", WORK_AREA_KEY_SECRET) == []
    assert objects[0]["metadata"]["annotations"][ENCRYPTION_ANNOTATION] == PLAINTEXT
    assert KubernetesRuntime(plain, client=object()).encrypts_work_areas() is False
    assert KubernetesRuntime(cluster, client=object()).encrypts_work_areas() is True


def test_an_encrypting_cluster_without_a_key_in_the_spec_is_refused(spec, cluster):
    with pytest.raises(RenderError, match="holds none"):
        render(dataclasses.replace(spec, work_area_key=""), cluster)


def test_the_key_is_destroyed_and_recorded_before_the_namespace_goes(
        kube, fake_api, cluster, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    engine = make_engine(f"sqlite:///{tmp_path / 'spe.db'}")
    migrations.upgrade(engine)
    settings = Settings(data_dir=tmp_path / "data")
    plane = WorkAreaKeysOnly(engine, settings)
    reconciler = Reconciler(engine, KubernetesRuntime(cluster, kube), settings,
                            SecretBox.load_or_create(settings.keys_dir / "secrets.key"), plane)
    with session_scope(engine) as s:
        permit = lifecycle.create_permit(
            s, PermitCreate(**permit_body(make_dataset(engine), ["alice"])), MANAGER)
        project = s.exec(select(Project.id).where(Project.permit_id == permit.id)).one()
    reconciler.run_once()
    ns = cluster.namespace(project)
    name = workareas.key_name(project)
    key = plane.keys.unwrap(name)
    passphrase = base64.b64encode(key.plaintext).decode()
    secret = fake_api.get_object(f"/api/v1/namespaces/{ns}/secrets/{WORK_AREA_KEY_SECRET}")
    assert base64.b64decode(secret["data"]["encryptionPassphrase"]).decode() == passphrase
    assert plane.keys.exists(project) is False  # the extract's key is another key

    deletes_when_destroyed = []
    destroy = plane.keys.destroy

    def watched(key_name):
        deletes_when_destroyed.append([r.path for r in fake_api.requests
                                       if r.method == "DELETE"])
        return destroy(key_name)

    plane.keys.destroy = watched
    with session_scope(engine) as s:
        lifecycle.revoke_permit(s, permit.id, "study ended", MANAGER)
    [ended] = reconciler.run_once()

    assert ended.observed == "deleted"
    assert deletes_when_destroyed == [[]]  # the key went first, then the namespace
    assert [r.path for r in fake_api.requests if r.method == "DELETE"] == [
        f"/api/v1/namespaces/{ns}"]
    with pytest.raises(KeyDestroyed):
        plane.keys.unwrap(name)
    assert not plane.keys.exists(name)
    with Session(engine) as s:
        [event] = s.exec(select(AuditEvent).where(
            AuditEvent.action == workareas.ACTION)).all()
        everything = json.dumps([e.details for e in s.exec(select(AuditEvent)).all()])
    done = event.details["record"]
    assert event.project_id == project and event.outcome == "success"
    assert done["key_id"] == key.key_id and done["stored_as"] == name
    assert done["destroyed_now"] is True
    assert done["keystore"] == plane.keys.description == {
        "type": "local", "kek_id": plane.keys.kek_id, "assurance": "software"}
    verify(plane.signing.public_key, canonical_json(done), event.details["signature"])
    for secret_form in (passphrase, secret["data"]["encryptionPassphrase"]):
        assert secret_form not in everything
        assert secret_form not in caplog.text

    reconciler.run_once()  # later passes change nothing and record nothing twice
    with Session(engine) as s:
        assert len(s.exec(select(AuditEvent).where(
            AuditEvent.action == workareas.ACTION)).all()) == 1
    engine.dispose()
