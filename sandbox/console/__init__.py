"""The web console: server-rendered pages over the same services as the API, in the same process.

`install(app)` adds the pages under /console and their static files; nothing here decides a rule.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from sandbox.console.web import HERE, environment

PREFIX = "/console"


def page_routers() -> list[APIRouter]:
    from sandbox.console.pages import account, admin, datasets, jobs, reviews, scenarios

    return [m.router for m in (account, reviews, jobs, scenarios, datasets, admin)]


def router() -> APIRouter:
    r = APIRouter(prefix=PREFIX, include_in_schema=False)
    for pages in page_routers():
        r.include_router(pages)
    return r


def install(app: FastAPI) -> None:
    app.state.console_env = environment()
    app.include_router(router())
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")
