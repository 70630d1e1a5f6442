"""The API as a FastAPI application: middleware, error handling and the routers.

The application a server runs is :func:`spe.web.create_app`, which adds the console."""

from __future__ import annotations

import logging
import re
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from spe import context, telemetry
from spe.airlock.janitor import staging_sweeper
from spe.api import denials, openapi
from spe.api.body_limit import JsonTooLarge
from spe.api.deps import allow_browser
from spe.api.input_guard import InputGuard
from spe.api.routes import ROUTERS
from spe.api.security_headers import SecurityHeaders
from spe.auth.authenticate import personal_token
from spe.auth.oidc import (
    BearerAuthenticator,
    OidcConfig,
    OpenIdProvider,
    TokenValidator,
    login_router,
)
from spe.auth.provisioning import login_handler, provider_token
from spe.auth.session_middleware import ServerSessionMiddleware
from spe.auth.sessions import DatabaseSessionStore, session_cookie
from spe.db import RETRY_AFTER_SECONDS, UNAVAILABLE
from spe.errors import SpeError
from spe.platform import ApiPlatform
from spe.settings import Settings, get_settings
from spe.storage import StorageUnavailable

log = logging.getLogger("spe.api")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def create_api(settings: Settings | None = None, engine: Engine | None = None,
               oidc: OidcConfig | None = None, platform: ApiPlatform | None = None) -> FastAPI:
    """The API over ``platform``, its composition root (default: built here, once, from
    ``settings`` and ``engine``). ``oidc`` (default: from ``SPE_OIDC_*`` when
    ``SPE_OIDC_ISSUER`` is set) turns on sign-in through the institution's provider and its
    access tokens."""
    platform = platform or ApiPlatform.build(settings or get_settings(), engine)
    settings = platform.settings
    telemetry.configure(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        sweeper = staging_sweeper(app.state.engine, settings).start()  # crash debris
        yield
        sweeper.stop()
        denials.write(app.state.engine, app.state.denials.take())  # counts not yet written

    app = FastAPI(
        lifespan=lifespan,
        docs_url=None, redoc_url=None,  # /docs is the console's, served offline
        title="spe control plane",
        version="0.1.0",
        description="Permits, projects, datasets and their audit trail. Every route states "
        "who may call it; errors are `{\"error\": {\"code\", \"message\"}}`.",
        dependencies=[InputGuard],  # first on every route: input the databases cannot hold
        max_body_size=settings.api.max_body_bytes,  # per route: spe.api.body_limit
    )
    app.state.platform = platform  # routes take its parts: spe.api.platform
    app.state.engine = platform.engine  # for the layers below, which know no platform
    app.state.authenticators = [personal_token, session_cookie]
    app.state.denials = denials.DenialBudget(settings.audit.anonymous_denials_per_minute)
    app.state.oidc = oidc or (OidcConfig() if settings.auth.oidc_issuer else None)
    for router in ROUTERS:
        app.include_router(router)
    if app.state.oidc is not None:
        _install_oidc(app, app.state.oidc)
    _install_middleware(app)
    app.add_middleware(ServerSessionMiddleware, store=DatabaseSessionStore(app.state.engine),
                       secure=settings.auth.secure_cookies,
                       max_age_seconds=int(settings.auth.session_lifetime_hours * 3600))
    _wrap_stack(app, JsonTooLarge, SecurityHeaders)
    _install_error_handlers(app)
    openapi.install(app)
    return app


def _wrap_stack(app: FastAPI, *middleware) -> None:
    """Put ``middleware`` around the whole stack, outside Starlette's server error and body
    limit middleware, so the responses those send themselves pass through it too."""
    build = app.build_middleware_stack

    def build_wrapped():
        stack = build()
        for wrapper in middleware:
            stack = wrapper(stack)
        return stack

    app.build_middleware_stack = build_wrapped


def _install_oidc(app: FastAPI, config: OidcConfig) -> None:
    validator = TokenValidator(OpenIdProvider(config))
    app.state.authenticators.append(provider_token(BearerAuthenticator(validator)))
    app.include_router(login_router(validator, login_handler(app.state.engine),
                                    prefix="/auth/oidc", dependencies=[allow_browser()]))


def _install_middleware(app: FastAPI) -> None:
    @app.middleware("http")
    async def request_context(request: Request, call_next):
        incoming = request.headers.get("x-request-id", "")
        client = request.client.host if request.client else None
        with telemetry.tracer().start_as_current_span(
            f"{request.method} {request.url.path}",
            attributes={"http.request.method": request.method, "url.path": request.url.path},
        ) as span:
            ctx = context.RequestContext(trace_id=telemetry.current_trace_id(),
                                         client_addr=client)
            if REQUEST_ID.match(incoming):
                ctx = context.RequestContext(request_id=incoming, trace_id=ctx.trace_id,
                                             client_addr=client)
            span.set_attribute("spe.request_id", ctx.request_id)
            started = time.perf_counter()
            with context.bound(ctx):
                response = await call_next(request)
            route = request.scope.get("route")
            if route is not None:  # name spans by route template, not by raw path
                span.update_name(f"{request.method} {route.path}")
                span.set_attribute("http.route", route.path)
            span.set_attribute("http.response.status_code", response.status_code)
            response.headers["X-Request-ID"] = ctx.request_id
            if ctx.trace_id:
                response.headers["X-Trace-ID"] = ctx.trace_id
            log.info("%s %s %s %.1fms", request.method, request.url.path,
                     response.status_code, (time.perf_counter() - started) * 1000)
            return response


def error_body(code: str, message: str, details=None) -> dict:
    error = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error}


def _install_error_handlers(app: FastAPI) -> None:
    async def unavailable(_request: Request, exc: Exception):
        """The database or the object store cannot serve: nothing was acknowledged (the
        transaction rolled back), the client may retry."""
        what = "storage" if isinstance(exc, StorageUnavailable) else "database"
        log.warning("%s unavailable: %s", what, type(getattr(exc, "orig", exc)).__name__)
        return JSONResponse(error_body(f"{what}.unavailable", f"the {what} is unavailable; "
                                       "retry shortly"), 503,
                            headers={"Retry-After": str(RETRY_AFTER_SECONDS)})

    for error in (*UNAVAILABLE, StorageUnavailable):
        app.add_exception_handler(error, unavailable)

    @app.exception_handler(SpeError)
    async def spe_error(_request: Request, exc: SpeError):
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(error_body(exc.code, exc.message, exc.details), exc.status,
                            headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError):
        # Never echo the submitted values back: they may be secrets or personal data.
        details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""),
                    "type": e.get("type", "")} for e in exc.errors()]
        first = details[0] if details else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"][1:]) or "request"
        return JSONResponse(error_body("validation_error", f"{where}: {first['msg']}",
                                       details), 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException):
        if exc.status_code == 413:
            return JSONResponse(error_body("request.too_large", "the request body is over "
                                           "this route's limit"), 413)
        return JSONResponse(error_body(f"http_{exc.status_code}", str(exc.detail)),
                            exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal_error", "internal error; the request id "
                                       "identifies it in the server log"), 500)
