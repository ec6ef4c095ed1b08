"""/v1/reviews: the reviewer's queue, the candidate output, and decisions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from sandbox import review
from sandbox.api.deps import RuntimeDep, UserDep
from sandbox.api.schemas import CandidateOut, JobOut, Page, ReviewIn, ReviewOut

router = APIRouter(prefix="/v1/reviews", tags=["reviews"])


@router.get("", response_model=Page[JobOut])
def queue(
    rt: RuntimeDep,
    user: UserDep,
    status: str = "pending",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> Page[JobOut]:
    return review.queue(rt, user, status, limit, cursor)


@router.get("/{job_id}", response_model=CandidateOut)
def candidate(rt: RuntimeDep, user: UserDep, job_id: str) -> CandidateOut:
    return review.candidate(rt, user, job_id)


@router.post("/{job_id}", response_model=ReviewOut)
def decide(rt: RuntimeDep, user: UserDep, job_id: str, body: ReviewIn) -> ReviewOut:
    return review.decide(rt, user, job_id, body)
