"""Permit → workspace → kill switch → revocation, with real processes only.

``spe up`` runs as a subprocess on a free port (the API under uvicorn, the reconciler with the
real local runtime and the data plane, the demo permit naming alice). Alice signs in to spe
in Chromium (Playwright, Debian's /usr/bin/chromium) with her token, opens her workspace: the
hub sends her to spe's /oauth/authorize and back, JupyterLab starts. A kernel reads the
pseudonymised extract from data/ and writes to outputs/. Egress, as the issue's "Done when"
says: the kernel makes an ACRO output folder and a plain CSV of counts and submits them with
``spe egress submit`` and the hub's workspace token; checker1 and checker2 read the check
records, approve (justifying the flagged file) and release; the manifest verifies with the
release key; alice downloads exactly the bytes her kernel wrote. The project is halted
(servers and hub stop, a new login is refused), then the permit is revoked (hub gone, data
shredded: the objects are gone and a ciphertext copy taken before can no longer be
decrypted, its key destroyed). Bob, a researcher the permit does not name, is refused at
every step. No process survives.

Set ``SPE_E2E_SCREENSHOT=/path.png`` to keep the JupyterLab screenshot.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from controllers.runtimes.local import processes
from egress.release import verify_manifest
from spe.audit.models import AuditEvent
from spe.data import synth
from spe.data.encryption import DecryptingReader, WrongKeyError
from spe.db import make_engine
from spe.keys import KeyDestroyed, LocalKeyStore
from tests.fixtures.workspaces import processes_under
from testsupport import kernels

pytestmark = pytest.mark.slow
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
TOKEN_LINE = re.compile(r"^\s+(\w+)\s+(\w+)\s+(spe_\S+)\s*$")
KERNEL_CODE = """
import os, pyarrow.parquet as pq
care = pq.read_table("data/snds-care.parquet")
with open("outputs/nirs.txt", "w") as out:
    out.write("\\n".join(sorted(set(care.column("nir").to_pylist()))))
print(sorted(n for n in os.listdir("data") if not n.startswith(".")), care.num_rows,
      sorted(care.column_names))
"""

EGRESS_CODE = """
import json, os, subprocess, sys
import acro, pyarrow.parquet as pq
people = pq.read_table("data/snds-beneficiaries.parquet").to_pandas()
people["age_band"] = (2025 - people.birth_year) // 25 * 25
session = acro.ACRO(suppress=False)
session.crosstab(people.sex, people.age_band)
session.finalise("outputs/acro_out", "json")
overseas = people[people.department.str.len() == 3]  # 971..976: small counts, flagged
overseas.groupby("department").size().rename("count").reset_index().to_csv(
    "outputs/overseas_counts.csv", index=False)
assert "SPE_TOKEN" not in os.environ and "SPE_URL" not in os.environ
submitted = subprocess.run(
    [sys.executable, "-m", "spe", "egress", "submit", "outputs/acro_out",
     "outputs/overseas_counts.csv", "--title", "Age bands; overseas departments",
     "--description", "Counts of beneficiaries from the extract (ACRO crosstab; plain CSV)",
     "--json"],
    capture_output=True, text=True, timeout=120)
assert submitted.returncode == 0, submitted.stderr
print("EGRESS", json.dumps({"request": json.loads(submitted.stdout)["id"],
                            "project": os.environ["SPE_EGRESS_PROJECT"],
                            "token": os.environ["SPE_EGRESS_TOKEN"]}))
"""

FORGED_CODE = """
import hashlib, json, os, subprocess, sys
import pyarrow.parquet as pq
from egress import tables
people = pq.read_table("data/snds-beneficiaries.parquet").to_pandas()
os.makedirs("outputs/forged/hand_acro", exist_ok=True)
# an spe table edited after it was written
tables.crosstab(people, "sex", "department").to_csv("outputs/forged/edited.csv")
with open("outputs/forged/edited.csv", "a") as f:
    f.write("X" + ",3" * people.department.nunique() + "\\n")
# a hand-written sidecar: sums of something presented as counts, hash and cells matching
table = b"region,F,M\\nN,1205,900\\nS,1310,1500\\n"
open("outputs/forged/sums.csv", "wb").write(table)
json.dump({"format": "spe-sdc-sidecar", "version": 1, "table_file": "sums.csv",
           "table_sha256": hashlib.sha256(table).hexdigest(),
           "evidence": {"statistic": "count", "row_dims": ["region"], "col_dims": ["sex"],
                        "row_labels": [["N"], ["S"]], "col_labels": [["F"], ["M"]],
                        "margins": False, "count": [[1205, 900], [1310, 1500]]}},
          open("outputs/forged/sums.sdc.json", "w"))
# a hand-written ACRO results.json calling a small table a passing frequency table
open("outputs/forged/hand_acro/small.csv", "w").write("region,F,M\\nN,3,98\\nS,110,87\\n")
json.dump({"version": "1.0.2", "results": {"output_0": {
    "uid": "output_0", "status": "pass", "type": "table", "summary": "FrequencyTable : pass",
    "files": [{"name": "small.csv"}],
    "outcome": {"F": {"N": "ok", "S": "ok"}, "M": {"N": "ok", "S": "ok"}}}}},
    open("outputs/forged/hand_acro/results.json", "w"))
submitted = subprocess.run(
    [sys.executable, "-m", "spe", "egress", "submit", "outputs/forged/edited.csv",
     "outputs/forged/edited.sdc.json", "outputs/forged/sums.csv",
     "outputs/forged/sums.sdc.json", "outputs/forged/hand_acro",
     "--title", "Forged evidence", "--description", "must not pass", "--json"],
    capture_output=True, text=True, timeout=120)
assert submitted.returncode == 0, submitted.stderr
print("FORGED", json.loads(submitted.stdout)["id"])
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Platform:
    """`spe up` in a subprocess; its output is read line by line in a thread."""

    def __init__(self, root: Path) -> None:
        self.root, self.data = root, root / "data"
        self.url = f"http://127.0.0.1:{free_port()}"
        env = {**os.environ, "SPE_DATA_DIR": str(self.data), "COLUMNS": "250",
               "SPE_RECONCILE_INTERVAL_SECONDS": "1", "SPE_PUBLIC_URL": self.url}
        self.log = (root / "spe-up.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from spe.cli.main import app; app()", "up",
             "--port", self.url.rsplit(":", 1)[1]],
            cwd=root, env=env, stdout=subprocess.PIPE, stderr=self.log,
            start_new_session=True, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.tokens: dict[str, str] = {}

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                assert self.proc.poll() is None, f"spe up exited: {self.stderr()}"
                continue
            if match := TOKEN_LINE.match(line):
                self.tokens[match[1]] = match[3]
            if match := re.search(pattern, line):
                return match
        raise AssertionError(f"no {pattern!r} after {timeout} s: {self.stderr()}")

    def stderr(self) -> str:
        return (self.root / "spe-up.log").read_text(errors="replace")[-3000:]

    def api(self, subject: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30,
                            headers={"Authorization": f"Bearer {self.tokens[subject]}"})

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


@pytest.fixture
def platform(tmp_path):
    up = Platform(tmp_path)
    try:
        yield up
    finally:
        up.stop()
        processes.stop_pids(processes_under(up.data), timeout=5)  # whatever the test did


def wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.2)
    raise AssertionError(f"{what}: not after {timeout} s")


def sends_to_closed_page(url: str, project_id: str) -> bool:
    """The hub is gone: its address only redirects to spe's page saying why."""
    try:
        answer = httpx.get(url + "hub/", timeout=2)
    except httpx.ConnectError:
        return False
    return answer.status_code == 303 and \
        answer.headers["location"].endswith(f"/workspaces/{project_id}/closed")


def spe_browser_session(platform: Platform, subject: str) -> httpx.Client:
    """A cookie-keeping client signed in to spe with the subject's token, as a browser."""
    client = httpx.Client(follow_redirects=True, timeout=120)
    page = client.get(f"{platform.url}/auth/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)[1]
    signed_in = client.post(f"{platform.url}/auth/token-login", data={
        "token": platform.tokens[subject], "csrf": csrf, "next": "/api/v1/me"})
    assert signed_in.json()["subject"] == subject
    return client


def run_in_kernel(server: str, cookies: dict[str, str], code: str) -> str:
    """Execute ``code`` in a new kernel of the server, with the browser's session cookies."""
    headers = {"X-XSRFToken": cookies["_xsrf"],
               "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
    with httpx.Client(base_url=server, headers=headers, timeout=60) as http:
        kernel = http.post("api/kernels", json={"name": "python3"})
        assert kernel.status_code == 201, kernel.text
        kernel_id = kernel.json()["id"]
        try:
            return kernels.execute(server.replace("http://", "ws://")
                                   + f"api/kernels/{kernel_id}/channels", headers, code)
        finally:
            http.delete(f"api/kernels/{kernel_id}")


def alice_opens_jupyterlab(platform: Platform, hub: str, screenshot: Path) -> dict[str, str]:
    """Sign in to spe and into the hub in Chromium; the hub cookies once JupyterLab shows."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"{platform.url}/auth/login")
            page.fill("input[name=token]", platform.tokens["alice"])
            page.locator("form[action*=token-login] [type=submit]").click()
            page.wait_for_load_state()
            page.goto(f"{hub}hub/oauth_login?next=%2Fhub%2F")
            deadline = time.monotonic() + 240
            while True:  # on a loaded machine the spawn page's progress stream can time out
                try:
                    page.wait_for_url(re.compile(r"/user/alice/lab"), timeout=60_000)
                    break
                except PlaywrightTimeout:
                    assert time.monotonic() < deadline, "JupyterLab never opened"
                    page.goto(f"{hub}hub/")  # the hub sends her on once her server is up
            page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
            page.wait_for_timeout(1500)  # let the launcher draw
            page.screenshot(path=str(screenshot))
            # cookies are per host, not port: keep those the server's path would receive,
            # the most specific first (the hub and the server each set an _xsrf cookie)
            sent = sorted((c for c in page.context.cookies()
                           if "/user/alice/".startswith(c["path"])),
                          key=lambda c: len(c["path"]))
            return {c["name"]: c["value"] for c in sent}
        finally:
            browser.close()


def audit_events(platform: Platform, action: str) -> list[AuditEvent]:
    engine = make_engine(f"sqlite:///{platform.data / 'spe.db'}")
    try:
        with Session(engine) as s:
            return list(s.exec(select(AuditEvent).where(AuditEvent.action == action)))
    finally:
        engine.dispose()


def sha256_files(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in folder.rglob("*") if p.is_file()}


def egress_from_the_workspace(platform: Platform, hub: str, cookies: dict[str, str],
                              project_id: str, outputs: Path, downloads: Path) -> None:
    """The issue's "Done when": alice's kernel submits an ACRO folder and a plain CSV with the
    hub's workspace token; checks run; checker1 and checker2 approve (justifying the flagged
    file); the release manifest verifies with the release key; alice downloads exactly the
    approved bytes with her personal token, outside the workspace."""
    output = run_in_kernel(f"{hub}user/alice/", cookies, EGRESS_CODE)
    submitted = json.loads(re.search(r"^EGRESS (.+)$", output, re.MULTILINE)[1])
    assert submitted["project"] == project_id
    request_id = submitted["request"]
    checkers = [platform.api("checker1"), platform.api("checker2")]

    request = checkers[0].get(f"/api/v1/egress/requests/{request_id}").json()
    assert request["requester"] == "alice" and request["status"] == "checked"
    files = {f["name"]: f for f in request["files"]}
    assert {"acro_out/output_0_0.csv", "acro_out/results.json",
            "overseas_counts.csv"} <= set(files)
    counts = files["overseas_counts.csv"]
    assert counts["check"]["kind"] == "csv-table" and counts["outcome"] == "fail"
    assert any(flag["rule"] == "threshold" for flag in counts["check"]["flags"])
    assert files["acro_out/output_0_0.csv"]["check"]["kind"] == "acro"
    assert files["acro_out/results.json"]["checker_only"]
    seen = checkers[0].get(f"/api/v1/egress/requests/{request_id}/files/{counts['id']}"
                           "/content")
    assert seen.content == (outputs / "overseas_counts.csv").read_bytes()

    for checker in checkers:
        view = checker.get(f"/api/v1/egress/requests/{request_id}").json()
        for file in (f for f in view["files"] if f["can_vote"]):
            justification = ("Overseas departments: cells of 10 accepted for this "
                             "demo release" if file["outcome"] == "fail" else None)
            vote = checker.post(
                f"/api/v1/egress/requests/{request_id}/files/{file['id']}/votes",
                json={"decision": "approve", "sha256": file["sha256"],
                      "justification": justification})
            assert vote.status_code == 201, vote.text
    assert checkers[1].get(f"/api/v1/egress/requests/{request_id}").json()["status"] \
        == "approved"
    released = checkers[1].post(f"/api/v1/egress/requests/{request_id}/release")
    assert released.status_code == 201, released.text
    release = released.json()

    key = httpx.get(f"{platform.url}/api/v1/egress/release-key", timeout=30).json()
    assert key["key_id"] == release["signing_key_id"]
    verify_manifest(release["manifest"], release["signature"], key["public_key_pem"])
    approved = {f["name"]: f["sha256"] for f in release["manifest"]["files"]}
    assert "overseas_counts.csv" in approved and "acro_out/output_0_0.csv" in approved
    assert not any(files[name]["checker_only"] for name in approved)

    pinned = downloads.parent / "release-key.pem"  # as the operator publishes it
    pinned.write_text(key["public_key_pem"])
    download = subprocess.run(
        [sys.executable, "-m", "spe", "egress", "download", release["id"],
         "--to", str(downloads), "--public-key", str(pinned)], capture_output=True, text=True,
        timeout=60,
        env={**os.environ, "SPE_URL": platform.url, "SPE_TOKEN": platform.tokens["alice"]})
    assert download.returncode == 0, download.stderr
    written = sha256_files(outputs)
    assert sha256_files(downloads) == approved == {n: written[n] for n in approved}

    file_url = f"/api/v1/egress/releases/{release['id']}/files/{counts['id']}"
    workspace = httpx.Client(base_url=platform.url, timeout=30,
                             headers={"Authorization": f"Bearer {submitted['token']}"})
    with workspace:
        assert workspace.get(file_url).status_code == 403
    bob = platform.api("bob")
    assert bob.get(file_url).status_code == 403
    forged_evidence_never_passes(platform, hub, cookies)
    assert bob.get(f"/api/v1/egress/releases/{release['id']}").status_code == 404
    assert bob.get(f"/api/v1/egress/requests/{request_id}").status_code == 404
    assert bob.get(f"/api/v1/projects/{project_id}/egress-requests").status_code == 404


def forged_evidence_never_passes(platform: Platform, hub: str, cookies: dict[str, str]) -> None:
    """Submitted from the kernel: an spe table edited after writing, a hand-written sidecar
    and a hand-written ACRO results.json. None passes; contradicted evidence fails."""
    output = run_in_kernel(f"{hub}user/alice/", cookies, FORGED_CODE)
    request_id = re.search(r"^FORGED (\S+)$", output, re.MULTILINE)[1]
    request = platform.api("checker1").get(f"/api/v1/egress/requests/{request_id}").json()
    files = {f["name"]: f for f in request["files"]}
    assert not any(f["outcome"] == "pass" for f in files.values()), files
    outcomes = {name: f["outcome"] for name, f in files.items() if not f["checker_only"]}
    assert outcomes == {"edited.csv": "fail", "sums.csv": "review",
                        "hand_acro/small.csv": "fail"}, files
    assert "evidence does not match the table" in json.dumps(files["edited.csv"]["check"])


def test_permit_to_workspace_to_halt_to_shred(platform, tmp_path):
    timings = {}
    started = time.monotonic()
    project_id = platform.wait_for(r"project (p-[0-9a-f]+)", timeout=120)[1]
    hub = platform.wait_for(r"workspace is ready:\S* (\S+)", timeout=240)[1]
    timings["spe up → hub ready"] = time.monotonic() - started
    assert set(platform.tokens) >= {"alice", "bob", "pm", "admin", "auditor"}
    pm, bob_api = platform.api("pm"), platform.api("bob")
    workspace_root = platform.data / "workspaces" / "projects" / project_id

    # bob: a researcher, signed in, but not named in the permit
    assert bob_api.get(f"/api/v1/projects/{project_id}").status_code == 404
    assert bob_api.get(f"/api/v1/projects/{project_id}/extract/status").status_code == 404
    assert bob_api.get(f"/api/v1/projects/{project_id}/extract").status_code == 401
    bob = spe_browser_session(platform, "bob")
    refused = bob.get(f"{hub}hub/oauth_login?next=%2Fhub%2F")
    bob.close()
    assert refused.status_code >= 400 and "/user/bob" not in str(refused.url)
    [denied] = [e for e in audit_events(platform, "workspace.authorize")
                if e.outcome == "denied"]
    assert denied.project_id == project_id

    # alice: signs in, the hub logs her in through spe, JupyterLab starts
    status = platform.api("alice").get(f"/api/v1/projects/{project_id}/extract/status").json()
    assert (status["state"], status["percent"]) == ("ready", 100)
    screenshot = Path(os.environ.get("SPE_E2E_SCREENSHOT", tmp_path / "jupyterlab.png"))
    login = time.monotonic()
    cookies = alice_opens_jupyterlab(platform, hub, screenshot)
    timings["alice signs in → JupyterLab"] = time.monotonic() - login
    assert screenshot.stat().st_size > 10_000
    assert "success" in {e.outcome for e in audit_events(platform, "workspace.authorize")}

    output = run_in_kernel(f"{hub}user/alice/", cookies, KERNEL_CODE)
    assert "['snds-beneficiaries.parquet', 'snds-care.parquet'] 40000" in output
    assert "prescriber_id" not in output  # not permitted: not in the extract
    written = (workspace_root / "users" / "alice" / "outputs" / "nirs.txt").read_text()
    raw = set(synth.beneficiaries(2_000, seed=2025).column("nir").to_pylist())
    pseudonyms = set(written.split())
    assert len(pseudonyms) > 1_000 and pseudonyms.isdisjoint(raw)
    assert not any(nir in written for nir in list(raw)[:200])

    egress_at = time.monotonic()
    egress_from_the_workspace(platform, hub, cookies, project_id,
                              workspace_root / "users" / "alice" / "outputs",
                              tmp_path / "downloads")
    timings["egress: submit → review → release → download"] = time.monotonic() - egress_at

    extract_dir = platform.data / "objects" / "objects" / "projects" / project_id / "extracts"
    [saved] = [p for p in extract_dir.rglob("snds-care.parquet.enc")]
    ciphertext = saved.read_bytes()  # a copy kept before the end

    # the kill switch, through the CLI
    halt_at = time.monotonic()
    halted = subprocess.run(
        [sys.executable, "-c", "from spe.cli.main import app; app()", "project", "halt",
         project_id, "--reason", "e2e: suspected breach"], capture_output=True, text=True,
        env={**os.environ, "SPE_URL": platform.url, "SPE_TOKEN": platform.tokens["pm"]},
        timeout=60)
    assert halted.returncode == 0 and "suspended" in halted.stdout, halted.stderr
    wait_until(lambda: not processes.workspace_pids(workspace_root) and
               sends_to_closed_page(hub, project_id), 60,
               "servers and hub stopped after the halt")
    timings["halt → servers stopped, logins refused"] = time.monotonic() - halt_at
    alice = spe_browser_session(platform, "alice")
    authorize = alice.get(f"{platform.url}/oauth/authorize", params={
        "client_id": f"hub-{project_id}", "response_type": "code",
        "redirect_uri": f"{hub}hub/oauth_callback", "scope": "openid",
        "code_challenge": "x" * 43, "code_challenge_method": "S256"},
        follow_redirects=False)
    alice.close()
    assert "code=" not in authorize.headers.get("location", "")
    assert any(e.details.get("reason") and "suspended" in json.dumps(e.details)
               for e in audit_events(platform, "workspace.authorize")
               if e.outcome == "denied"), "the refused login is audited with its reason"

    # revocation: the hub goes, the data is shredded
    permit_id = platform.api("admin").get(f"/api/v1/projects/{project_id}").json()["permit_id"]
    assert pm.post(f"/api/v1/permits/{permit_id}/revoke",
                   json={"reason": "e2e: revoked"}).status_code == 200
    wait_until(lambda: audit_events(platform, "data.shred"), 60, "the data shredded")
    wait_until(lambda: not workspace_root.exists(), 30, "the workspace removed")
    assert not extract_dir.exists() or not any(extract_dir.rglob("*"))
    keys = LocalKeyStore(platform.data / "keys" / "data-keys",
                         kek_path=platform.data / "keys" / "kek.key")
    with pytest.raises(KeyDestroyed):
        keys.unwrap(project_id)
    with pytest.raises(WrongKeyError):  # any other key: the copy is unreadable for good
        DecryptingReader(io.BytesIO(ciphertext), b"\0" * 32).read()

    assert platform.stop() == 0
    assert processes_under(platform.data) == set(), "a workspace process survived"
    print("e2e timings (s):", {k: round(v, 1) for k, v in timings.items()})
