"""Running the control plane: ``spe serve`` (the API) and ``spe up`` (the embedded platform)."""

from __future__ import annotations

import logging

import uvicorn
from rich.console import Console

from spe.api.app import create_app
from spe.db import get_engine
from spe.db.migrations import upgrade
from spe.settings import get_settings

out = Console()


def run(host: str | None = None, port: int | None = None) -> None:
    settings = get_settings()
    engine = get_engine()
    if settings.resolved_database_url.startswith("sqlite"):
        upgrade(engine)  # the embedded default migrates itself; production runs `spe db upgrade`
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    uvicorn.run(create_app(settings, engine), host=host or settings.host,
                port=port or settings.port, log_level="warning")


def run_embedded(host: str | None = None, port: int | None = None, demo: bool = True) -> None:
    settings = get_settings()
    engine = get_engine()
    upgrade(engine)
    if demo:
        from spe.demo import load_demo

        tokens = load_demo(engine)
        url = f"http://{host or settings.host}:{port or settings.port}"
        out.print(f"\n[bold]spe is starting at {url}[/]  (data in {settings.data_dir.resolve()})")
        out.print("Demo tokens (valid 7 days); use them as `Authorization: Bearer …`:")
        for subject, (role, secret) in tokens.items():
            out.print(f"  {subject:<10} {role:<15} {secret}", highlight=False)
        alice = tokens["alice"][1]
        out.print(f"\nTry:  curl -H 'Authorization: Bearer {alice}' {url}/api/v1/projects",
                  highlight=False)
        out.print(f"API docs: {url}/docs\n")
    run(host=host, port=port)
