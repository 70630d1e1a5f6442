"""A member amended away no longer reads the project folder, by any route the local runtime
offers: her server is stopped, her old server token opens neither her server nor another's
nor the hub's API for a new start, and no new server of hers can be started at all. Real
hub, proxy, servers and kernels (one workspace, two members)."""

from __future__ import annotations

import httpx
import pytest

from controllers.runtimes.local import LocalRuntime, processes
from spe.errors import RetryableError
from tests.controllers.runtimes.local.test_runtime import _environ, spawn
from tests.fixtures.workspaces import make_spec

pytestmark = pytest.mark.timeout(240)
SHARED = "project/shared.txt"


def users_of(pids: set[int]) -> set[str]:
    """The hub users whose processes (servers, kernels) these are."""
    users = set()
    for pid in pids:
        try:
            users.add(_environ(pid).get("JUPYTERHUB_USER", ""))
        except OSError:
            continue  # it ended meanwhile
    return users


def test_bob_amended_away_reads_the_project_folder_by_no_route(runtime_root):
    runtime = LocalRuntime(runtime_root)
    spec = make_spec("p-amended", users=("alice", "bob"))
    runtime.ensure(spec)
    try:
        alice = spawn(runtime, spec.project_id, "alice")
        bob = spawn(runtime, spec.project_id, "bob")
        alice.execute(f"open('{SHARED}', 'w').write('members only')\n")
        assert bob.execute(f"print(open('{SHARED}').read())").strip() == "members only"
        direct = _environ(bob.pid)["JUPYTERHUB_SERVICE_URL"]  # his server's own port
        token = {"Authorization": f"token {bob.token}"}
        url = runtime.observe(spec.project_id).url
        layout = runtime.layout(spec.project_id)

        runtime.ensure(make_spec("p-amended", users=("alice",)))  # the amendment

        assert not processes.alive(bob.pid)
        assert runtime.observe(spec.project_id).servers == ("alice",)
        assert "bob" not in users_of(processes.workspace_pids(layout.root))  # nor a kernel
        # his old token: his server's address sends him to the hub, his server's own port
        # has nothing behind it, alice's server refuses him
        answer = httpx.get(f"{bob.base}api/contents/{SHARED}", headers=token, timeout=30)
        assert answer.status_code == 302 and answer.headers["location"].startswith("/hub/")
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{direct}api/contents/{SHARED}", headers=token, timeout=30)
        answer = httpx.get(f"{url}user/alice/api/contents/{SHARED}", headers=token, timeout=30)
        assert answer.status_code == 403 and "members only" not in answer.text
        # ...and no longer opens the hub's API: no new server, not even his own record
        for method, path in (("POST", "users/bob/server"), ("GET", "user")):
            answer = httpx.request(method, f"{url}hub/api/{path}", headers=token, timeout=30)
            assert answer.status_code == 403, (method, path, answer.text)
        # no start at all, even by the runtime's own admin service
        with runtime.hub_api(spec.project_id) as api, \
                pytest.raises(RetryableError, match="not named in this project's permit"):
            api.start_server("bob")
        assert runtime.observe(spec.project_id).servers == ("alice",)
        assert alice.execute(f"print(open('{SHARED}').read())").strip() == "members only"
    finally:
        runtime.delete(spec.project_id)
