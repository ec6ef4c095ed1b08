"""create_app: routers plus one error handler, so every error body is {"error": {code, message, detail}}."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sandbox import __version__
from sandbox.api import audit, datasets, jobs, reviews, scenarios
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
            return _error(ErrorCode.invalid_request, 405, "Method not allowed on this resource.")
        return _error(ErrorCode.invalid_request, exc.status_code, "The request could not be handled.")

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        request_id = uuid.uuid4().hex[:12]
        # The type only: messages from engines and drivers may quote data values.
        log.error(
            "internal error %s on %s %s: %s", request_id, request.method, request.url.path, type(exc).__name__
        )
        return _error(ErrorCode.internal, 500, f"Internal error; logged with request id {request_id}.")

    for r in (datasets.router, scenarios.router, jobs.router, reviews.router, audit.router):
        app.include_router(r)

    @app.get("/v1/me", response_model=UserOut, tags=["users"])
    def me(user: UserDep) -> UserOut:
        return UserOut(id=user.id, name=user.name, roles=user.roles, unit=user.unit)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
