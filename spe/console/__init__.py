"""The web console: every role's work in a browser, served by the control plane.

Server-rendered pages (Jinja2, English and French), forms that work without JavaScript,
and two small modules of ours in ``static/`` (keyboard navigation between flagged cells;
the audit proof check). No script or style is inline, so the pages run under a strict
Content-Security-Policy. :func:`install` adds the pages, their static files, the offline
API documentation and HTML error pages for browsers to the application.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from spe.console import errors
from spe.console.routes import router

STATIC = Path(__file__).parent / "static"
SWAGGER_UI = Path(fastapi_offline.__file__).parent / "static"  # Swagger UI 5 (OpenAPI 3.1)


def install(app: FastAPI) -> None:
    """Mount the console on ``app`` (after its exception handlers are installed)."""
    app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")
    app.mount("/console/swagger", StaticFiles(directory=SWAGGER_UI),
              name="console-swagger")
    errors.install(app)
