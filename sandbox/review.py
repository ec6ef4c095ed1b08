"""Review: a reviewer who did not submit the job approves, rejects or asks for changes, with a reason.

Two-person rule: the policy bundle says, per classification level, how many different reviewers must
approve (`reviewers`; 2 for `core` by default). A job stays `pending_review` until that many distinct
reviewers approved it in the current round; one reject or request for changes ends the round. A round
starts when the job enters `pending_review` (after its run, or after an appeal of a rejection), so
approvals given before a rejection do not count again.

Due dates: a reviewer has `review_working_days` working days (Mon-Fri; public holidays are out of
scope) from the moment the job entered `pending_review`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow.parquet as pq
from sqlalchemy import select
from sqlalchemy.orm import Session

from policies.levels import Classification
from sandbox import audit, jobs, release, run
from sandbox.api.schemas import CandidateOut, JobOut, Page, ReviewIn, ReviewOut
from sandbox.auth import Role, require
from sandbox.catalog import paginate
from sandbox.catalog.models import Dataset, Job, Release, Review, Scenario, User
from sandbox.errors import ErrorCode, SandboxError
from sandbox.runtime import Runtime
from sandbox.scenarios import aware

OUTCOME = {
    "approve": ("released", None),
    "reject": ("rejected", "rejected_by_reviewer"),
    "changes_requested": ("rejected", "changes_requested"),
}


def queue(
    rt: Runtime, actor: User, status: str = "pending", limit: int = 50, cursor: str | None = None
) -> Page[JobOut]:
    """Oldest first: the reviewer's queue of checked outputs."""
    require(actor, Role.reviewer)
    state = {"pending": "pending_review", "released": "released", "rejected": "rejected"}.get(status)
    if state is None:
        raise SandboxError(ErrorCode.invalid_request, reason="status must be pending, released or rejected")
    with rt.catalog.session() as s:
        # Job ids sort by creation time, so paging by id is oldest first.
        rows, next_cursor = paginate(s, select(Job).where(Job.state == state), Job.id, limit, cursor)
        return Page(items=[jobs.job_out(s, j) for j in rows], next_cursor=next_cursor)


def candidate(rt: Runtime, actor: User, job_id: str) -> CandidateOut:
    """The post-privacy output a reviewer decides on (suppressed cells already withheld)."""
    require(actor, Role.reviewer)
    with rt.catalog.session() as s:
        job = s.get(Job, job_id)
        if job is None:
            raise SandboxError(ErrorCode.not_found, kind="job")
        if job.state != "pending_review":
            raise SandboxError(ErrorCode.job_state, job_id=job.id, state=job.state, action="reviewed")
        out = jobs.job_out(s, job)
    table = pq.read_table(run.candidate_path(rt, job_id))
    rows = [list(r.values()) for r in table.to_pylist()]
    return CandidateOut(job=out, columns=table.column_names, rows=rows)


def working_days_after(start: datetime, days: int) -> datetime:
    """`start` moved forward by `days` working days (Mon-Fri), keeping the time of day; holidays are
    out of scope. A start on a weekend counts from the next Monday's same time.

    >>> working_days_after(datetime(2026, 12, 4, 9, 0), 1)  # Friday -> Monday
    datetime.datetime(2026, 12, 7, 9, 0)
    >>> working_days_after(datetime(2026, 12, 1, 9, 0), 10)  # Tuesday -> Tuesday two weeks on
    datetime.datetime(2026, 12, 15, 9, 0)
    """
    d = start
    while d.weekday() >= 5:
        d += timedelta(days=1)
    left = days
    while left > 0:
        d += timedelta(days=1)
        if d.weekday() < 5:
            left -= 1
    return d


def due_at(rt: Runtime, job: JobOut) -> datetime:
    """When the review of a pending job is due: it entered pending_review at its last state change."""
    return working_days_after(aware(job.updated_at), rt.settings.review_working_days)


def required_approvals(rt: Runtime, s: Session, job: Job) -> int:
    """The strictest `reviewers` of the bundle over the datasets the job reads (its scenario's, if the
    plan names none)."""
    names = [n.lower() for n in (job.plan or {}).get("tables", [])]
    sc = s.get(Scenario, job.scenario_id)
    ids = list(sc.grants) if sc is not None else []
    found = [d for d in s.execute(select(Dataset).where(Dataset.id.in_(ids))).scalars()]
    used = [d for d in found if d.name.lower() in names] or found
    if not used:
        return 1
    return rt.bundle.strictest([Classification(d.classification) for d in used]).reviewers


def _round_approvals(s: Session, job_id: str) -> list[ReviewRecord]:
    """Approvals since the job's last reject or request for changes (the current round)."""
    rows = s.execute(select(Review).where(Review.job_id == job_id).order_by(Review.id)).scalars()
    return current_round(
        [ReviewRecord(r.reviewer_id, r.decision, r.reason, aware(r.created_at)) for r in rows]
    )


def decide(rt: Runtime, actor: User, job_id: str, body: ReviewIn) -> ReviewOut:
    """Record a decision; the approval that completes the count releases the job.

    The release files are staged inside the transaction and moved into place only once it commits. A
    decision that loses the race for the job (a second approval, a cancellation) fails at the
    conditional state change, before any release row, and its staged files are removed: no file
    without a release, never two releases.
    """
    require(actor, Role.reviewer)
    staged: list[release.Staged] = []  # filled once the job has moved to released
    try:
        out = _decide(rt, actor, job_id, body, staged)
    except BaseException:
        for files in staged:
            release.discard(files)
        raise
    for files in staged:
        release.publish(files)
    return out


def _decide(rt: Runtime, actor: User, job_id: str, body: ReviewIn, staged: list[release.Staged]) -> ReviewOut:
    with rt.catalog.session() as s:
        job = s.get(Job, job_id)
        if job is None:
            raise SandboxError(ErrorCode.not_found, kind="job")
        if job.submitter_id == actor.id:
            raise SandboxError(ErrorCode.review_own_job)
        if job.state != "pending_review":
            raise SandboxError(ErrorCode.job_state, job_id=job.id, state=job.state, action="reviewed")
        approvals = _round_approvals(s, job.id)
        required = required_approvals(rt, s, job)
        if body.decision == "approve" and any(r.reviewer_id == actor.id for r in approvals):
            raise SandboxError(ErrorCode.review_already_approved, job_id=job.id)
        now = datetime.now(UTC)
        review = Review(
            job_id=job.id, reviewer_id=actor.id, decision=body.decision, reason=body.reason, created_at=now
        )
        s.add(review)
        s.flush()
        count = len(approvals) + (1 if body.decision == "approve" else 0)
        audit.record(
            s,
            "review.decided",
            actor=actor,
            object_type="job",
            object_id=job.id,
            detail={
                "decision": body.decision,
                "reason": body.reason,
                "approvals": count,
                "required": required,
            },
        )
        to, reason_code = OUTCOME[body.decision]
        if to == "released" and count < required:
            to = "pending_review"  # waits for an approval from a different reviewer
        jobs.advance(s, job, to, actor=actor, reason_code=reason_code)  # the loser of a race stops here
        if to == "released":
            staged.append(release.create(rt, s, job, actor))
        return ReviewOut(
            job_id=job.id,
            reviewer_id=actor.id,
            decision=body.decision,
            reason=body.reason,
            created_at=now,
            job_state=job.state,
            approvals=count,
            approvals_required=required,
        )


@dataclass(frozen=True)
class ReviewRecord:
    reviewer_id: str
    decision: str
    reason: str
    created_at: datetime


def history(rt: Runtime, actor: User, job_id: str) -> tuple[list[ReviewRecord], int]:
    """Every decision on a job, oldest first, and how many approvals it needs."""
    require(actor, Role.reviewer, Role.auditor)
    with rt.catalog.session() as s:
        job = s.get(Job, job_id)
        if job is None:
            raise SandboxError(ErrorCode.not_found, kind="job")
        rows = s.execute(select(Review).where(Review.job_id == job_id).order_by(Review.id)).scalars()
        records = [ReviewRecord(r.reviewer_id, r.decision, r.reason, aware(r.created_at)) for r in rows]
        return records, required_approvals(rt, s, job)


def current_round(records: list[ReviewRecord]) -> list[ReviewRecord]:
    """The approvals after the last reject or request for changes (what `decide` counts)."""
    out: list[ReviewRecord] = []
    for r in records:
        out = [*out, r] if r.decision == "approve" else []
    return out


@dataclass(frozen=True)
class EarlierRelease:
    job: JobOut
    columns: list[str]
    rows: list[list[Any]]


def earlier_releases(rt: Runtime, actor: User, job_id: str, limit: int = 3) -> list[EarlierRelease]:
    """The latest outputs already released from the same scenario, newest first, so a reviewer can
    compare (differencing two releases is how a small cell leaks). They have left the domain already."""
    require(actor, Role.reviewer)
    with rt.catalog.session() as s:
        job = s.get(Job, job_id)
        if job is None:
            raise SandboxError(ErrorCode.not_found, kind="job")
        q = (
            select(Job, Release)
            .join(Release, Release.job_id == Job.id)
            .where(Job.scenario_id == job.scenario_id, Job.state == "released", Job.id != job.id)
            .order_by(Job.id.desc())
            .limit(limit)
        )
        found = [(jobs.job_out(s, j), rel.artifacts) for j, rel in s.execute(q).all()]
    out = []
    for j, artifacts in found:
        with open(artifacts["json"]["path"], encoding="utf-8") as f:
            data = json.load(f)
        rows = [[r.get(c) for c in data["columns"]] for r in data["rows"]]
        out.append(EarlierRelease(j, list(data["columns"]), rows))
    return out


@dataclass(frozen=True)
class TouchedColumn:
    table: str
    dataset_id: str | None
    classification: str | None
    column: str
    level: str | None  # the column's level in the grant the job was checked against


def columns_touched(rt: Runtime, actor: User, job_id: str) -> list[TouchedColumn]:
    """The datasets and columns a job's plan reads, with their levels, for the reviewer's page."""
    require(actor, Role.reviewer, Role.auditor)
    with rt.catalog.session() as s:
        job = s.get(Job, job_id)
        if job is None:
            raise SandboxError(ErrorCode.not_found, kind="job")
        sc = s.get(Scenario, job.scenario_id)
        plan = job.plan or {}
        tables = jobs.granted_tables(s, sc, plan.get("dataset_versions")) if sc is not None else {}
        out = []
        for table, cols in plan.get("columns_used", {}).items():
            t = tables.get(table.lower())
            for c in cols:
                grant = t.grant.columns.get(c) if t else None
                out.append(
                    TouchedColumn(
                        table=table,
                        dataset_id=t.dataset.id if t else None,
                        classification=t.dataset.classification if t else None,
                        column=c,
                        level=grant.level.value if grant else None,
                    )
                )
        return out
