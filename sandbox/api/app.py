"""create_app: routers plus one error handler, so every error body is {"error": {code, message, detail}}."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox import __version__, console
from sandbox.api import audit, datasets, health, jobs, reviews, scenarios, sdc
from sandbox.api import disclosure as disclosure_api
from sandbox.api import metering as metering_api
from sandbox.api import products as products_api
from sandbox.api import users as users_api
from sandbox.api.access import AuditAccess
from sandbox.api.deps import UserDep
from sandbox.api.schemas import UserOut
from sandbox.errors import ErrorCode, SandboxError
from sandbox.runtime import Runtime
from sandbox.settings import Settings

log = logging.getLogger("sandbox.api")


def _error(code: ErrorCode, status: int, message: str, detail: object = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code.value, "message": message, "detail": detail}}, status_code=status
    )


class ContainErrors:
    """Outermost guard: refuses NUL characters in the URL, and turns any unhandled exception into a 500
    that logs the exception's type only.

    An `Exception` handler would not do: Starlette re-raises after it answers, and the server then
    logs the whole traceback, whose messages (a driver's statement parameters, an engine's cast
    error) can quote values. Here the exception stops.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        if "\x00" in scope["path"] or any("\x00" in k + v for k, v in parse_qsl(query)):
            response = _error(ErrorCode.invalid_request, 422, "The request is not valid: NUL in the URL.")
            await response(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            request_id = uuid.uuid4().hex[:12]
            log.error(
                "internal error %s on %s %s: %s",
                request_id,
                scope["method"],
                scope["path"],
                type(exc).__name__,
            )
            if not started:
                message = f"Internal error; logged with request id {request_id}."
                await _error(ErrorCode.internal, 500, message)(scope, receive, send)


def create_app(settings: Settings, *, dispatch: bool = True) -> FastAPI:
    """The API over one Runtime; `dispatch` runs queued jobs in this process (the embedded default)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = Runtime(settings)
        app.state.runtime = rt
        if dispatch:
            rt.start_dispatcher()
        try:
            yield
        finally:
            rt.close()

    app = FastAPI(
        title="Data sandbox",
        version=__version__,
        lifespan=lifespan,
        description="Raw data stays in the domain: usable, but not visible.",
    )

    @app.exception_handler(SandboxError)
    async def _sandbox_error(request: Request, exc: SandboxError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Pydantic echoes the offending input; only locations and error types leave.
        detail = [{"loc": [str(p) for p in e.get("loc", ())], "type": e.get("type")} for e in exc.errors()]
        fields = ", ".join(".".join(d["loc"]) for d in detail) or "request"
        return _error(ErrorCode.invalid_request, 422, f"The request is not valid: check {fields}.", detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return _error(ErrorCode.not_found, 404, "No such resource.")
        if exc.status_code == 405:
            return _error(ErrorCode.method_not_allowed, 405, "Method not allowed on this resource.")
        return _error(ErrorCode.invalid_request, 422, "The request could not be read.")

    app.add_middleware(AuditAccess)
    app.add_middleware(ContainErrors)  # added last: outermost

    app.include_router(sdc.router)  # before jobs: /v1/jobs/dry-run is not a job id
    app.include_router(products_api.router)  # early: routes match in order, and calls are the hot path
    for r in (datasets.router, scenarios.router, jobs.router, reviews.router, audit.router):
        app.include_router(r)
    app.include_router(health.router)
    console.install(app)
    app.include_router(metering_api.router)
    app.include_router(users_api.router)
    app.include_router(disclosure_api.router)

    @app.get("/v1/me", response_model=UserOut, tags=["users"])
    def me(user: UserDep) -> UserOut:
        return UserOut(id=user.id, name=user.name, roles=user.roles, unit=user.unit)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
