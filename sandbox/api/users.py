"""Admin governance routes: /v1/users (list, create, rotate, revoke), operator exit, dataset destruction."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body

from sandbox import revocation, users, vault_keys
from sandbox.api.deps import RuntimeDep, UserDep
from sandbox.api.schemas import DecisionIn
from sandbox.auth import Role, require

router = APIRouter(tags=["users"])
OptionalReason = Annotated[DecisionIn | None, Body()]


@router.get("/v1/users", response_model=list[users.UserAdminOut])
def list_users(rt: RuntimeDep, user: UserDep) -> list[users.UserAdminOut]:
    require(user, Role.admin)
    return users.list_(rt, user)


@router.post("/v1/users", status_code=201, response_model=users.TokenOut)
def create_user(rt: RuntimeDep, user: UserDep, body: users.UserCreateIn) -> users.TokenOut:
    require(user, Role.admin)
    return users.create(rt, user, body)


@router.post("/v1/users/{user_id}/rotate", response_model=users.TokenOut)
def rotate_token(rt: RuntimeDep, user: UserDep, user_id: str) -> users.TokenOut:
    require(user, Role.admin)
    return users.rotate(rt, user, user_id)


@router.post("/v1/users/{user_id}/revoke", response_model=users.RevocationOut)
def revoke_user(
    rt: RuntimeDep, user: UserDep, user_id: str, body: OptionalReason = None
) -> users.RevocationOut:
    require(user, Role.admin)
    return users.revoke(rt, user, user_id, (body.reason if body else "") or "")


@router.post("/v1/operators/{user_id}/exit")
def exit_operator(rt: RuntimeDep, user: UserDep, user_id: str, body: OptionalReason = None) -> dict[str, Any]:
    """Revoke the operator and all its scenarios, stop its jobs, delete its workspaces and unreleased
    outputs; the answer is the destruction record written to the audit log."""
    require(user, Role.admin)
    return revocation.exit_operator(rt, user, user_id, (body.reason if body else "") or "")


@router.post("/v1/datasets/{dataset_id}/destroy")
def destroy_dataset(
    rt: RuntimeDep, user: UserDep, dataset_id: str, body: OptionalReason = None
) -> dict[str, Any]:
    """Admin: destroy every version of a dataset (keys and vault files: crypto-shredding), revoke the
    scenarios granting it; the answer is the destruction record written to the audit log."""
    require(user, Role.admin)
    return vault_keys.destroy(rt, user, dataset_id, (body.reason if body else "") or "")
