import copy

import jsonschema
import pytest

import policies
from egress.sdc.params import load_rules


@pytest.mark.parametrize("name", ["snds", "acro-default", "opensafely"])
def test_shipped_packs_validate(name):
    pack = policies.load("packs", name)
    assert pack["egress"]["approvals_required"] == 2
    assert load_rules(name).pack == name


def test_pack_parameters():
    snds, acro, osf = load_rules("snds"), load_rules("acro-default"), load_rules("opensafely")
    assert (snds.threshold, snds.zeros_disclosive, snds.min_dof) == (11, True, 10)
    assert (acro.threshold, acro.dominance.n, acro.dominance.k, acro.p_ratio) == (10, 2, 0.9, 0.1)
    assert (osf.threshold, osf.zeros_disclosive, osf.rounding.base) == (8, False, 5)


def test_every_schema_property_is_documented():
    import json
    from importlib import resources

    schema = json.loads((resources.files("policies") / "schemas" / "packs.schema.json")
                        .read_text())

    def walk(node, where):
        for key, sub in node.get("properties", {}).items():
            assert sub.get("description"), f"{where}.{key} has no description"
            walk(sub, f"{where}.{key}")

    walk(schema, "pack")


def test_schema_rejects_a_bad_pack():
    import json
    from importlib import resources

    schema = json.loads((resources.files("policies") / "schemas" / "packs.schema.json")
                        .read_text())
    pack = copy.deepcopy(policies.load("packs", "snds"))
    pack["sdc"]["dominance"]["k"] = 1.5
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(pack, schema)
