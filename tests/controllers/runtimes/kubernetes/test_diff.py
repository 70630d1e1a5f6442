import copy

from controllers.runtimes.kubernetes.diff import REDACTED, DiffKind, diff
from controllers.runtimes.kubernetes.render import render
from testsupport.kubeapi import FakeApiServer


def observed_by_server(objects):
    """The objects as the (fake) API server returns them: server fields, defaults, data."""
    api = FakeApiServer()
    for obj in objects:
        meta = obj["metadata"]
        api._store(("x", meta.get("namespace"), obj["kind"], meta["name"]), obj, created=True)
    return list(api.objects.values())


def test_a_freshly_applied_workspace_has_no_differences(spec, cluster):
    desired = render(spec, cluster)
    assert diff(desired, observed_by_server(desired)) == []


def test_missing_changed_and_unexpected_objects_are_reported(spec, cluster):
    desired = render(spec, cluster)
    observed = observed_by_server(desired)
    quota = next(o for o in observed if o["kind"] == "ResourceQuota")
    quota["spec"]["hard"]["services.nodeports"] = "3"
    observed = [o for o in observed if o["kind"] != "Ingress"]
    stray = copy.deepcopy(next(o for o in observed if o["kind"] == "ConfigMap"))
    stray["metadata"]["name"] = "left-over"
    differences = diff(desired, [*observed, stray])
    assert [(d.kind, d.object[1], d.path) for d in differences] == [
        (DiffKind.CHANGED, "ResourceQuota", "spec.hard.services.nodeports"),
        (DiffKind.MISSING, "Ingress", ""),
        (DiffKind.UNEXPECTED, "ConfigMap", ""),
    ]
    assert str(differences[0]) == ("ResourceQuota spe-p-7f3a9c12/workspace: "
                                   "spec.hard.services.nodeports is '3', want '0'")


def test_list_length_and_type_changes_are_differences():
    want = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"},
            "data": {"x": "1"}, "items": [{"a": 1}, {"b": 2}]}
    have = copy.deepcopy(want)
    have["items"] = [{"a": 1}]
    assert [d.path for d in diff([want], [have])] == ["items"]
    have = copy.deepcopy(want)
    have["data"] = "flat"
    assert [d.path for d in diff([want], [have])] == ["data"]


def test_server_fields_and_other_managers_labels_are_ignored(spec, cluster):
    desired = render(spec, cluster)
    observed = observed_by_server(desired)
    for obj in observed:
        obj["metadata"].setdefault("labels", {})["added-by"] = "someone-else"
        obj["status"] = {"phase": "whatever"}
    assert diff(desired, observed) == []


def test_secret_values_are_compared_but_never_shown(spec, cluster):
    desired = render(spec, cluster)
    observed = observed_by_server(desired)
    grant = next(o for o in observed if o["metadata"]["name"] == "extract-grant")
    grant["data"]["token"] = "c3RhbGU="  # "stale"
    [difference] = diff(desired, observed)
    assert difference.path == "data.token"
    assert difference.desired == difference.observed == REDACTED
    assert spec.extract.grant_token not in str(difference)
