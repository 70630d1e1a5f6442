"""Rendering a console page, and the CSRF check of its forms.

Every page is rendered here, in the reader's language, with what the layout needs: who is
signed in, which sections their roles open, and the session's CSRF token for the forms.
A form posted with a browser session must carry that token (field ``csrf``, or the API's
``X-CSRF-Token`` header); a caller
with a bearer token (the tests, scripts) is not exposed to cross-site requests and needs
none, as on the API.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader

from spe.api.deps import audit_denied
from spe.audit import Actor
from spe.auth.authenticate import bearer_token
from spe.auth.sessions import CSRF, SAFE_METHODS, USER
from spe.console import i18n
from spe.domain.principal import Principal
from spe.domain.roles import Role
from spe.errors import Forbidden
from spe.messages import Message

HERE = Path(__file__).parent
templates = Jinja2Templates(env=Environment(
    loader=FileSystemLoader(HERE / "templates"), autoescape=True,
    extensions=["jinja2.ext.i18n"]))
templates.env.install_gettext_callables(i18n.gettext_, i18n.ngettext_, newstyle=True)
templates.env.globals["LANGUAGES"] = i18n.LANGUAGES
templates.env.filters["number"] = i18n.number
templates.env.filters["say"] = i18n.say
templates.env.filters["rule"] = i18n.rule
templates.env.filters["rule_parameter"] = i18n.rule_parameter

# The sections of the console and the roles that open them (the API's own role sets).
SECTIONS = [
    ("review", "/console/review", frozenset({Role.output_checker})),
    ("permits", "/console/permits", frozenset({Role.admin, Role.permit_manager, Role.auditor})),
    ("datasets", "/console/datasets", frozenset({Role.admin, Role.data_steward,
                                                 Role.permit_manager, Role.auditor})),
    ("audit", "/console/audit", frozenset({Role.auditor, Role.admin})),
    ("users", "/console/users", frozenset({Role.admin, Role.permit_manager, Role.auditor})),
    ("tokens", "/console/tokens", frozenset(Role)),
]


def sections_for(principal: Principal | None) -> list[str]:
    if principal is None:
        return []
    return [name for name, _, roles in SECTIONS if principal.has_any(roles)]


def render(request: Request, template: str, principal: Principal | None = None,
           status: int = 200, **values: Any) -> HTMLResponse:
    language = i18n.language_of(request)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    context = {"principal": principal, "sections": sections_for(principal),
               "csrf": request.session.get(CSRF, "") if principal else "",
               "language": language, "here": quote(here, safe="/"), **values}
    with i18n.speaking(language):
        response = templates.TemplateResponse(request, template, context, status_code=status)
    response.headers["Content-Language"] = language
    response.headers["Vary"] = "Accept-Language, Cookie"
    return response


async def form_csrf(request: Request) -> None:
    """Refuse a state-changing form posted by a signed-in browser without its CSRF token."""
    if request.method in SAFE_METHODS or bearer_token(request) is not None:
        return
    data = request.scope.get("session") or {}
    if not data.get(USER):
        return  # not signed in: the route's access rule answers 401
    sent = request.headers.get("x-csrf-token") or (await request.form()).get("csrf")
    if not isinstance(sent, str) or not hmac.compare_digest(sent, data.get(CSRF, "")):
        reason = Message("missing or wrong CSRF token in the form")
        audit_denied(request, Actor.user(data[USER], None), reason)
        raise Forbidden(Message("{reason}; reload the page and try again", reason=reason),
                        code="auth.csrf")
