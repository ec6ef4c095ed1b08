"""/v1/metering: usage totals per scenario, product form and data product, and the compliance-review flags."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from sandbox import metering
from sandbox.api.deps import RuntimeDep, UserDep

router = APIRouter(prefix="/v1/metering", tags=["metering"])


class ProductMeteringOut(BaseModel):
    by_form: dict[str, str]  # native volume
    normalised: str  # Σ K x volume, exact decimal text
    calls_by_subject: dict[str, int]  # released calls per consumer


class MeteringOut(BaseModel):
    year: int | None
    v: str  # Σ K x volume, exact decimal text
    by_scenario: dict[str, str]  # normalised volume
    by_form: dict[str, str]  # native volume
    normalised_by_form: dict[str, str]
    calls_by_subject: dict[str, int]
    by_product: dict[str, ProductMeteringOut]
    review_threshold: int
    flagged_subjects: list[str]  # > review_threshold api calls in the year


@router.get("", response_model=MeteringOut)
def totals(
    rt: RuntimeDep,
    user: UserDep,
    year: Annotated[int | None, Query(ge=1970, le=9999)] = None,
    scenario_id: str | None = None,
    product_id: str | None = None,
) -> MeteringOut:
    return MeteringOut(**metering.summary(rt, user, year, scenario_id, product_id).to_dict())
