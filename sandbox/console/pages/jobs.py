"""Operator pages: the SQL editor (gate reasons inline), jobs and their states, downloads, appeals."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import FileResponse
from pydantic import ValidationError

from sandbox import jobs, release, scenarios
from sandbox.api.deps import RuntimeDep
from sandbox.api.schemas import AppealIn, JobIn
from sandbox.auth import Role
from sandbox.console.i18n import translator
from sandbox.console.web import (
    ConsoleRoute,
    FormViewerDep,
    ViewerDep,
    is_,
    lang_of,
    optional,
    render,
    see_other,
)
from sandbox.errors import ErrorCode, SandboxError

router = APIRouter(route_class=ConsoleRoute)


@router.get("/jobs")
def list_jobs(
    request: Request, rt: RuntimeDep, viewer: ViewerDep, state: str | None = None, cursor: str | None = None
) -> Response:
    page = jobs.list_(rt, viewer.user, state or None, 100, cursor)
    return render(request, "jobs.html", viewer, jobs=page.items, next_cursor=page.next_cursor, state=state)


@router.get("/jobs/{job_id}")
def job_page(request: Request, rt: RuntimeDep, viewer: ViewerDep, job_id: str) -> Response:
    job = jobs.get(rt, viewer.user, job_id)
    columns: list[str] = []
    rows: list[list[object]] = []
    own = job.submitter_id == viewer.user.id
    if job.state == "released" and own and is_(viewer, Role.operator):
        columns, rows = release.view(rt, viewer.user, job_id)
    return render(request, "job.html", viewer, job=job, own=own, columns=columns, rows=rows)


@router.get("/jobs/{job_id}/result")
def download(rt: RuntimeDep, viewer: ViewerDep, job_id: str, format: str = "csv") -> Response:
    path, media_type, sha = release.download(rt, viewer.user, job_id, format)
    return FileResponse(
        path, media_type=media_type, filename=f"{job_id}.{format}", headers={"X-Content-SHA256": sha}
    )


@router.post("/jobs/{job_id}/appeal")
def appeal(rt: RuntimeDep, viewer: FormViewerDep, job_id: str, note: Annotated[str, Form()] = "") -> Response:
    jobs.appeal(rt, viewer.user, job_id, AppealIn(note=note.strip()))
    return see_other(f"/console/jobs/{job_id}")


@router.post("/jobs/{job_id}/cancel")
def cancel(rt: RuntimeDep, viewer: FormViewerDep, job_id: str) -> Response:
    jobs.cancel(rt, viewer.user, job_id)
    return see_other(f"/console/jobs/{job_id}")


def _editor(
    request: Request,
    rt: RuntimeDep,
    viewer: ViewerDep,
    *,
    scenario_id: str = "",
    sql: str = "",
    mode: str = "sdc",
    reasons: list[dict[str, object]] | None = None,
    dry: dict[str, object] | None = None,
    error: str = "",
    status: int = 200,
) -> Response:
    if not is_(viewer, Role.operator):
        raise SandboxError(ErrorCode.forbidden)
    own = [
        sc
        for sc in scenarios.list_(rt, viewer.user, 200).items
        if sc.state == "approved" and sc.operator_id == viewer.user.id
    ]
    return render(
        request,
        "editor.html",
        viewer,
        status=status,
        scenarios=own,
        scenario_id=scenario_id or (own[0].id if own else ""),
        sql=sql,
        mode=mode,
        reasons=reasons,
        dry=dry,
        can_dry_run=optional("sandbox.dryrun") is not None,
        asks_epsilon="epsilon" in JobIn.model_fields,
        error=error,
    )


@router.get("/editor")
def editor(request: Request, rt: RuntimeDep, viewer: ViewerDep, scenario_id: str = "") -> Response:
    return _editor(request, rt, viewer, scenario_id=scenario_id)


@router.post("/editor")
def submit(
    request: Request,
    rt: RuntimeDep,
    viewer: FormViewerDep,
    scenario_id: Annotated[str, Form()] = "",
    sql: Annotated[str, Form()] = "",
    mode: Annotated[str, Form()] = "sdc",
    action: Annotated[str, Form()] = "submit",
    epsilon: Annotated[str, Form()] = "",
) -> Response:
    """Submit through `jobs.submit` (or dry-run over synthetic data through `sandbox.dryrun` where it
    exists); a refusal shows every gate reason inline, at its position."""
    again = {"scenario_id": scenario_id, "sql": sql, "mode": mode}
    extra: dict[str, object] = {}
    if epsilon.strip() and "epsilon" in JobIn.model_fields:  # dp jobs may ask for their epsilon
        extra["epsilon"] = epsilon.strip()
    try:
        body = JobIn(scenario_id=scenario_id, sql=sql, mode=mode, **extra)  # type: ignore[arg-type]
    except ValidationError:
        t = translator(lang_of(request))
        return _editor(request, rt, viewer, **again, error=t("editor.invalid"), status=422)
    dryrun = optional("sandbox.dryrun") if action == "dry_run" else None
    if dryrun is not None:
        try:
            dry = dryrun.dry_run(rt, viewer.user, body)
        except SandboxError as e:
            if e.code == ErrorCode.gate_rejected:
                return _editor(request, rt, viewer, **again, reasons=e.detail["reasons"], status=422)
            return _editor(request, rt, viewer, **again, error=e.message, status=e.status)
        return _editor(request, rt, viewer, **again, dry=dry)
    try:
        submitted = jobs.submit(rt, viewer.user, body)
    except SandboxError as e:
        return _editor(request, rt, viewer, **again, error=e.message, status=e.status)
    if submitted.rejection is not None:
        reasons = submitted.rejection.detail["reasons"]
        return _editor(request, rt, viewer, **again, reasons=reasons, status=422)
    return see_other(f"/console/jobs/{submitted.job.id}")
