"""Public disclosure, no sign-in: `GET /v1/public/disclosure` (JSON) and `GET /disclosure` (HTML)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from sandbox import disclosure
from sandbox.api.deps import RuntimeDep

router = APIRouter(tags=["disclosure"])
TEMPLATES = Path(__file__).resolve().parent.parent / "console" / "templates"
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))


@router.get("/v1/public/disclosure", response_model=disclosure.DisclosureOut)
def public_disclosure(rt: RuntimeDep) -> disclosure.DisclosureOut:
    return disclosure.build(rt)


@router.get("/disclosure", response_class=HTMLResponse, include_in_schema=False)
def disclosure_page(rt: RuntimeDep) -> HTMLResponse:
    return HTMLResponse(_env.get_template("disclosure.html").render(d=disclosure.build(rt)))
