"""A small API client for the commands that act as a person (``spe permit …``).

Those commands go through the API like any other caller, so the same role checks, audit and
validation apply. ``SPE_URL`` and ``SPE_TOKEN`` (or ``--url``/``--token``) say where and who.
"""

from __future__ import annotations

import json
import os
from typing import Any

import httpx
import typer
from rich.console import Console

err = Console(stderr=True)


class ApiClient:
    def __init__(self, url: str | None = None, token: str | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        # in a workspace the hub provides SPE_EGRESS_* (a token for this user and project)
        url = url or os.environ.get("SPE_URL") or os.environ.get("SPE_EGRESS_URL") \
            or "http://127.0.0.1:8000"
        token = token or os.environ.get("SPE_TOKEN") or os.environ.get("SPE_EGRESS_TOKEN")
        if not token:
            err.print("[red]no token:[/] set SPE_TOKEN or pass --token "
                      "(create one with `spe token create`)")
            raise typer.Exit(2)
        self.http = httpx.Client(base_url=url.rstrip("/"), transport=transport, timeout=30,
                                 headers={"Authorization": f"Bearer {token}"})

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        """Send a request; an error answer or no answer ends the command with its reason."""
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            err.print(f"[red]cannot reach the control plane:[/] {exc}")
            raise typer.Exit(3) from exc
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                err.print(f"[red]{response.status_code} {error['code']}:[/] {error['message']}")
            except (ValueError, KeyError):
                err.print(f"[red]{response.status_code}:[/] {response.text[:500]}")
            raise typer.Exit(1)
        return response

    def call(self, method: str, path: str, body: Any | None = None,
             params: dict | None = None) -> Any:
        """JSON in and out of ``/api/v1{path}``."""
        response = self.request(method, f"/api/v1{path}", json=body, params=params)
        return None if response.status_code == 204 else response.json()


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
