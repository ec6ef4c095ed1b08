"""What every console page shares: templates, the signed-in viewer, CSRF checks and error pages.

Pages call the same service functions as the API with the session's user, so the role rules are the
services' own. A `SandboxError` becomes an HTML page with our message (never a JSON body here).
"""

from __future__ import annotations

import hmac
import importlib
import importlib.util
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from sandbox.api.deps import RuntimeDep
from sandbox.auth import Role, has_role
from sandbox.console import charts, highlight, i18n, sessions
from sandbox.console.sessions import Viewer
from sandbox.errors import ErrorCode, SandboxError

HERE = Path(__file__).parent
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class NeedsSignIn(Exception):
    """Raised by `signed_in` when there is no valid session: the page redirects to the sign-in form."""


def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True))
    env.globals.update(highlight_sql=highlight.render, bar_chart=charts.bar_chart, Role=Role)
    env.filters["cell"] = lambda v: f"{v:,.4f}".rstrip("0").rstrip(".") if isinstance(v, float) else v
    env.filters["when"] = lambda d: "" if d is None else d.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return env


def lang_of(request: Request) -> str:
    return i18n.pick(request.cookies.get(sessions.LANG_COOKIE))


def render(
    request: Request, template: str, viewer: Viewer | None = None, status: int = 200, **ctx: Any
) -> HTMLResponse:
    env: Environment = request.app.state.console_env
    lang = lang_of(request)
    roles = set(viewer.user.roles) if viewer else set()
    html = env.get_template(template).render(
        request=request,
        t=i18n.translator(lang),
        lang=lang,
        viewer=viewer,
        roles=roles,
        csrf=viewer.csrf if viewer else "",
        now=datetime.now(UTC),
        **ctx,
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def error_page(request: Request, code: ErrorCode, message: str, status: int) -> HTMLResponse:
    viewer = getattr(request.state, "viewer", None)
    return render(request, "error.html", viewer, status=status, code=code.value, message=message)


class ConsoleRoute(APIRoute):
    """Turns a missing session into a redirect to sign-in and our errors into an HTML page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except NeedsSignIn:
                return RedirectResponse(f"{sessions.PATH}/signin", status_code=303)
            except SandboxError as e:
                if "application/json" in request.headers.get("accept", ""):  # the console's own scripts
                    return JSONResponse(e.body(), status_code=e.status)
                return error_page(request, e.code, e.message, e.status)
            except (RequestValidationError, ValidationError) as e:
                errors = e.errors()
                fields = ", ".join(".".join(str(p) for p in err.get("loc", ())) for err in errors)
                invalid = SandboxError(ErrorCode.invalid_request, reason=f"check {fields or 'the form'}")
                if "application/json" in request.headers.get("accept", ""):
                    return JSONResponse(invalid.body(), status_code=422)
                return error_page(request, ErrorCode.invalid_request, invalid.message, 422)

        return guarded


def _viewer(request: Request, rt: Any) -> Viewer:
    viewer = sessions.lookup(rt, request.cookies.get(sessions.COOKIE))
    if viewer is None:
        raise NeedsSignIn()
    request.state.viewer = viewer
    return viewer


async def signed_in(request: Request, rt: RuntimeDep) -> Viewer:
    return await run_in_threadpool(_viewer, request, rt)


async def signed_form(request: Request, rt: RuntimeDep) -> Viewer:
    """A signed-in viewer whose form (field `csrf`) or request (header `X-CSRF-Token`) carries the
    session's CSRF token; every console POST depends on this."""
    viewer = await run_in_threadpool(_viewer, request, rt)
    token = request.headers.get("x-csrf-token")
    if token is None:
        token = (await request.form()).get("csrf")
    if not isinstance(token, str) or not hmac.compare_digest(token.encode(), viewer.csrf.encode()):
        raise SandboxError(ErrorCode.csrf_failed)
    return viewer


ViewerDep = Annotated[Viewer, Depends(signed_in)]
FormViewerDep = Annotated[Viewer, Depends(signed_form)]


def see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def is_(viewer: Viewer, *roles: Role) -> bool:
    return has_role(viewer.user, *roles)


def optional(module: str) -> ModuleType | None:
    """A service module another workstream adds (`sandbox.preview`, `sandbox.dryrun`), if present;
    the page shows its section only then."""
    return importlib.import_module(module) if importlib.util.find_spec(module) is not None else None
