"""Development without data, and data quality: synthetic previews, dry runs, quality reports."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from sandbox import dryrun, preview, quality
from sandbox.api.deps import RuntimeDep, UserDep
from sandbox.api.schemas import JobIn

router = APIRouter(tags=["development"])


@router.get("/v1/datasets/{dataset_id}/preview")
def dataset_preview(
    rt: RuntimeDep, user: UserDep, dataset_id: str, rows: Annotated[int, Query(ge=1, le=200)] = 20
) -> dict[str, Any]:
    """Synthetic rows with the dataset's schema: `{"synthetic": true, "columns", "rows"}`; no real value."""
    return preview.preview(rt, user, dataset_id, rows)


@router.post(
    "/v1/jobs/dry-run",
    responses={422: {"description": "rejected by the policy gate; detail.reasons lists every reason"}},
)
def dry_run(rt: RuntimeDep, user: UserDep, body: JobIn) -> dict[str, Any]:
    """Run a job at once over synthetic data: `{"synthetic", "columns", "rows", "gate_report",
    "check_report"}`. No review, no budget, no job; audited as `job.dry_run`."""
    return dryrun.dry_run(rt, user, body)


@router.get("/v1/datasets/{dataset_id}/quality")
def dataset_quality(rt: RuntimeDep, user: UserDep, dataset_id: str) -> dict[str, Any]:
    """The data quality report of every version (null rates, distinct counts, validity rates,
    duplicate rows): for the owning source unit and admins; aggregates only."""
    return quality.report(rt, user, dataset_id)
