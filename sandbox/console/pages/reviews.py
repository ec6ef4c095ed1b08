"""Reviewer pages: the queue with due dates, the job page with every report, and the decision form."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from pydantic import ValidationError

from sandbox import review, scenarios
from sandbox.api.deps import RuntimeDep
from sandbox.api.schemas import ReviewIn
from sandbox.console.i18n import translator
from sandbox.console.web import ConsoleRoute, FormViewerDep, ViewerDep, lang_of, render, see_other

router = APIRouter(route_class=ConsoleRoute)


@router.get("/reviews")
def queue(request: Request, rt: RuntimeDep, viewer: ViewerDep, cursor: str | None = None) -> Response:
    page = review.queue(rt, viewer.user, "pending", 100, cursor)
    now = datetime.now(UTC)
    items = []
    for job in page.items:
        due = review.due_at(rt, job)
        decisions, required = review.history(rt, viewer.user, job.id)
        approved = review.current_round(decisions)
        mine = any(d.reviewer_id == viewer.user.id for d in approved)
        items.append((job, due, due < now, len(approved), required, mine))
    return render(
        request,
        "reviews.html",
        viewer,
        items=items,
        next_cursor=page.next_cursor,
        days=rt.settings.review_working_days,
    )


def _page(request: Request, rt: RuntimeDep, viewer: ViewerDep, job_id: str, error: str = "") -> Response:
    cand = review.candidate(rt, viewer.user, job_id)
    sc = scenarios.get(rt, viewer.user, cand.job.scenario_id)
    decisions, required = review.history(rt, viewer.user, job_id)
    report = cand.job.check_report or {}
    suppressed = {(c["row"], c["column"]) for c in (report.get("sdc") or {}).get("suppressed", [])}
    return render(
        request,
        "review_job.html",
        viewer,
        status=422 if error else 200,
        job=cand.job,
        columns=cand.columns,
        rows=cand.rows,
        suppressed=suppressed,
        scenario=sc,
        touched=review.columns_touched(rt, viewer.user, job_id),
        decisions=decisions,
        required=required,
        earlier=review.earlier_releases(rt, viewer.user, job_id),
        due=review.due_at(rt, cand.job),
        report=report,
        error=error,
    )


@router.get("/reviews/{job_id}")
def job_page(request: Request, rt: RuntimeDep, viewer: ViewerDep, job_id: str) -> Response:
    return _page(request, rt, viewer, job_id)


@router.post("/reviews/{job_id}")
def decide(
    request: Request,
    rt: RuntimeDep,
    viewer: FormViewerDep,
    job_id: str,
    decision: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    try:
        body = ReviewIn(decision=decision, reason=reason.strip())  # type: ignore[arg-type]
    except ValidationError:
        return _page(request, rt, viewer, job_id, error=translator(lang_of(request))("review.need_reason"))
    out = review.decide(rt, viewer.user, job_id, body)
    if out.job_state == "pending_review":
        return see_other(f"/console/reviews/{job_id}")
    return see_other(f"/console/jobs/{job_id}")
