"""The shred list's refusals (spe/dataplane/shredlist.py); tests/test_backup_restore.py applies a
real one after a restore."""

import json
import os
import subprocess
import sys

import pytest

from spe.crypto.signing import SigningKey, public_key_pem
from spe.dataplane import shredlist


@pytest.fixture
def signer(tmp_path):
    return SigningKey.load_or_create(tmp_path / "extract.pem")


def signed(signer, project_id="p-1"):
    record = {"format": "spe-crypto-shred/v1", "project_id": project_id, "key_id": "k1"}
    from spe.crypto.canonical import canonical_json

    return {"format": shredlist.FORMAT, "entries": [{
        "seq": 7, "record": record, "signature": signer.sign(canonical_json(record)),
        "signing_key_id": signer.key_id}]}


def test_a_signed_list_names_its_projects(signer):
    assert shredlist.verified_projects(signed(signer), signer.public_key) == ["p-1"]


@pytest.mark.parametrize(("change", "reason"), [
    (lambda lst: lst.update(format="other"), "not a shred list"),
    (lambda lst: lst["entries"][0]["record"].update(project_id="p-2"), "does not verify"),
    (lambda lst: lst["entries"][0].update(signing_key_id="0" * 16), "signed by key"),
    (lambda lst: lst["entries"][0].pop("signature"), "malformed"),
])
def test_anything_unverifiable_refuses_the_whole_list(signer, change, reason):
    shred_list = signed(signer)
    change(shred_list)
    with pytest.raises(shredlist.ShredListError, match=reason):
        shredlist.verified_projects(shred_list, signer.public_key)


def test_the_command_refuses_and_applies_nothing(signer, tmp_path):
    shred_list = signed(signer)
    shred_list["entries"][0]["record"]["project_id"] = "p-forged"
    (tmp_path / "list.json").write_text(json.dumps(shred_list))
    (tmp_path / "pub.pem").write_text(public_key_pem(signer.public_key))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SPE_")},
           "SPE_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run([sys.executable, "-m", "spe.dataplane.shredlist", "apply",
                             str(tmp_path / "list.json"), "--public-key",
                             str(tmp_path / "pub.pem")], capture_output=True, text=True,
                            env=env, timeout=120, check=False)
    assert result.returncode != 0
    assert "shred list refused, nothing applied" in result.stderr
