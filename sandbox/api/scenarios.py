"""/v1/scenarios: apply (operator), approve / reject / revoke (admin), read."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query

from sandbox import scenarios
from sandbox.api.deps import RuntimeDep, UserDep
from sandbox.api.schemas import DecisionIn, Page, ScenarioIn, ScenarioOut

router = APIRouter(prefix="/v1/scenarios", tags=["scenarios"])
OptionalDecision = Annotated[DecisionIn | None, Body()]


@router.post("", status_code=201, response_model=ScenarioOut)
def apply(rt: RuntimeDep, user: UserDep, body: ScenarioIn) -> ScenarioOut:
    return scenarios.apply(rt, user, body)


@router.post("/{scenario_id}/approve", response_model=ScenarioOut)
def approve(rt: RuntimeDep, user: UserDep, scenario_id: str, body: OptionalDecision = None) -> ScenarioOut:
    return scenarios.approve(rt, user, scenario_id, body or DecisionIn())


@router.post("/{scenario_id}/reject", response_model=ScenarioOut)
def reject(rt: RuntimeDep, user: UserDep, scenario_id: str, body: OptionalDecision = None) -> ScenarioOut:
    return scenarios.reject(rt, user, scenario_id, body or DecisionIn())


@router.post("/{scenario_id}/revoke", response_model=ScenarioOut)
def revoke(rt: RuntimeDep, user: UserDep, scenario_id: str, body: OptionalDecision = None) -> ScenarioOut:
    return scenarios.revoke(rt, user, scenario_id, body or DecisionIn())


@router.get("", response_model=Page[ScenarioOut])
def list_scenarios(
    rt: RuntimeDep, user: UserDep, limit: Annotated[int, Query(ge=1, le=200)] = 50, cursor: str | None = None
) -> Page[ScenarioOut]:
    return scenarios.list_(rt, user, limit, cursor)


@router.get("/{scenario_id}", response_model=ScenarioOut)
def get_scenario(rt: RuntimeDep, user: UserDep, scenario_id: str) -> ScenarioOut:
    return scenarios.get(rt, user, scenario_id)
