"""The web application a server runs: the API, and the console over it."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from spe import console
from spe.api.app import create_api
from spe.auth.oidc import OidcConfig
from spe.platform import ApiPlatform
from spe.settings import Settings


def create_app(settings: Settings | None = None, engine: Engine | None = None,
               oidc: OidcConfig | None = None, platform: ApiPlatform | None = None) -> FastAPI:
    """The API (:func:`spe.api.app.create_api`, over its composition root ``platform``,
    built once) with the console's pages mounted on it."""
    app = create_api(settings, engine, oidc, platform)
    console.install(app)
    return app
