"""Sign-in with a token, sign-out, the language switch and the home page."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from starlette.concurrency import run_in_threadpool

from sandbox import review
from sandbox.api.deps import RuntimeDep
from sandbox.auth import Role
from sandbox.console import i18n, sessions
from sandbox.console.web import ConsoleRoute, FormViewerDep, ViewerDep, is_, lang_of, render, see_other
from sandbox.errors import ErrorCode, SandboxError

router = APIRouter(route_class=ConsoleRoute)


def _cookie(response: Response, name: str, value: str, max_age: int, secure: bool) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path=sessions.PATH, httponly=True, samesite="strict", secure=secure
    )


def _signin_form(request: Request, rt: RuntimeDep, status: int = 200, error: str = "") -> Response:
    pre = secrets.token_urlsafe(32)
    response = render(request, "signin.html", None, status=status, pre=pre, error=error)
    _cookie(response, sessions.PRE_COOKIE, pre, 900, rt.settings.console_cookie_secure)
    return response


@router.get("/signin")
def signin_page(request: Request, rt: RuntimeDep) -> Response:
    return _signin_form(request, rt)


@router.post("/signin")
async def signin(
    request: Request, rt: RuntimeDep, token: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = ""
) -> Response:
    """The sign-in form is CSRF-checked by double submit: its hidden field must match its cookie."""
    pre = request.cookies.get(sessions.PRE_COOKIE, "")
    if not pre or not hmac.compare_digest(pre.encode(), csrf.encode()):
        raise SandboxError(ErrorCode.csrf_failed)
    try:
        session_id, _ = await run_in_threadpool(sessions.sign_in, rt, token.strip())
    except SandboxError as e:
        if e.code != ErrorCode.unauthenticated:
            raise
        t = i18n.translator(lang_of(request))
        return _signin_form(request, rt, 401, t("signin.invalid"))
    response = see_other(f"{sessions.PATH}/")
    _cookie(
        response,
        sessions.COOKIE,
        session_id,
        rt.settings.console_session_minutes * 60,
        rt.settings.console_cookie_secure,
    )
    response.delete_cookie(sessions.PRE_COOKIE, path=sessions.PATH)
    return response


@router.post("/signout")
def signout(request: Request, rt: RuntimeDep, viewer: FormViewerDep) -> Response:
    sessions.sign_out(rt, request.cookies.get(sessions.COOKIE, ""), viewer)
    response = see_other(f"{sessions.PATH}/signin")
    response.delete_cookie(sessions.COOKIE, path=sessions.PATH)
    return response


@router.get("/lang/{lang}")
def switch_language(lang: str, next: str = "/console/") -> Response:
    """A preference cookie only (no server-side state), so a plain link is enough."""
    target = next if next.startswith("/console") and not next.startswith("//") else "/console/"
    response = see_other(target)
    response.set_cookie(
        sessions.LANG_COOKIE, i18n.pick(lang), max_age=365 * 86400, path=sessions.PATH, samesite="lax"
    )
    return response


@router.get("/")
def home(request: Request, rt: RuntimeDep, viewer: ViewerDep) -> Response:
    pending = None
    if is_(viewer, Role.reviewer):
        pending = len(review.queue(rt, viewer.user, "pending", 200).items)
    return render(request, "home.html", viewer, pending=pending)
