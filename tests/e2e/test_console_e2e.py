"""The console in Chromium on a real ``spe up``: the checker's path, in English and French.

Alice (a personal token; no workspace needed to submit) sends two requests holding a CSV
with disclosive cells and an image. In Chromium (Playwright, Debian's /usr/bin/chromium):
alice sees them on Home; checker1 and checker2 open the queue and the request, where the
flagged cells are highlighted with their rule and reason and reached with the keyboard,
and the image is shown; they vote blind (the other's vote appears only at quorum) and
checker1 releases; alice downloads the released CSV from her request page, byte for byte.
The second request is reviewed the same way in French. Bob, signed in, sees none of it.
The permit manager suspends the permit from its page and alice's Home says why, in both
languages.

Every page is checked with axe-core (no serious or critical violation) and served under a
strict Content-Security-Policy added by the test (no violation may be reported), and a
form posted without its CSRF token is refused. Screenshots go to ``docs/console/``
(``SPE_CONSOLE_SCREENSHOTS`` elsewhere).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from pathlib import Path

import httpx
import pytest

from tests.console.conftest import FLAGGED_CSV, png
from tests.e2e.test_workspace_e2e import CHROMIUM_ARGS, Platform, wait_until

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = Path(os.environ.get("SPE_CONSOLE_SCREENSHOTS", ROOT / "docs" / "console"))
STRICT_CSP = "default-src 'self'; frame-ancestors 'none'"


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    up = Platform(tmp_path_factory.mktemp("console"))
    try:
        up.project_id = up.wait_for(r"project (p-[0-9a-f]+)", timeout=180)[1]
        up.wait_for(r"Kill switch:", timeout=60)
        wait_until(lambda: answers(f"{up.url}/healthz"), 60, "spe up listening")
        yield up
    finally:
        from controllers.runtimes.local import processes
        from tests.fixtures.workspaces import processes_under

        up.stop()
        processes.stop_pids(processes_under(up.data), timeout=5)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def submit(platform: Platform, title: str) -> dict:
    with platform.api("alice") as alice:
        response = alice.post(
            f"/api/v1/projects/{platform.project_id}/egress-requests",
            data={"title": title, "descriptions": ["Beneficiaries by overseas department"]},
            files=[("files", ("counts.csv", FLAGGED_CSV, "text/csv")),
                   ("files", ("figure.png", png(40, 30), "image/png"))])
    assert response.status_code == 201, response.text
    return response.json()


class Person:
    """One person's browser context: signed in, every response under a strict CSP,
    violations and accessibility problems collected."""

    def __init__(self, browser, platform: Platform, subject: str, locale: str = "en-GB"):
        self.url, self.subject = platform.url, subject
        self.context = browser.new_context(locale=locale, accept_downloads=True)
        self.violations: list[str] = []
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.violations.append(m.text)
                     if "Content Security Policy" in m.text else None)
        self.context.route(f"{platform.url}/**", self._strict)
        self.page.goto(f"{self.url}/auth/login")
        self.page.fill("input[name=token]", platform.tokens[subject])
        self.page.locator("form[action*=token-login] [type=submit]").click()
        self.page.wait_for_load_state()

    def _strict(self, route) -> None:
        if "/api/" in route.request.url:
            route.continue_()
            return
        response = route.fetch(max_redirects=0)
        headers = dict(response.headers)
        headers.setdefault("content-security-policy", STRICT_CSP)
        route.fulfill(response=response, headers=headers)

    def goto(self, path: str) -> None:
        self.page.goto(f"{self.url}{path}")
        self.page.wait_for_load_state()

    def check(self, shot: str | None = None) -> None:
        """No CSP violation so far; axe-core on the page as it is now; a screenshot."""
        assert self.violations == [], (self.page.url, self.violations)
        self.page.evaluate(AXE.read_text())
        result = self.page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        self.violations.clear()  # axe's own probes (inline styles it sets) are not the page's
        serious = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
                   for v in result["violations"] if v["impact"] in ("serious", "critical")]
        assert serious == [], f"{self.page.url}: {serious}"
        if shot:
            SHOTS.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(SHOTS / shot), full_page=True)

    def close(self) -> None:
        self.context.close()


def review(person: Person, request: dict, justification: str, shot: str | None,
           rules: tuple[str, str] = ("threshold", "zeros")) -> None:
    """Review a request's files; ``rules`` are the two flagged cells' rules as the page
    names them in the person's language."""
    person.goto("/console/review")
    person.page.get_by_role("link", name=request["title"]).click()
    person.page.wait_for_load_state()
    page = person.page
    assert page.locator("td[data-flag]").count() == 2
    page.locator("body").press("n")
    focused = page.evaluate("document.activeElement.matches('td[data-flag]') && "
                            "document.activeElement.textContent")
    assert focused and "3" in focused and rules[0] in focused
    page.locator("body").press("n")
    assert rules[1] in page.evaluate("document.activeElement.textContent")
    assert page.evaluate("document.querySelector('section[data-file] img').naturalWidth") == 40
    person.check(shot)
    for file in request["files"]:
        form = page.locator(f"#file-{file['id']} form.vote")
        form.locator("input[value=approve]").check()
        if form.locator("textarea[name=justification]").count():
            form.locator("textarea[name=justification]").fill(justification)
        form.locator("button[type=submit]").click()
        page.wait_for_load_state()


def test_checker_path_in_english_and_french(platform):
    from playwright.sync_api import sync_playwright

    english = submit(platform, "Overseas departments")
    french = submit(platform, "Départements d'outre-mer")
    csv = next(f for f in english["files"] if f["name"] == "counts.csv")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            walk(browser, platform, english, french, csv)
        finally:
            browser.close()


def walk(browser, platform, english: dict, french: dict, csv: dict) -> None:
    alice = Person(browser, platform, "alice")
    alice.goto("/")
    assert platform.project_id in alice.page.content()
    assert alice.page.get_by_role("link", name="Overseas departments").count() == 1
    alice.check("home.png")

    checker1 = Person(browser, platform, "checker1")
    checker2 = Person(browser, platform, "checker2")
    checker1.goto("/console/review")
    assert checker1.page.locator("tr.for-me").count() == 2
    checker1.check("queue.png")
    review(checker1, english, "971 and 973 are published by INSEE", "review.png")

    checker2.goto(f"/console/review/{english['id']}")
    assert "Other votes stay hidden" in checker2.page.content()
    assert "published by INSEE" not in checker2.page.content()
    review(checker2, english, "agreed: published figures", None)
    assert "published by INSEE" in checker2.page.content()  # quorum: the votes are shown
    checker1.goto(f"/console/review/{english['id']}")
    checker1.page.get_by_role("button", name="Release").click()
    checker1.page.wait_for_load_state()
    assert "Released as" in checker1.page.content()
    checker1.check("released.png")

    alice.goto(f"/console/requests/{english['id']}")
    alice.check("request.png")
    with alice.page.expect_download() as download:
        alice.page.locator(f"a[href$='/files/{csv['id']}']").click()
    data = Path(download.value.path()).read_bytes()
    assert hashlib.sha256(data).hexdigest() == csv["sha256"] and data == FLAGGED_CSV

    # the same review in French
    vérif1 = Person(browser, platform, "checker1", locale="fr-FR")
    vérif2 = Person(browser, platform, "checker2", locale="fr-FR")
    vérif1.goto("/console/review")
    assert "File de vérification" in vérif1.page.content()
    vérif1.check("queue-fr.png")
    review(vérif1, french, "publiés par l'INSEE", None, ("seuil", "zéros"))
    review(vérif2, french, "d'accord", "review-fr.png", ("seuil", "zéros"))
    assert "approuver" in vérif2.page.content()

    # a form without its CSRF token is refused
    alice.goto("/console/tokens")
    alice.page.evaluate("document.querySelector('form[action=\"/console/tokens\"] "
                        "input[name=csrf]').remove()")
    alice.page.get_by_role("button", name="Create a token").click()
    alice.page.wait_for_load_state()
    assert "missing or wrong CSRF token" in alice.page.content()

    # bob sees nothing of alice's project
    bob = Person(browser, platform, "bob")
    bob.goto("/")
    assert platform.project_id not in bob.page.content()
    assert "No permit names you." in bob.page.content()
    bob.goto(f"/console/requests/{english['id']}")
    assert "no project" in bob.page.content()
    bob.goto("/console/review")
    assert "needs one of the roles output_checker" in bob.page.content()
    bob.check()

    # the auditor finds alice's events by name; the proof is checked in the browser
    auditor = Person(browser, platform, "auditor")
    auditor.goto("/console/audit")
    auditor.page.fill("#person", "alice")
    auditor.page.fill("#action", "egress.request.submit")
    auditor.page.get_by_role("button", name="Search").click()
    auditor.page.wait_for_load_state()
    auditor.check("audit.png")
    auditor.page.locator("table.events th a").first.click()
    auditor.page.wait_for_load_state()
    if auditor.page.get_by_role("button", name="Sign a checkpoint now").count():
        auditor.page.get_by_role("button", name="Sign a checkpoint now").click()
        auditor.page.wait_for_load_state()
    auditor.page.wait_for_selector("#proof-status:not([data-state=pending])", timeout=15_000)
    assert auditor.page.get_attribute("#proof-status", "data-state") == "verified", \
        auditor.page.inner_text("#proof-status")
    auditor.check("audit-event.png")
    seq = auditor.page.get_attribute("#proof", "data-seq")

    def forged(route) -> None:  # a server lying about the checkpoint's signature
        proof = route.fetch().json()
        signature = bytearray(base64.b64decode(proof["checkpoint"]["signature"]))
        signature[0] ^= 1
        proof["checkpoint"]["signature"] = base64.b64encode(bytes(signature)).decode()
        route.fulfill(json=proof)

    auditor.page.route(f"**/api/v1/audit/events/{seq}/proof", forged)
    auditor.page.reload()
    auditor.page.wait_for_selector("#proof-status:not([data-state=pending])", timeout=15_000)
    assert auditor.page.inner_text("#proof-status") == \
        "NOT verified: the checkpoint's signature does not verify"
    with httpx.Client(base_url=platform.url, timeout=30, headers={
            "Authorization": f"Bearer {platform.tokens['auditor']}"}) as api:
        event = api.get(f"/api/v1/audit/events/{seq}").json()
    assert event["action"] == "egress.request.submit"
    assert event["target_id"] in (english["id"], french["id"])
    auditor.close()

    # the permit manager suspends the permit from its page: alice's Home says why
    pm = Person(browser, platform, "pm")
    pm.goto("/console/permits")
    pm.check("permits.png")
    pm.page.locator("table th a").first.click()
    pm.page.wait_for_load_state()
    pm.page.fill("#suspend-reason", "ethics committee review")
    pm.page.get_by_role("button", name="Suspend", exact=True).click()
    pm.page.wait_for_load_state()
    assert "ethics committee review" in pm.page.inner_text("table")  # the history
    pm.check("permit.png")
    pm.close()
    alice.goto("/")
    assert "You may not enter: the permit is suspended" in alice.page.content()
    assert "ethics committee review" in alice.page.content()
    alice.check("home-suspended.png")
    alice.page.get_by_role("link", name="Français").click()
    alice.page.wait_for_load_state()
    assert "Accès impossible : l\u2019autorisation est suspendue" in alice.page.content()

    # the steward uploads a source: a file that does not match is refused column by column
    steward = Person(browser, platform, "steward")
    steward.goto("/console/datasets")
    steward.check("datasets.png")
    steward.page.locator("table th a").first.click()
    steward.page.wait_for_load_state()
    steward.page.set_input_files("#source-file", files=[{
        "name": "wrong.csv", "mimeType": "text/csv", "buffer": b"not_a_variable\n1\n"}])
    steward.page.get_by_role("button", name="Upload").click()
    steward.page.wait_for_selector("text=The file was refused", timeout=30_000)
    assert not steward.page.url.endswith("/source")  # sent by upload.js, answered in place
    assert "<code>not_a_variable</code>" in steward.page.content()
    steward.check("dataset-refused.png")
    steward.close()

    # the API documentation works offline
    alice.goto("/docs")
    alice.page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
    assert "spe control plane" in alice.page.locator(".swagger-ui .info .title").inner_text()
    assert alice.violations == [], alice.violations
    for person in (alice, checker1, checker2, vérif1, vérif2, bob):
        person.close()


def test_sign_out_is_a_button(platform):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            alice = Person(browser, platform, "alice")
            alice.goto("/")
            alice.page.get_by_role("button", name="Sign out").click()
            alice.page.wait_for_load_state()
            assert re.search(r"/auth/login", alice.page.url)
            alice.goto("/")
            assert "/auth/login?next=%2F" in alice.page.url
        finally:
            browser.close()
