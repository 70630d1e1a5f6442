"""``spe egress``: the airlock from the command line, for each role.

Researchers: ``check`` (the SDC engine's own command, :mod:`egress.cli`, run locally),
``submit``, ``status``, ``list``, ``download``. Output checkers: ``queue``, ``show``,
``file``, ``vote``, ``return``, ``reject``, ``release``, ``revoke``. Everything but ``check``
goes through the API (``SPE_URL``/``SPE_TOKEN``; in a workspace the hub provides a token
scoped to its project, and ``SPE_PROJECT``).
"""

from __future__ import annotations

import hashlib
from contextlib import ExitStack
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from egress import cli as sdc_cli
from spe.cli.client import (
    EXIT_UNREACHABLE,
    EXIT_UNVERIFIED,
    EXIT_USAGE,
    ApiClient,
    Json,
    Token,
    Url,
    emit,
    fail,
    out,
)
from spe.cli.client import table as client_table

app = typer.Typer(help="Egress: check outputs, submit them for review, review them, download "
                       "releases.", no_args_is_help=True)
app.command("check")(sdc_cli.check)
Project = Annotated[str, typer.Option(envvar=["SPE_PROJECT", "SPE_EGRESS_PROJECT"],
                                      help="Project id (SPE_PROJECT; set in a workspace).")]
Comment = Annotated[str, typer.Option("--comment", "-c", help="Public: the requester sees "
                                                               "it.")]
STYLE = {"pass": "green", "review": "yellow", "fail": "red", "released": "green",
         "approved": "green", "rejected": "red", "revoked": "red",
         "changes_requested": "yellow", "withdrawn": "dim"}


class Decision(StrEnum):
    """A checker's vote (the API's ``spe.airlock.models.Decision``; a test keeps the two
    equal: importing the model would load the database layer at start-up)."""
    approve = "approve"
    request_changes = "request_changes"
    reject = "reject"


def files_of(paths: list[Path]) -> list[tuple[str, Path, int]]:
    """(name sent, local path, index of the argument it came from); a folder's files are
    sent as ``<folder>/<relative path>``."""
    found = []
    for index, path in enumerate(paths):
        if path.is_dir():
            found += [(f"{path.name}/{p.relative_to(path).as_posix()}", p, index)
                      for p in sorted(path.rglob("*")) if p.is_file()]
        elif path.is_file():
            found.append((path.name, path, index))
        else:
            raise fail(f"no such file or folder: {path}", "give files under outputs/, or "
                       "an ACRO output folder", EXIT_UNREACHABLE)
    return found


def _styled(value: str | None) -> str:
    return f"[{STYLE[value]}]{value}[/]" if value in STYLE else (value or "")


def _line(request: dict) -> str:
    parts = [f"request [bold]{request['id']}[/] {_styled(request['status'])}",
             f"{len(request['files'])} file(s)", f"project {request['project_id']}",
             f"“{request['title']}”"]
    if request.get("release_id"):
        parts.append(f"release {request['release_id']}")
    if request.get("status_comment"):
        parts.append(f"comment: {request['status_comment']}")
    return ", ".join(parts)


def _request_table(requests: list[dict]) -> None:
    if not requests:
        out.print("no requests")
        return
    table = client_table("id", "status", "project id", "requester", "title", "files", "updated")
    for r in requests:
        table.add_row(r["id"], _styled(r["status"]), r["project_id"], r["requester"],
                      r["title"], str(len(r["files"])), r["updated_at"][:16])
    out.print(table)


def _request_detail(request: dict) -> None:
    out.print(_line(request))
    table = client_table("file id", "name", "size", "check", "sha256", "votes", "description")
    for f in request["files"]:
        votes = f.get("votes")
        shown = ", ".join(f"{v['reviewer']}: {v['decision']}" for v in votes) if votes else ""
        if not votes and f.get("my_vote"):
            shown = f"mine: {f['my_vote']['decision']} (others hidden until complete)"
        table.add_row(f["id"], f["name"] + (" (checker only)" if f["checker_only"] else ""),
                      str(f["size"]), _styled(f["outcome"]), f["sha256"][:12] + "…", shown,
                      f["description"])
    out.print(table)
    if request["allowed_actions"]:
        out.print(f"you may: {', '.join(request['allowed_actions'])}", style="dim")


@app.command()
def submit(
    files: Annotated[list[Path], typer.Argument(help="Files or folders (e.g. an ACRO output "
                                                "folder) from your outputs.")],
    description: Annotated[list[str], typer.Option(
        help="What it is, how it was produced, which SDC was applied: one per FILE, or one "
        "for all.")],
    title: Annotated[str, typer.Option(help="A title for the request.")],
    project: Project, url: Url = None, token: Token = None, as_json: Json = False,
) -> None:
    """Submit FILES for output checking; prints the request's id and status."""
    if len(description) not in (1, len(files)):
        raise typer.BadParameter(f"give one --description per FILE ({len(files)}) or one "
                                 "for all", param_hint="--description")
    found = files_of(files)
    descriptions = [description[0 if len(description) == 1 else i] for _, _, i in found]
    client = ApiClient(url, token)
    with ExitStack() as stack:
        parts = [("files", (name, stack.enter_context(path.open("rb")),
                            "application/octet-stream")) for name, path, _ in found]
        response = client.request("POST", f"/api/v1/projects/{project}/egress-requests",
                                  data={"title": title, "descriptions": descriptions},
                                  files=parts)
    request = response.json()

    def human(r: dict) -> None:
        out.print(_line(r))
        out.print(f"follow it with: spe egress status {r['id']}", style="dim")
    emit(request, as_json, human)


@app.command()
def status(request: Annotated[str, typer.Argument(help="Request id.")],
           url: Url = None, token: Token = None, as_json: Json = False) -> None:
    """Where a request stands: status, the checkers' public comment, each file's check."""
    emit(ApiClient(url, token).call("GET", f"/egress/requests/{request}"), as_json,
         _request_detail)


@app.command("list")
def list_requests(project: Project, url: Url = None, token: Token = None,
                  as_json: Json = False) -> None:
    """A project's egress requests (researchers of the project)."""
    items = list(ApiClient(url, token).pages(f"/projects/{project}/egress-requests"))
    emit(items, as_json, _request_table)


@app.command()
def queue(
    status_: Annotated[list[str] | None, typer.Option(
        "--status", help="Only these statuses (repeat); default: awaiting review.")] = None,
    url: Url = None, token: Token = None, as_json: Json = False,
) -> None:
    """Requests across projects awaiting review (output checkers)."""
    params = {"status": status_} if status_ else None
    emit(list(ApiClient(url, token).pages("/egress/requests", params)), as_json,
         _request_table)


@app.command()
def show(request: Annotated[str, typer.Argument(help="Request id.")],
         url: Url = None, token: Token = None, as_json: Json = False) -> None:
    """One request with its files, check outcomes and (once complete) votes."""
    emit(ApiClient(url, token).call("GET", f"/egress/requests/{request}"), as_json,
         _request_detail)


def _file(request: dict, file: str) -> dict:
    found = [f for f in request["files"] if file in (f["id"], f["name"])]
    if not found:
        raise fail(f"request {request['id']} has no file {file!r}",
                   f"its files: {', '.join(f['name'] for f in request['files'])}")
    return found[0]


@app.command("file")
def file_content(
    request: Annotated[str, typer.Argument(help="Request id.")],
    file: Annotated[str, typer.Argument(help="File id or name.")],
    to: Annotated[Path, typer.Option(help="Folder to write it to.")] = Path("."),
    url: Url = None, token: Token = None,
) -> None:
    """Fetch a file under review from quarantine to read it (output checkers; audited)."""
    client = ApiClient(url, token)
    entry = _file(client.call("GET", f"/egress/requests/{request}"), file)
    data = client.request("GET", f"/api/v1/egress/requests/{request}/files/{entry['id']}"
                                 "/content").content
    digest = hashlib.sha256(data).hexdigest()
    target = to / entry["name"]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    out.print(f"{target}  sha256 {digest}")


@app.command()
def vote(
    request: Annotated[str, typer.Argument(help="Request id.")],
    file: Annotated[str, typer.Argument(help="File id or name.")],
    decision: Annotated[Decision, typer.Argument(help="Your decision.")],
    reviewed: Annotated[Path | None, typer.Option(
        help="The copy you reviewed (from `spe egress file`): its sha256 is sent, and the "
        "vote is refused if the file changed since.")] = None,
    sha256: Annotated[str | None, typer.Option(
        help="Or the sha256 of the content you reviewed.")] = None,
    comment: Annotated[str, typer.Option("--comment", "-c")] = "",
    justification: Annotated[str | None, typer.Option(
        help="Required to approve a file that failed the automated checks.")] = None,
    url: Url = None, token: Token = None, as_json: Json = False,
) -> None:
    """Vote on one file of a request (output checkers; blind until the file has all its
    votes). Approving needs --reviewed or --sha256: what you approve is what you read."""
    if reviewed is not None:
        try:
            sha256 = hashlib.sha256(reviewed.read_bytes()).hexdigest()
        except OSError as exc:
            raise typer.BadParameter(f"cannot read {reviewed}: {exc}",
                                     param_hint="--reviewed") from exc
    if decision is Decision.approve and sha256 is None:
        raise typer.BadParameter("to approve, give --reviewed FILE (the copy `spe egress "
                                 "file` fetched) or --sha256", param_hint="--reviewed")
    client = ApiClient(url, token)
    entry = _file(client.call("GET", f"/egress/requests/{request}"), file)
    body = {"decision": decision.value, "sha256": sha256 or entry["sha256"],
            "comment": comment, "justification": justification}
    result = client.call("POST", f"/egress/requests/{request}/files/{entry['id']}/votes",
                         body)

    def human(r: dict) -> None:
        out.print(f"voted {decision.value} on {entry['name']}; {_line(r)}")
    emit(result, as_json, human)


def _transition(action: str, doc: str):
    def command(request: Annotated[str, typer.Argument(help="Request id.")],
                comment: Comment, url: Url = None, token: Token = None,
                as_json: Json = False) -> None:
        result = ApiClient(url, token).call("POST", f"/egress/requests/{request}/{action}",
                                            {"comment": comment})
        emit(result, as_json, lambda r: out.print(_line(r)))

    command.__doc__ = doc
    return command


app.command("return")(_transition(
    "return", "Return a request to the researcher for changes (output checkers)."))
app.command("reject")(_transition("reject", "Reject a request (output checkers)."))


@app.command()
def release(request: Annotated[str, typer.Argument(help="Request id.")],
            url: Url = None, token: Token = None, as_json: Json = False) -> None:
    """Release an approved request: signed manifest, RO-Crate (output checkers)."""
    result = ApiClient(url, token).call("POST", f"/egress/requests/{request}/release")

    def human(r: dict) -> None:
        out.print(f"release [bold]{r['id']}[/] of request {r['request_id']}: "
                  f"{len(r['manifest']['files'])} file(s) signed by key {r['signing_key_id']}")
        out.print(f"the requester downloads it with: spe egress download {r['id']}",
                  style="dim")
    emit(result, as_json, human)


@app.command()
def revoke(release_id: Annotated[str, typer.Argument(metavar="RELEASE", help="Release id.")],
           comment: Comment, url: Url = None, token: Token = None,
           as_json: Json = False) -> None:
    """Revoke a release (an incident): downloads stop at once (output checkers, admins)."""
    result = ApiClient(url, token).call("POST", f"/egress/releases/{release_id}/revoke",
                                        {"comment": comment})
    emit(result, as_json, lambda r: out.print(f"release {r['id']} revoked: "
                                              f"{r['revoke_reason']}"))


@app.command()
def download(
    release_id: Annotated[str, typer.Argument(metavar="RELEASE", help="Release id.")],
    public_key: Annotated[Path | None, typer.Option(
        "--public-key", envvar="SPE_RELEASE_PUBLIC_KEY",
        help="The release-signing public key (PEM), pinned: from the platform's operator, "
        "never fetched from the server whose release it verifies.")] = None,
    to: Annotated[Path, typer.Option(help="Folder to write the files to.")] = Path("."),
    url: Url = None, token: Token = None,
) -> None:
    """Download a release: verify its signed manifest with the pinned key, then each file's
    sha256 (exit 4 if either does not match)."""
    from egress.neutralise import neutralise_csv
    from egress.release import verify_manifest
    from spe.crypto.signing import SignatureError

    if public_key is None:
        raise fail("give the release-signing public key: --public-key FILE (or "
                   "SPE_RELEASE_PUBLIC_KEY)", "as published by the platform's operator, kept apart "
                   "from the server (docs/egress.md)", EXIT_USAGE)
    try:
        pem = public_key.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read the public key {public_key}: {exc.strerror}",
                   code=EXIT_USAGE) from exc
    client = ApiClient(url, token)
    found = client.call("GET", f"/egress/releases/{release_id}")
    try:
        verify_manifest(found["manifest"], found["signature"], pem)
    except (SignatureError, ValueError) as exc:
        raise fail(f"the release manifest does not verify with the pinned key: {exc}",
                   "do not use these files; tell the output checkers",
                   EXIT_UNVERIFIED) from exc
    entries = found["manifest"]["files"]
    if not all("id" in entry for entry in entries):  # released before manifests held ids
        request = client.call("GET", f"/egress/requests/{found['request_id']}")
        ids = {f["name"]: f["id"] for f in request["files"]}
        entries = [{**entry, "id": ids[entry["name"]]} for entry in entries]
    for entry in entries:
        data = client.request("GET", f"/api/v1/egress/releases/{release_id}/files/"
                                     f"{entry['id']}?raw=true").content
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise fail(f"{entry['name']}: content does not match the signed manifest",
                       "do not use it; tell the output checkers", EXIT_UNVERIFIED)
        target = to / entry["name"]
        target.parent.mkdir(parents=True, exist_ok=True)
        neutralised = 0
        if target.suffix.lower() == ".csv":
            data, neutralised = neutralise_csv(data)
        target.write_bytes(data)
        out.print(f"{target}  sha256 {entry['sha256'][:16]}…  verified"
                  + (f" ({neutralised} formula cells neutralised)" if neutralised else ""),
                  style="dim")
    out.print(f"release {release_id}: {len(entries)} file(s) verified and written to {to}")
