import pytest

from controllers.runtimes.kubernetes.apply import RESOURCES, Outcome, apply, prune
from controllers.runtimes.kubernetes.client import KubeTerminalError
from controllers.runtimes.kubernetes.render import prune_selector, render

SELECTOR = {"app.kubernetes.io/managed-by": "spe", "spe.io/project": "p1"}


def config_map(name, namespace="ns", **labels):
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {**SELECTOR, **labels}},
            "data": {"k": name}}


NAMESPACE = {"apiVersion": "v1", "kind": "Namespace",
             "metadata": {"name": "ns", "labels": SELECTOR}}


def test_every_object_is_server_side_applied(kube, fake_api):
    apply(kube, [NAMESPACE, config_map("a")], field_manager="spe-test")
    patches = [r for r in fake_api.requests if r.method == "PATCH"]
    assert [r.path for r in patches] == ["/api/v1/namespaces/ns",
                                         "/api/v1/namespaces/ns/configmaps/a"]
    for request in patches:
        assert request.content_type == "application/apply-patch+yaml"
        assert request.query == {"fieldManager": "spe-test", "force": "true"}
    assert patches[1].body == config_map("a")


def test_outcomes_created_unchanged_updated(kube, fake_api):
    first = apply(kube, [NAMESPACE, config_map("a")])
    assert [c.outcome for c in first] == [Outcome.CREATED, Outcome.CREATED]
    again = apply(kube, [NAMESPACE, config_map("a")])
    assert [c.outcome for c in again] == [Outcome.UNCHANGED, Outcome.UNCHANGED]
    changed = config_map("a")
    changed["data"] = {"k": "new"}
    third = apply(kube, [NAMESPACE, changed])
    assert [str(c) for c in third] == ["Namespace ns unchanged",
                                       "ConfigMap ns/a updated"]


def test_prune_deletes_what_is_labelled_but_no_longer_desired(kube, fake_api):
    apply(kube, [NAMESPACE, config_map("a"), config_map("b")])
    fake_api.put_object("/api/v1/namespaces/ns/configmaps/foreign",
                        {"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": {"name": "foreign", "namespace": "ns",
                                      "labels": {"spe.io/project": "p1"}}})
    fake_api.requests.clear()
    changes = apply(kube, [NAMESPACE, config_map("a")], prune_selector=SELECTOR)
    assert [str(c) for c in changes if c.outcome is Outcome.DELETED] == \
        ["ConfigMap ns/b deleted"]
    lists = [r for r in fake_api.requests if r.method == "GET" and "labelSelector" in r.query]
    assert {r.query["labelSelector"] for r in lists} == {
        "app.kubernetes.io/managed-by=spe,spe.io/project=p1"}
    # every managed kind is searched, namespaced kinds only inside the labelled namespace
    assert {r.path for r in lists} == {r.path(None if not r.namespaced else "ns")
                                       for r in RESOURCES.values()}
    deletes = [r for r in fake_api.requests if r.method == "DELETE"]
    assert [r.path for r in deletes] == ["/api/v1/namespaces/ns/configmaps/b"]
    assert deletes[0].body["propagationPolicy"] == "Background"
    assert fake_api.get_object("/api/v1/namespaces/ns/configmaps/foreign")  # not spe-managed


def test_a_pruned_namespace_takes_its_contents_along(kube, fake_api):
    apply(kube, [NAMESPACE, config_map("a")])
    fake_api.requests.clear()
    changes = prune(kube, [], SELECTOR)
    assert [str(c) for c in changes] == ["Namespace ns deleted"]
    assert [r.path for r in fake_api.requests if r.method == "DELETE"] == \
        ["/api/v1/namespaces/ns"]


def test_prune_never_searches_namespaces_without_the_projects_labels(kube, fake_api):
    """The controller holds no rights there (helm/spe/templates/rbac.yaml): it neither
    lists nor deletes anything in them, even objects wearing the project's labels."""
    other = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}}
    apply(kube, [NAMESPACE, other, config_map("stray", namespace="kube-system")])
    fake_api.requests.clear()
    changes = apply(kube, [NAMESPACE, other], prune_selector=SELECTOR)
    assert [c for c in changes if c.outcome is Outcome.DELETED] == []
    assert not [r for r in fake_api.requests if "kube-system/" in r.path]
    assert fake_api.get_object("/api/v1/namespaces/kube-system/configmaps/stray")


def test_unknown_kinds_are_refused_before_anything_is_written(kube, fake_api):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x", "namespace": "ns"}}
    with pytest.raises(KubeTerminalError, match="does not apply v1/Pod"):
        apply(kube, [NAMESPACE, pod])
    assert fake_api.writes() == []


def test_an_empty_prune_selector_is_refused(kube):
    with pytest.raises(KubeTerminalError, match="empty label selector"):
        prune(kube, [], {})


def test_a_whole_workspace_applies_and_reapplies_idempotently(kube, fake_api, spec, cluster):
    objects = render(spec, cluster)
    created = apply(kube, objects, prune_selector=prune_selector(spec.project_id))
    assert [c.outcome for c in created] == [Outcome.CREATED] * len(objects)
    fake_api.requests.clear()
    again = apply(kube, objects, prune_selector=prune_selector(spec.project_id))
    assert {c.outcome for c in again} == {Outcome.UNCHANGED}
    assert len(again) == len(objects)
    assert not [r for r in fake_api.writes() if r.method != "PATCH"]
