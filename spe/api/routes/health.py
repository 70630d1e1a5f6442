"""Liveness and readiness probes."""

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from spe.api.deps import allow_anyone
from spe.migrations import pending_migrations

router = APIRouter(tags=["health"])
Anyone = Annotated[None, allow_anyone()]


@router.get("/healthz", summary="The process is up")
def healthz(_: Anyone) -> dict:
    return {"status": "ok"}


@router.get("/readyz", summary="The database is reachable and its schema is current")
def readyz(request: Request, _: Anyone):
    engine = request.app.state.engine
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        pending = pending_migrations(engine)
    except Exception as exc:  # any failure to reach the database means not ready
        return JSONResponse({"status": "unavailable", "reason":
                             f"database unreachable: {type(exc).__name__}"}, 503)
    if pending:
        return JSONResponse({"status": "unavailable",
                             "reason": f"{len(pending)} migration(s) pending: run "
                             "`spe db upgrade`"}, 503)
    return {"status": "ready"}
