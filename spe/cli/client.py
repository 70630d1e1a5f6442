"""The API client of the commands that act as a person (``spe permit …``, ``spe egress …``).

Those commands go through the API like any other caller, so the same role checks, audit and
validation apply. ``SPE_URL`` and ``SPE_TOKEN`` (or ``--url``/``--token``) say where and who;
in a workspace the hub provides ``SPE_EGRESS_URL``/``SPE_EGRESS_TOKEN`` instead.

Output: a human line or table on stdout by default, ``--json`` for machines; errors on
stderr with what to do next. Exit codes (docs/cli.md): 0 done, 1 refused by the control
plane, 2 usage (bad option, no token), 3 control plane unreachable or a local file missing,
4 a verification failed (a signature or a hash).

Start-up matters (every command pays it): this module imports only typer at load; rich loads
when something is printed, httpx when a client is made.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from spe.cli.output import LazyConsole

if TYPE_CHECKING:
    import httpx
    from rich.table import Table

DEFAULT_URL = "http://127.0.0.1:8000"
"""Where ``spe up`` and ``spe serve`` listen by default (``SPE_PORT``); ``spe up`` prints the
``export SPE_URL=…`` line to use when it listens elsewhere."""
EXIT_REFUSED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_UNVERIFIED = 1, 2, 3, 4

Url = Annotated[str | None, typer.Option(envvar="SPE_URL", show_default=False,
                                         help=f"Control plane URL [default: {DEFAULT_URL}].")]
Token = Annotated[str | None, typer.Option(envvar="SPE_TOKEN", help="Bearer token.",
                                           show_default=False)]
Json = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts) instead of a "
                                                   "summary.")]
out = LazyConsole(highlight=False)
err = LazyConsole(stderr=True, highlight=False)

HINTS = {
    401: "your token is missing, expired or revoked: create one with `spe token create` on "
         "the control-plane host, or in the console under My tokens",
    403: "your roles do not allow this: ask an administrator (`spe token create --role …`) "
         "or the permit manager",
    404: "check the id (the `list` command of the same group shows them)",
    409: "the current state does not allow it: look at it again (`show`, `status`)",
    413: "the upload is larger than the policy pack allows",
    422: "fix the input named above and run the command again",
}


def fail(message: str, hint: str | None = None, code: int = EXIT_REFUSED) -> typer.Exit:
    """Print an error (and what to do next) on stderr; return the ``Exit`` to raise."""
    err.print(f"[red]error:[/] {message}")
    if hint:
        err.print(f"  {hint}", style="dim")
    return typer.Exit(code)


class ApiClient:
    def __init__(self, url: str | None = None, token: str | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        import httpx

        self.url = (url or os.environ.get("SPE_URL") or os.environ.get("SPE_EGRESS_URL")
                    or DEFAULT_URL).rstrip("/")
        token = token or os.environ.get("SPE_TOKEN") or os.environ.get("SPE_EGRESS_TOKEN")
        if not token:
            raise fail("no token", "set SPE_TOKEN or pass --token (`spe up` prints one per demo "
                       "user; `spe token create` makes one)", EXIT_USAGE)
        self.http = httpx.Client(base_url=self.url, transport=transport, timeout=30,
                                 headers={"Authorization": f"Bearer {token}"})

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        """Send a request; an error answer or no answer ends the command with its reason."""
        import httpx

        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise fail(f"cannot reach the control plane at {self.url}: {exc}",
                       "is it running? Set SPE_URL (or --url) to where it listens",
                       EXIT_UNREACHABLE) from exc
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                message = f"{response.status_code} {error['code']}: {error['message']}"
            except (ValueError, KeyError, TypeError):
                message = f"{response.status_code}: {response.text[:500]}"
            raise fail(message, HINTS.get(response.status_code))
        return response

    def call(self, method: str, path: str, body: Any | None = None,
             params: dict | None = None) -> Any:
        """JSON in and out of ``/api/v1{path}``."""
        response = self.request(method, f"/api/v1{path}", json=body, params=params)
        return None if response.status_code == 204 else response.json()

    def pages(self, path: str, params: dict | None = None) -> Iterator[dict]:
        """Every item of a paginated list (``{"items", "next"}``)."""
        cursor = None
        while True:
            page = self.call("GET", path, params={**(params or {}), "limit": 200,
                                                  **({"cursor": cursor} if cursor else {})})
            yield from page["items"]
            if not (cursor := page["next"]):
                return


def load_file(path: Path) -> dict:
    """A request body from a YAML or JSON file; YAML dates and times become ISO strings."""
    import yaml  # loads only for the commands that read files

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise typer.BadParameter(f"{path} does not hold a mapping of fields")
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in data.items()}


def table(*headers: str) -> Table:
    """A rich table whose ``id`` columns (ending in "id") are never cut: they are what the
    next command takes."""
    from rich.table import Column, Table

    return Table(*(Column(h, no_wrap=True, min_width=12) if h.endswith("id") else h
                   for h in headers))


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def emit(data: Any, as_json: bool, human: Callable[[Any], None]) -> None:
    """``data`` as JSON for machines, else as ``human`` prints it."""
    if as_json:
        print_json(data)
    else:
        human(data)
