import json

import jsonschema
import pytest

import policies
from controllers.profiles import ProfileError, load_profile, profile_from_dict
from workspaces.spec import WorkspaceProfile


@pytest.mark.parametrize("name", ["standard", "small"])
def test_shipped_profiles_load(name):
    profile = load_profile(name)
    assert isinstance(profile, WorkspaceProfile) and profile.name == name
    assert profile.image and profile.hub_image


def test_schema_rejects_unknown_fields_and_bad_quantities():
    schema = policies._root() / "schemas" / "workspace-profiles.schema.json"
    validator = jsonschema.Draft202012Validator(json.loads(schema.read_text()))
    good = policies.load("workspace-profiles", "standard")
    assert not list(validator.iter_errors(good))
    for bad in ({"gpu": 1}, {"cpu_limit": "two"}, {"memory_limit": "4GB"}, {"quota_pods": 0}):
        assert list(validator.iter_errors({**good, **bad})), bad


def base(**changes):
    return {**policies.load("workspace-profiles", "small"), **changes}


@pytest.mark.parametrize(("changes", "message"), [
    ({"cpu_request": "2", "cpu_limit": "1"}, "cpu request 2 exceeds limit 1"),
    ({"memory_request": "4Gi"}, "memory request 4Gi exceeds limit 2Gi"),
    ({"quota_pods": 3}, "quota_pods 3 leaves no room for the hub"),
    ({"quota_pvcs": 3}, "quota_pvcs 3 leaves no room"),
    ({"quota_cpu": "2"}, "quota_cpu 2 is below 3 servers x 1"),
    ({"quota_memory": "5Gi"}, "quota_memory 5Gi is below 3 servers x 2Gi"),
])
def test_numbers_that_do_not_fit_together_are_refused(changes, message):
    with pytest.raises(ProfileError, match=message):
        profile_from_dict(base(**changes))


def test_unknown_fields_are_refused():
    with pytest.raises(ProfileError, match="unknown profile fields: gpu"):
        profile_from_dict(base(gpu=1))


def test_an_unknown_profile_is_a_policy_error():
    with pytest.raises(policies.PolicyError, match="unknown workspace-profile"):
        load_profile("huge")
