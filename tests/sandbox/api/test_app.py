"""The app's outer guard: an unhandled exception becomes a 500 that logs its type only."""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import FastAPI

from sandbox.api.app import ContainErrors

SECRET = "SECRET-VALUE-3141"


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError(f"Could not convert string '{SECRET}' to INT32")

    app.add_middleware(ContainErrors)
    return app


@pytest.mark.anyio
async def test_unhandled_exception_is_contained_and_logged_without_its_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    transport = httpx.ASGITransport(app=_app())  # re-raising would surface here as an exception
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        r = await client.get("/boom")
        nul = await client.get("/boom", params={"cursor": "\x00"})
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal"
    assert SECRET not in r.text
    assert "RuntimeError" in caplog.text and SECRET not in caplog.text
    assert nul.status_code == 422 and nul.json()["error"]["code"] == "invalid_request"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
