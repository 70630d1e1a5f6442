"""``/docs``: Swagger UI from the ``fastapi-offline`` package, served by spe itself (no
CDN, so it works offline) and started by a module of ours (no inline script)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from spe.api.deps import allow_anyone
from spe.console.web import templates

router = APIRouter()


@router.get("/docs", response_class=HTMLResponse, summary="The API's interactive documentation")
def api_docs(request: Request, _: Annotated[None, allow_anyone()]) -> HTMLResponse:
    return templates.TemplateResponse(request, "swagger.html", {})
