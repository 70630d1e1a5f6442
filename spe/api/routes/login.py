"""Browser sign-in: the page, sign-in with a personal token, sign-out.

Sign-in with the institution's OpenID provider lives under ``/auth/oidc/`` when configured.
A token sign-in opens a session carrying the token owner's MFA status, so the embedded
platform (no identity provider) still lets the demo researcher open their workspace.
"""

import hmac
import secrets
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from spe.api import changes
from spe.api.deps import SessionDep, allow_browser
from spe.audit import Actor, record
from spe.auth.redirects import safe_next
from spe.auth.sessions import CSRF, close_session, open_session
from spe.auth.tokens import find_valid
from spe.domain.principal import Principal
from spe.domain.users import User
from spe.errors import Forbidden
from spe.messages import Message

router = APIRouter(prefix="/auth", tags=["sign-in"])
templates = Jinja2Templates(directory=Path(__file__).parent.parent / "templates")
Browser = Annotated[Principal | None, allow_browser()]
LOGIN_CSRF = "login_csrf"


def _page(request: Request, next_url: str, error: str | None = None, status: int = 200):
    csrf = request.session.setdefault(LOGIN_CSRF, secrets.token_urlsafe(24))
    return templates.TemplateResponse(request, "login.html", {
        "next": next_url, "csrf": csrf, "error": error,
        "oidc": getattr(request.app.state, "oidc", None) is not None}, status_code=status)


@router.get("/login", response_class=HTMLResponse, summary="The sign-in page")
def login_page(request: Request, _: Browser, next: str = "/") -> HTMLResponse:
    return _page(request, safe_next(next) or "/")


HTML = {"content": {"text/html": {}}}


@router.post("/token-login", summary="Sign in with a personal API token",
             response_class=RedirectResponse, status_code=303,
             responses={303: {"description": "Signed in: on to `next`"},
                        400: {"description": "The form expired (the sign-in page again)", **HTML},
                        401: {"description": "The token is not valid (the sign-in page "
                              "again)", **HTML}})
def token_login(request: Request, session: SessionDep, _: Browser,
                token: Annotated[str, Form(max_length=200)],
                csrf: Annotated[str, Form(max_length=100)],
                next: Annotated[str, Form(max_length=2000)] = "/"):
    expected = request.session.get(LOGIN_CSRF, "")
    target = safe_next(next) or "/"
    with changes.run(session, None, "auth.login", "user") as step:
        if not expected or not hmac.compare_digest(csrf, expected):
            step.refuse("auth.csrf", "the sign-in form expired")
            return _page(request, target, "The form expired; please try again.", 400)
        found = find_valid(session, token.strip())
        user = session.get(User, found.user_id) if found and found.user_id else None
        if user is None or not user.active or found.project_id is not None:
            step.refuse("auth.invalid_token", "token sign-in with a token that is not valid")
            return _page(request, target, "That token is not valid.", 401)
        open_session(request, user, via="token", mfa=found.mfa)
        record(session, action="auth.login", actor=Actor.user(user.id, None),
               target_type="user", target_id=user.id, details={"method": "token",
                                                               "mfa": found.mfa})
    return RedirectResponse(target, 303)


@router.post("/logout", summary="End this browser session", status_code=303,
             response_class=RedirectResponse,
             responses={303: {"description": "Signed out: on to the sign-in page"},
                        403: {"description": "Missing or wrong CSRF token"}})
def logout(request: Request, session: SessionDep, principal: Browser,
           csrf: Annotated[str, Form(max_length=100)] = ""):
    with changes.run(session, principal, "auth.logout", "user",
                     principal.user_id if principal else None):
        if principal is not None and \
                not hmac.compare_digest(csrf, request.session.get(CSRF, "")):
            raise Forbidden(Message("missing or wrong CSRF token: sign out with the button "
                                    "of a page"),
                            code="auth.csrf")
        close_session(request)
        if principal is not None:
            record(session, action="auth.logout", actor=principal.actor(), target_type="user",
                   target_id=principal.user_id)
    return RedirectResponse("/auth/login", 303)
