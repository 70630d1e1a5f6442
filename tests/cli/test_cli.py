"""The command line: bootstrap a token on the host, then drive a permit through the API."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from spe.cli.main import app
from tests.fixtures.embedded import embedded
from testsupport.factories import make_dataset, permit_body, permit_issuer, sign_decision
from testsupport.live_server import serving
from testsupport.platform import swap

runner = CliRunner()


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    """A real API server on a free port over a fresh embedded data directory."""
    from spe.web import create_app

    data_dir = tmp_path_factory.mktemp("spe")
    with embedded(data_dir) as (engine, settings):
        api = create_app(settings, engine)
        with serving(api) as url:
            yield {"url": url, "engine": engine, "dir": data_dir, "app": api}


def spe(*args: str, env: dict | None = None):
    result = runner.invoke(app, list(args), env=env)
    return result


def test_token_bootstrap_and_permit_commands(platform, tmp_path: Path):
    created = spe("token", "create", "--user", "pm", "--role", "permit_manager",
                  "--expires-in", "1h")
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("spe_")
    env = {"SPE_URL": platform["url"], "SPE_TOKEN": token}

    body = permit_body(make_dataset(platform["engine"]), ["alice"])
    permit_file = tmp_path / "permit.yaml"
    permit_file.write_text(yaml.safe_dump(body))
    result = spe("permit", "create", str(permit_file), env=env)
    assert result.exit_code == 0, result.output
    ref = body["reference"]

    amendment = tmp_path / "amend.yaml"
    amendment.write_text(yaml.safe_dump({"purpose": "Wider"}))
    assert spe("permit", "amend", ref, str(amendment), "-r", "scope", env=env).exit_code == 0
    assert spe("permit", "renew", ref, "--until", "2099-01-01", env=env).exit_code == 0
    assert spe("permit", "suspend", ref, env=env).exit_code != 0  # needs a reason
    assert spe("permit", "suspend", ref, "-r", "incident", env=env).exit_code == 0
    assert spe("permit", "resume", ref, env=env).exit_code == 0
    assert spe("permit", "revoke", ref, "-r", "ended", env=env).exit_code == 0
    refused = spe("permit", "resume", ref, env=env)
    assert refused.exit_code == 1 and "409" in refused.output

    listed = spe("permit", "list", "--json", env=env)
    assert '"revoked"' in listed.stdout
    history = spe("permit", "history", ref, "--json", env=env)
    assert [line for line in history.stdout.splitlines() if '"action"' in line] == [
        f'    "action": "{a}",' for a in
        ("create", "amend", "renew", "suspend", "resume", "revoke")]


def test_token_list_and_revoke(platform):
    created = spe("token", "create", "--user", "aud", "--role", "auditor")
    token = created.stdout.strip()
    token_id = created.stderr.split()[1]
    assert token_id[:8] in spe("token", "list", "--user", "aud").stdout
    assert spe("token", "revoke", token_id).exit_code == 0
    response = httpx.get(f"{platform['url']}/api/v1/me",
                         headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_unknown_user_without_role_is_refused(platform):
    result = spe("token", "create", "--user", "nobody-here")
    assert result.exit_code == 1 and "give --role" in result.output


def test_bad_duration_is_refused(platform):
    result = spe("token", "create", "--user", "x", "--role", "auditor", "--expires-in", "soon")
    assert result.exit_code == 2 and "duration" in result.output


def test_missing_token_is_explained(platform):
    result = spe("permit", "list", env={"SPE_URL": platform["url"], "SPE_TOKEN": ""})
    assert result.exit_code == 2 and "SPE_TOKEN" in result.output


def test_help_is_there():
    result = spe("--help")
    assert result.exit_code == 0
    for command in ("serve", "up", "db", "token", "permit"):
        assert command in result.stdout


def test_keys_init_creates_every_key_once(tmp_path):
    first = spe("keys", "init", str(tmp_path / "keys"))
    assert first.exit_code == 0, first.output
    files = sorted(p.name for p in (tmp_path / "keys").iterdir())
    assert len(files) >= 8 and "kek.key" in files
    assert all((tmp_path / "keys" / f).stat().st_mode & 0o077 == 0 for f in files)
    again = spe("keys", "init", str(tmp_path / "keys"))
    assert "0 key file(s) created" in again.stdout


def test_a_signed_permit_decision_is_submitted(platform, tmp_path: Path):
    created = spe("token", "create", "--user", "pm2", "--role", "permit_manager")
    env = {"SPE_URL": platform["url"], "SPE_TOKEN": created.stdout.strip().splitlines()[-1]}
    issuer = "https://hdh.example"
    key, issuers = permit_issuer(tmp_path, issuer)
    terms = {k: v for k, v in permit_body(make_dataset(platform["engine"]), ["alice"]).items()
             if k not in {"reference", "issuer"}}
    decision = tmp_path / "grant.jws"
    decision.write_text(sign_decision(key, issuer, "grant", "HDH-CLI-SIGNED", terms) + "\n")
    refused = spe("permit", "submit", str(decision), env=env)  # no issuer trusted yet
    assert refused.exit_code == 1 and "403" in refused.output
    api = platform["app"]
    swap(api, settings=api.state.platform.settings.model_copy(
        update={"permit_issuers_file": issuers}))
    applied = spe("permit", "submit", str(decision), env=env)
    assert applied.exit_code == 0, applied.output
    assert "permit HDH-CLI-SIGNED of https://hdh.example is now granted" in \
        " ".join(applied.output.split())


def token_for(user: str, role: str) -> str:
    created = spe("token", "create", "--user", user, "--role", role)
    assert created.exit_code == 0, created.output
    return created.stdout.strip().splitlines()[-1]


def test_steward_registers_and_uploads_then_the_template_permit_is_created(platform,
                                                                           tmp_path: Path):
    """`spe dataset register/upload/list` as a steward, then the printed permit template and
    amendment template work as printed against the demo's datasets."""
    from spe.data import synth
    from spe.demo import DATASETS, variables

    steward = {"SPE_URL": platform["url"], "SPE_TOKEN": token_for("steward1", "data_steward")}
    for table, name in DATASETS.items():
        entry = tmp_path / f"{name}.yaml"
        entry.write_text(yaml.safe_dump({"name": name, "holder": "CNAM (synthetic)",
                                         "variables": variables(table)}))
        registered = spe("dataset", "register", str(entry), env=steward)
        assert registered.exit_code == 0, registered.output
        assert f"dataset {name} registered" in registered.stdout
    source = tmp_path / "care.parquet"
    synth.write("care", source, 500, seed=1)
    uploaded = spe("dataset", "upload", "snds-care", str(source), "--json", env=steward)
    assert uploaded.exit_code == 0, uploaded.output
    assert yaml.safe_load(uploaded.stdout)["rows"] == 500
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a,b\n1,2\n")
    refused = spe("dataset", "upload", "snds-beneficiaries", str(wrong), env=steward)
    assert refused.exit_code == 1 and "422" in refused.stderr
    listed = spe("dataset", "list", "--json", env=steward)
    sources = {d["name"]: d["source_uri"] for d in yaml.safe_load(listed.stdout)}
    assert sources["snds-care"] and sources["snds-beneficiaries"] is None

    pm = {"SPE_URL": platform["url"], "SPE_TOKEN": token_for("pm3", "permit_manager")}
    template = spe("permit", "template")
    assert template.exit_code == 0 and template.stdout.startswith("# A data permit")
    (tmp_path / "permit.yaml").write_text(template.stdout)
    created = spe("permit", "create", str(tmp_path / "permit.yaml"), env=pm)
    assert created.exit_code == 0, created.output
    reference = yaml.safe_load(template.stdout)["reference"]
    amendment = spe("permit", "template", "--amendment")
    (tmp_path / "amendment.yaml").write_text(amendment.stdout)
    amended = spe("permit", "amend", reference, str(tmp_path / "amendment.yaml"), "-r",
                  "new analyst", env=pm)
    assert amended.exit_code == 0, amended.output
    shown = spe("permit", "show", reference, "--json", env=pm)
    assert "members: alice, bob" in spe("permit", "show", reference, env=pm).stdout
    assert sorted(yaml.safe_load(shown.stdout)["members"]) == ["alice", "bob"]


def test_a_permit_file_that_is_not_a_mapping_is_refused(platform, tmp_path: Path):
    pm = {"SPE_URL": platform["url"], "SPE_TOKEN": token_for("pm4", "permit_manager")}
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    result = spe("permit", "create", str(tmp_path / "list.yaml"), env=pm)
    assert result.exit_code == 2 and "mapping" in result.output


def test_up_checks_the_port_before_building_anything(tmp_path: Path, monkeypatch):
    import socket

    from spe.db import get_engine
    from spe.settings import get_settings

    monkeypatch.setenv("SPE_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    get_engine.cache_clear()
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        try:
            result = spe("up", "--host", "127.0.0.1", "--port", str(port))
        finally:
            get_settings.cache_clear()
            get_engine.cache_clear()
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "--port" in result.stderr
    assert "spe is starting" not in result.output and "spe_" not in result.output
    assert not (tmp_path / "data" / "spe.db").exists()


def test_an_auditor_finds_alice_by_name(platform, tmp_path: Path):
    alice = {"SPE_URL": platform["url"], "SPE_TOKEN": token_for("alice-cli", "researcher")}
    (tmp_path / "p.yaml").write_text(spe("permit", "template").stdout)
    refused = spe("permit", "create", str(tmp_path / "p.yaml"), env=alice)
    assert refused.exit_code == 1 and "403" in refused.stderr  # audited as denied
    auditor = {"SPE_URL": platform["url"], "SPE_TOKEN": token_for("auditor-cli", "auditor")}
    found = spe("audit", "search", "--actor", "alice-cli", "--json", env=auditor)
    assert found.exit_code == 0, found.output
    events = yaml.safe_load(found.stdout)
    assert events and {e["actor_name"] for e in events} == {"alice-cli"}
    assert any(e["outcome"] == "denied" for e in events)
    shown = spe("audit", "search", "--actor", "alice-cli", "--outcome", "denied", env=auditor)
    assert shown.exit_code == 0 and "alice-cli" in shown.stdout and "denied" in shown.stdout
    nobody = spe("audit", "search", "--actor", "nobody-at-all", env=auditor)
    assert nobody.exit_code == 1 and "audit.unknown_actor" in nobody.stderr
