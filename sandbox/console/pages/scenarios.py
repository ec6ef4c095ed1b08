"""Scenario pages: apply (operator), status and budget over time, approve / reject / revoke (admin)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from sandbox import datasets, jobs, ledger, scenarios
from sandbox.api.deps import RuntimeDep
from sandbox.api.schemas import DecisionIn, ScenarioIn
from sandbox.console import charts
from sandbox.console.i18n import translator
from sandbox.console.web import ConsoleRoute, FormViewerDep, ViewerDep, lang_of, render, see_other
from sandbox.errors import ErrorCode, SandboxError

router = APIRouter(route_class=ConsoleRoute)
ACTIONS = {"approve": scenarios.approve, "reject": scenarios.reject, "revoke": scenarios.revoke}


def _list(
    request: Request, rt: RuntimeDep, viewer: ViewerDep, error: str = "", status: int = 200
) -> Response:
    page = scenarios.list_(rt, viewer.user, 200)
    catalogue = datasets.list_(rt, viewer.user, 200).items
    return render(
        request,
        "scenarios.html",
        viewer,
        status=status,
        scenarios=page.items,
        catalogue=catalogue,
        error=error,
    )


@router.get("/scenarios")
def list_scenarios(request: Request, rt: RuntimeDep, viewer: ViewerDep) -> Response:
    return _list(request, rt, viewer)


@router.post("/scenarios")
async def apply(request: Request, rt: RuntimeDep, viewer: FormViewerDep) -> Response:
    """The form lists `dataset_id:column` checkboxes; they become the grant's dataset -> columns."""
    form = await request.form()
    grants: dict[str, list[str]] = {}
    for value in form.getlist("col"):
        dataset_id, _, column = str(value).partition(":")
        grants.setdefault(dataset_id, []).append(column)
    expires = str(form.get("expires_at") or "")
    epsilon = str(form.get("epsilon") or "")
    try:
        body = ScenarioIn(
            name=str(form.get("name") or ""),
            purpose=str(form.get("purpose") or ""),
            datasets=grants,
            modes=[str(m) for m in form.getlist("modes")] or ["sdc"],  # type: ignore[misc]
            epsilon=float(epsilon) if epsilon else None,
            expires_at=datetime.combine(datetime.fromisoformat(expires).date(), time(), UTC)
            if expires
            else None,
        )
    except (ValidationError, ValueError):
        t = translator(lang_of(request))
        return await run_in_threadpool(_list, request, rt, viewer, t("scenarios.invalid"), 422)
    sc = await run_in_threadpool(scenarios.apply, rt, viewer.user, body)
    return see_other(f"/console/scenarios/{sc.id}")


@router.get("/scenarios/{scenario_id}")
def scenario_page(request: Request, rt: RuntimeDep, viewer: ViewerDep, scenario_id: str) -> Response:
    sc = scenarios.get(rt, viewer.user, scenario_id)
    with rt.catalog.session() as s:
        points = [(p.at, p.epsilon) for p in ledger.history(s, sc.id)]
    own_jobs = []
    if sc.operator_id == viewer.user.id:
        own_jobs = [j for j in jobs.list_(rt, viewer.user, None, 200).items if j.scenario_id == sc.id]
    return render(
        request,
        "scenario.html",
        viewer,
        scenario=sc,
        chart=charts.budget_chart(points, sc.epsilon),
        jobs=own_jobs,
    )


@router.post("/scenarios/{scenario_id}/{action}")
def decide(
    rt: RuntimeDep,
    viewer: FormViewerDep,
    scenario_id: str,
    action: str,
    reason: Annotated[str, Form()] = "",
) -> Response:
    if action not in ACTIONS:
        raise SandboxError(ErrorCode.not_found, kind="action")
    ACTIONS[action](rt, viewer.user, scenario_id, DecisionIn(reason=reason.strip()))
    return see_other(f"/console/scenarios/{scenario_id}")
