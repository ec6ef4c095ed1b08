"""Review: a reviewer who did not submit the job approves, rejects or asks for changes, with a reason."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow.parquet as pq
from sqlalchemy import select

from sandbox import audit, jobs, release, run
from sandbox.api.schemas import CandidateOut, JobOut, Page, ReviewIn, ReviewOut
from sandbox.auth import Role, require
from sandbox.catalog import paginate
from sandbox.catalog.models import Job, Review, User
from sandbox.errors import ErrorCode, SandboxError
from sandbox.runtime import Runtime

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


def decide(rt: Runtime, actor: User, job_id: str, body: ReviewIn) -> ReviewOut:
    require(actor, Role.reviewer)
    with rt.catalog.session() as s:
        job = s.get(Job, job_id)
        if job is None:
            raise SandboxError(ErrorCode.not_found, kind="job")
        if job.submitter_id == actor.id:
            raise SandboxError(ErrorCode.review_own_job)
        if job.state != "pending_review":
            raise SandboxError(ErrorCode.job_state, job_id=job.id, state=job.state, action="reviewed")
        now = datetime.now(UTC)
        review = Review(
            job_id=job.id, reviewer_id=actor.id, decision=body.decision, reason=body.reason, created_at=now
        )
        s.add(review)
        s.flush()
        audit.record(
            s,
            "review.decided",
            actor=actor,
            object_type="job",
            object_id=job.id,
            detail={"decision": body.decision, "reason": body.reason},
        )
        to, reason_code = OUTCOME[body.decision]
        if to == "released":
            release.create(rt, s, job, actor)
        jobs.advance(s, job, to, actor=actor, reason_code=reason_code)
        return ReviewOut(
            job_id=job.id,
            reviewer_id=actor.id,
            decision=body.decision,
            reason=body.reason,
            created_at=now,
            job_state=job.state,
        )
