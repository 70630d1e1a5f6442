"""The shared hub configuration and the static jupyterhub_config.py that loads it."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from types import SimpleNamespace

import pytest
from traitlets.config import PyFileConfigLoader

from tests.fixtures.workspaces import UNREACHABLE, make_spec
from workspaces.hubconfig import (
    AUTH_REFRESH_SECONDS,
    HUB_CONFIG_FILE,
    activity_interval,
    common_traits,
)


def test_common_traits_log_in_through_the_control_plane_only_named_users():
    traits = common_traits(make_spec("p-1", users=("bob", "alice")))
    auth = traits["GenericOAuthenticator"]
    assert traits["JupyterHub"]["authenticator_class"] == "generic-oauth"
    assert auth["client_id"] == "hub-p-1" and auth["client_secret"] == "client-secret"
    assert auth["userdata_url"] == f"{UNREACHABLE}/oauth/userinfo"
    assert auth["allowed_users"] == ["alice", "bob"]
    assert auth["allow_all"] is False and auth["allow_existing_users"] is False
    assert auth["admin_users"] == [] and traits["JupyterHub"]["admin_access"] is False
    assert auth["enable_auth_state"] and auth["refresh_pre_spawn"]
    assert auth["auth_refresh_age"] == AUTH_REFRESH_SECONDS
    assert json.loads(json.dumps(traits)) == traits


def test_common_traits_carry_audit_target_and_idle_timeout():
    spe = common_traits(make_spec("p-1", control_plane_url="https://cp.example/",
                                  idle_timeout_seconds=900))["SpeHub"]
    assert spe["audit_url"] == "https://cp.example/api/v1/audit/ingest"
    assert spe["audit_token"] == "hub-service-token"
    assert spe["idle_timeout_seconds"] == 900


@pytest.mark.parametrize(("timeout", "interval"), [(4, 5), (900, 225), (3600, 300)])
def test_activity_interval_stays_below_idle_timeout_within_bounds(timeout, interval):
    assert activity_interval(timeout) == interval


def _load(tmp_path, monkeypatch, traits):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(traits))
    monkeypatch.setenv("SPE_HUB_CONFIG", str(path))
    return PyFileConfigLoader(HUB_CONFIG_FILE.name, path=str(HUB_CONFIG_FILE.parent)).load_config()


def test_config_file_loads_traits_and_adds_culler_and_hooks(tmp_path, monkeypatch):
    traits = common_traits(make_spec("p-1", idle_timeout_seconds=600))
    traits["JupyterHub"]["services"] = [{"name": "spe-runtime", "api_token": "t"}]
    c = _load(tmp_path, monkeypatch, traits)
    assert c.GenericOAuthenticator.allowed_users == ["alice", "bob"]
    assert "SpeHub" not in c
    names = [s["name"] for s in c.JupyterHub.services]
    assert names == ["spe-runtime", "idle-culler"]
    culler = c.JupyterHub.services[1]["command"]
    assert "--timeout=600" in culler and "--cull-every=300" in culler
    # culling stops servers, never deletes users: a deleted user would take her work area
    # with her (KubeSpawner deletes a deleted user's claim)
    assert not any(arg.startswith("--cull-users") for arg in culler)
    assert callable(c.Spawner.pre_spawn_hook) and callable(c.Spawner.post_stop_hook)
    assert callable(c.Authenticator.post_auth_hook)


def test_no_culler_when_idle_timeout_is_zero(tmp_path, monkeypatch):
    c = _load(tmp_path, monkeypatch, common_traits(make_spec("p-1", idle_timeout_seconds=0)))
    assert "services" not in c.JupyterHub


def _spawner(name="alice"):
    return SimpleNamespace(log=logging.getLogger("test"), user=SimpleNamespace(name=name),
                           name="", egress_environment={})


async def _settle():
    while len(asyncio.all_tasks()) > 1:
        await asyncio.sleep(0.01)


def _refused_start(c, user: str):
    """The HTTPError the pre-spawn hook refuses ``user``'s start with, once its audit event
    is posted."""
    from tornado.web import HTTPError

    async def run():
        with pytest.raises(HTTPError) as refused:
            await c.Spawner.pre_spawn_hook(_spawner(user))
        await _settle()
        return refused.value

    return asyncio.run(run())


def test_hooks_post_audit_events_with_the_service_token(tmp_path, monkeypatch, audit_recorder):
    c = _load(tmp_path, monkeypatch,
              common_traits(make_spec("p-hooks", control_plane_url=audit_recorder.url)))

    async def run():
        model = c.Authenticator.post_auth_hook(SimpleNamespace(log=logging.getLogger("t")),
                                               None, {"name": "bob"})
        spawner = _spawner()
        await c.Spawner.pre_spawn_hook(spawner)
        c.Spawner.post_stop_hook(_spawner())
        await _settle()
        return model, spawner

    model, spawner = asyncio.run(run())
    assert model == {"name": "bob"}
    assert spawner.egress_environment == {
        "SPE_EGRESS_URL": audit_recorder.url, "SPE_EGRESS_TOKEN": "spe_for-alice",
        "SPE_EGRESS_PROJECT": "p-hooks"}
    assert audit_recorder.token_requests[-1] == (
        "/api/v1/projects/p-hooks/workspace-token", {"user": "alice"})
    events = sorted(audit_recorder.events("p-hooks"), key=lambda te: te[1]["action"])
    assert [(e["action"], e["user"]) for _, e in events] == [
        ("workspace.login", "bob"),
        ("workspace.server.start", "alice"),
        ("workspace.server.stop", "alice"),
    ]
    token, event = events[1]
    assert token == "Bearer hub-service-token"
    assert event["server"] == "" and event["outcome"] == "success"


def test_unreachable_control_plane_is_logged_not_raised(tmp_path, monkeypatch, caplog):
    c = _load(tmp_path, monkeypatch, common_traits(make_spec("p-down")))

    async def run():
        spawner = _spawner()
        await c.Spawner.pre_spawn_hook(spawner)
        await _settle()
        return spawner

    with caplog.at_level(logging.WARNING, logger="test"):
        spawner = asyncio.run(run())
    assert "workspace.server.start for alice not recorded" in caplog.text
    assert "no workspace token for alice" in caplog.text
    assert spawner.egress_environment == {}  # the server still starts, without egress


def test_a_spawn_refusal_stops_the_hook_before_any_token_and_is_audited(
        tmp_path, monkeypatch, audit_recorder):
    reason = "This project has used its computing budget."
    spec = dataclasses.replace(make_spec("p-spent", control_plane_url=audit_recorder.url),
                               spawn_refusal=reason)
    c = _load(tmp_path, monkeypatch, common_traits(spec))
    asked = len(audit_recorder.token_requests)

    refused = _refused_start(c, "bob")
    assert refused.status_code == 403 and refused.log_message == reason
    assert len(audit_recorder.token_requests) == asked  # no egress token for a refused start
    [(_, event)] = audit_recorder.events("p-spent")
    assert (event["action"], event["user"], event["outcome"]) == (
        "workspace.server.start", "bob", "denied")


def test_the_notice_is_the_hubs_announcement_as_plain_text():
    plain = common_traits(make_spec("p-1"))["JupyterHub"]
    assert plain["template_vars"] == {}
    noticed = common_traits(dataclasses.replace(make_spec("p-1"),
                                                notice="Budget <b>90 %</b> used"))
    assert noticed["JupyterHub"]["template_vars"] == {
        "announcement": "Budget &lt;b&gt;90 %&lt;/b&gt; used"}
    assert noticed["SpeHub"]["spawn_refusal"] == ""


def test_no_server_starts_for_someone_the_permit_no_longer_names(
        tmp_path, monkeypatch, audit_recorder):
    """A member amended away is still a user in the hub's database: the hook, not the
    login, is what stops an admin start (the runtime's service may start servers)."""
    spec = make_spec("p-members", users=("alice",), control_plane_url=audit_recorder.url)
    c = _load(tmp_path, monkeypatch, common_traits(spec))
    asked = len(audit_recorder.token_requests)

    refused = _refused_start(c, "bob")
    assert refused.status_code == 403
    assert refused.log_message == "bob is not named in this project's permit"
    assert len(audit_recorder.token_requests) == asked
    [(_, event)] = audit_recorder.events("p-members")
    assert (event["action"], event["user"], event["outcome"]) == (
        "workspace.server.start", "bob", "denied")
