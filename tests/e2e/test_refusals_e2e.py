"""Refusals in words, where the person is: Chromium on the project's hub of a real ``spe up``.

Bob (not named in the permit), then alice after the permit is suspended, then alice after an
amendment removes her: each sees spe's page saying why, on the hub's address, instead of
JupyterHub's "400 : OAuth error" or a connection error. Alice's lab, left open in her tab,
gets there by itself (spe's lab extension reloads it) and never shows JupyterLab's "Server
unavailable... restart it?" dialog. Re-added, alice reaches her lab from her lab's URL
without an error page.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_workspace_e2e import CHROMIUM_ARGS, Platform, platform  # noqa: F401

pytestmark = pytest.mark.slow
LAB = "#jp-main-dock-panel"


def signed_in(browser, up: Platform, subject: str):
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.goto(f"{up.url}/auth/login")
    page.fill("input[name=token]", up.tokens[subject])
    page.locator("form[action*=token-login] [type=submit]").click()
    page.wait_for_load_state()
    return page


def sees(page, url: str, timeout: float = 120) -> str:
    """Open ``url`` until the page is spe's reason page or JupyterLab; which one."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            page.goto(url)
            page.wait_for_selector(f"#reason, {LAB}", timeout=60_000)
            return "reason" if page.locator("#reason").count() else "lab"
        except Exception:  # a hub restarting under our feet: try again
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def reason_until(page, url: str, words: str, timeout: float = 120) -> str:
    """Open ``url`` until spe's reason page shows (the change may take a reconcile pass)."""
    deadline = time.monotonic() + timeout
    while sees(page, url) != "reason" and time.monotonic() < deadline:
        time.sleep(2)
    text = page.locator("#reason").inner_text()
    assert words in text, text
    assert "OAuth error" not in page.content()
    return text


def _shown(page) -> str:
    try:
        if page.get_by_text("Server unavailable").count():
            return "dialog"
        return "reason" if page.locator("#reason").count() else "other"
    except Exception:  # the page navigating under our feet
        return "other"


def open_lab_ends_on_reason(page, words: str, timeout: float = 180) -> str:
    """Nobody touches the open lab: it must end on spe's reason page by itself, and JupyterHub's
    "Server unavailable" dialog must never show meanwhile."""
    assert page.locator(LAB).count(), "the lab is not open"
    deadline = time.monotonic() + timeout
    while (state := _shown(page)) != "reason":
        assert state != "dialog", "JupyterLab showed its 'Server unavailable' dialog"
        assert time.monotonic() < deadline, f"the open lab stayed at {page.url}"
        time.sleep(0.5)
    text = page.locator("#reason").inner_text()
    assert words in text, text
    return text


def healthy(hub: str) -> bool:
    try:
        return httpx.get(f"{hub}hub/health", timeout=5).status_code == 200
    except httpx.HTTPError:  # the closed page going, the hub starting
        return False


def test_each_refused_person_sees_why_on_the_hub(platform, tmp_path: Path):  # noqa: F811
    from playwright.sync_api import sync_playwright

    project_id = platform.wait_for(r"project (p-[0-9a-f]+)", timeout=120)[1]
    hub = platform.wait_for(r"workspace is ready:\S* (\S+)", timeout=240)[1]
    pm = platform.api("pm")
    permit = platform.api("admin").get(f"/api/v1/projects/{project_id}").json()["permit_id"]
    lab = f"{hub}user/alice/lab"

    def change(action: str, body: dict) -> None:
        response = pm.post(f"/api/v1/permits/{permit}/{action}", json=body)
        assert response.status_code == 200, response.text

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            bob = signed_in(browser, platform, "bob")
            reason_until(bob, f"{hub}hub/oauth_login?next=%2Fhub%2F",
                         "not named in this project's permit")
            assert bob.url.startswith(platform.url)  # spe's page, not the hub's error
            bob.screenshot(path=str(tmp_path / "bob.png"))

            alice = signed_in(browser, platform, "alice")
            assert sees(alice, f"{hub}hub/oauth_login?next=%2Fhub%2F") == "lab"

            change("suspend", {"reason": "e2e: suspected breach"})
            open_lab_ends_on_reason(alice, "the permit is suspended")
            assert "DEMO-SNDS-2025-001" in alice.content()  # her permit, and whom to ask
            alice.screenshot(path=str(tmp_path / "alice-suspended.png"))

            change("resume", {"reason": "e2e: cleared"})
            deadline = time.monotonic() + 120
            while not healthy(hub):
                assert time.monotonic() < deadline, "the hub did not come back"
                time.sleep(1)
            assert sees(alice, lab) == "lab"  # resumed: her lab again, left open below
            change("amend", {"members": ["bob"], "principal_investigator": "bob",
                             "reason": "e2e: alice leaves"})
            open_lab_ends_on_reason(alice, "not named in this project's permit")
            alice.screenshot(path=str(tmp_path / "alice-removed.png"))

            change("amend", {"members": ["alice", "bob"], "principal_investigator": "alice",
                             "reason": "e2e: alice is back"})
            deadline = time.monotonic() + 180
            while sees(alice, lab) != "lab":
                assert time.monotonic() < deadline, "alice, re-added, never reached her lab"
                time.sleep(2)
            assert re.search(r"/user/alice/lab", alice.url)
        finally:
            browser.close()
