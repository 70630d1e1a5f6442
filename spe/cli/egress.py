"""``spe egress``: submit outputs for review, check them locally, download a release.

``submit`` and ``download`` go through the API (``SPE_URL``/``SPE_TOKEN``; in a workspace the
hub provides a token scoped to its project, and ``SPE_PROJECT``). ``check`` is the SDC
engine's own command (:mod:`egress.cli`), run locally.
"""

from __future__ import annotations

import hashlib
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from egress import cli as sdc_cli
from egress.neutralise import neutralise_csv
from egress.release import verify_manifest
from spe.cli.client import ApiClient, print_json
from spe.crypto.signing import SignatureError

app = typer.Typer(help="Egress: submit outputs for review, check them, download releases.",
                  no_args_is_help=True)
app.command("check")(sdc_cli.check)
out = Console()
err = Console(stderr=True)


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
            err.print(f"[red]no such file or folder:[/] {path}")
            raise typer.Exit(3)
    return found


@app.command()
def submit(
    files: Annotated[list[Path], typer.Argument(help="Files or folders (e.g. an ACRO output "
                                                "folder) from your outputs.")],
    description: Annotated[list[str], typer.Option(
        help="What it is, how it was produced, which SDC was applied: one per FILE, or one "
        "for all.")],
    title: Annotated[str, typer.Option(help="A title for the request.")],
    project: Annotated[str, typer.Option(envvar=["SPE_PROJECT", "SPE_EGRESS_PROJECT"],
                                         help="Project id.")],
    url: Annotated[str | None, typer.Option(help="Control plane URL (SPE_URL).")] = None,
    token: Annotated[str | None, typer.Option(help="Bearer token (SPE_TOKEN).")] = None,
) -> None:
    """Submit FILES for output checking; prints the request as JSON."""
    if len(description) not in (1, len(files)):
        err.print(f"[red]give one --description per FILE ({len(files)}) or one for all[/]")
        raise typer.Exit(2)
    found = files_of(files)
    descriptions = [description[0 if len(description) == 1 else i] for _, _, i in found]
    client = ApiClient(url, token)
    with ExitStack() as stack:
        parts = [("files", (name, stack.enter_context(path.open("rb")),
                            "application/octet-stream")) for name, path, _ in found]
        response = client.request("POST", f"/api/v1/projects/{project}/egress-requests",
                         data={"title": title, "descriptions": descriptions}, files=parts)
    request = response.json()
    err.print(f"request {request['id']}: {request['status']}, "
              f"{len(request['files'])} file(s)", style="dim", highlight=False)
    print_json(request)


@app.command()
def download(
    release: Annotated[str, typer.Argument(help="Release id.")],
    public_key: Annotated[Path | None, typer.Option(
        "--public-key", envvar="SPE_RELEASE_PUBLIC_KEY",
        help="The release-signing public key (PEM), pinned: from the platform's operator, "
        "never fetched from the server whose release it verifies.")] = None,
    to: Annotated[Path, typer.Option(help="Folder to write the files to.")] = Path("."),
    url: Annotated[str | None, typer.Option(help="Control plane URL (SPE_URL).")] = None,
    token: Annotated[str | None, typer.Option(help="Personal token (SPE_TOKEN).")] = None,
) -> None:
    """Download a release: verify its signed manifest with the pinned key, then each file's
    sha256."""
    if public_key is None:
        err.print("[red]give the release-signing public key:[/] --public-key FILE (or "
                  "SPE_RELEASE_PUBLIC_KEY), as published by the platform's operator")
        raise typer.Exit(2)
    try:
        pem = public_key.read_bytes()
    except OSError as exc:
        err.print(f"[red]cannot read the public key {public_key}:[/] {exc.strerror}")
        raise typer.Exit(2) from exc
    client = ApiClient(url, token)
    found = client.request("GET", f"/api/v1/egress/releases/{release}").json()
    try:
        verify_manifest(found["manifest"], found["signature"], pem)
    except (SignatureError, ValueError) as exc:
        err.print(f"[red]the release manifest does not verify with the pinned key:[/] {exc}")
        raise typer.Exit(4) from exc
    request = client.request("GET", f"/api/v1/egress/requests/{found['request_id']}").json()
    ids = {f["name"]: f["id"] for f in request["files"]}
    for entry in found["manifest"]["files"]:
        data = client.request("GET", f"/api/v1/egress/releases/{release}/files/"
                     f"{ids[entry['name']]}?raw=true").content
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            err.print(f"[red]{entry['name']}: content does not match the manifest[/]")
            raise typer.Exit(4)
        target = to / entry["name"]
        target.parent.mkdir(parents=True, exist_ok=True)
        neutralised = 0
        if target.suffix.lower() == ".csv":
            data, neutralised = neutralise_csv(data)
        target.write_bytes(data)
        out.print(f"{entry['name']}  sha256 {entry['sha256'][:16]}…  verified"
                  + (f" ({neutralised} formula cells neutralised)" if neutralised else ""))
