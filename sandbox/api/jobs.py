"""/v1/jobs: submit (gate first), status and check report, cancel, released result."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from sandbox import jobs, release
from sandbox.api.deps import RuntimeDep, UserDep
from sandbox.api.schemas import AppealIn, JobIn, JobOut, Page

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.post(
    "",
    status_code=202,
    response_model=JobOut,
    responses={422: {"description": "rejected by the policy gate; detail.reasons lists every reason"}},
)
def submit(rt: RuntimeDep, user: UserDep, body: JobIn) -> JobOut:
    submitted = jobs.submit(rt, user, body)
    if submitted.rejection is not None:
        raise submitted.rejection
    return submitted.job


@router.get("", response_model=Page[JobOut])
def list_jobs(
    rt: RuntimeDep,
    user: UserDep,
    state: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> Page[JobOut]:
    return jobs.list_(rt, user, state, limit, cursor)


@router.get("/{job_id}", response_model=JobOut)
async def get_job(
    rt: RuntimeDep,
    user: UserDep,
    job_id: str,
    wait: Annotated[
        float, Query(ge=0, le=30, description="Long poll: seconds to wait while the job runs.")
    ] = 0,
) -> JobOut:
    """Status; with `wait`, a long poll that answers as soon as the job leaves the running states.

    Only the reads take a worker thread; the wait is on the event loop (sandbox/jobwatch.py).
    """
    deadline = time.monotonic() + wait
    while True:
        out = await run_in_threadpool(jobs.get, rt, user, job_id)
        remaining = deadline - time.monotonic()
        if out.state not in jobs.RUNNING_STATES or remaining <= 0:
            return out
        await rt.job_watch.wait(job_id, out.state, remaining)


@router.post("/{job_id}/cancel", response_model=JobOut)
def cancel(rt: RuntimeDep, user: UserDep, job_id: str) -> JobOut:
    return jobs.cancel(rt, user, job_id)


@router.post("/{job_id}/appeal", response_model=JobOut)
def appeal(rt: RuntimeDep, user: UserDep, job_id: str, body: AppealIn) -> JobOut:
    """Contest a reviewer's rejection: the job returns to the review queue with the note."""
    return jobs.appeal(rt, user, job_id, body)


@router.get(
    "/{job_id}/result",
    response_class=FileResponse,
    responses={200: {"description": "the released artifact"}, 409: {"description": "not released"}},
)
def result(
    rt: RuntimeDep,
    user: UserDep,
    job_id: str,
    format: Annotated[str, Query(pattern="^(csv|json|parquet)$")] = "csv",
) -> FileResponse:
    path, media_type, sha = release.download(rt, user, job_id, format)
    return FileResponse(
        path, media_type=media_type, filename=f"{job_id}.{format}", headers={"X-Content-SHA256": sha}
    )
