"""Users for admins: list, create (token shown once), rotate a token, revoke (deactivate).

Revoking takes effect on the next request: `auth.authenticate` refuses inactive users, and an
operator's scenarios and jobs are revoked and stopped with it (sandbox/revocation.py).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from pydantic import BaseModel, Field
from sqlalchemy import select

from sandbox import audit
from sandbox.api.schemas import In
from sandbox.auth import TOKEN_PREFIX, Role, add_user, hash_token, require
from sandbox.catalog.models import User
from sandbox.errors import ErrorCode, SandboxError
from sandbox.revocation import Revocation, revoke_user
from sandbox.runtime import Runtime


class UserAdminOut(BaseModel):
    id: str
    name: str
    roles: list[str]
    unit: str | None
    active: bool
    created_at: datetime


class UserCreateIn(In):
    name: str = Field(min_length=1, max_length=200)
    roles: list[Role] = Field(min_length=1)
    unit: str | None = Field(default=None, max_length=200)


class TokenOut(BaseModel):
    user: UserAdminOut
    token: str = Field(description="Shown once; only its sha256 is stored.")


class RevocationOut(BaseModel):
    user_id: str
    scenarios_revoked: list[str]
    jobs_stopped: list[str]


def _out(u: User) -> UserAdminOut:
    created = u.created_at if u.created_at.tzinfo else u.created_at.replace(tzinfo=UTC)
    return UserAdminOut(id=u.id, name=u.name, roles=u.roles, unit=u.unit, active=u.active, created_at=created)


def list_(rt: Runtime, actor: User | None) -> list[UserAdminOut]:
    if actor is not None:
        require(actor, Role.admin)
    with rt.catalog.session() as s:
        return [_out(u) for u in s.execute(select(User).order_by(User.id)).scalars()]


def create(rt: Runtime, actor: User | None, body: UserCreateIn) -> TokenOut:
    if actor is not None:
        require(actor, Role.admin)
    with rt.catalog.session() as s:
        user, token = add_user(s, body.name, list(body.roles), body.unit, actor=actor)
        return TokenOut(user=_out(user), token=token)


def rotate(rt: Runtime, actor: User | None, user_id: str) -> TokenOut:
    """A new token for an active user; the old one is refused from the next request."""
    if actor is not None:
        require(actor, Role.admin)
    with rt.catalog.session() as s:
        user = s.get(User, user_id)
        if user is None:
            raise SandboxError(ErrorCode.not_found, kind="user")
        if not user.active:
            raise SandboxError(ErrorCode.invalid_request, reason="a revoked user gets no new token")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        user.token_hash = hash_token(token)
        s.flush()
        audit.record(s, "user.token_rotated", actor=actor, object_type="user", object_id=user.id, detail={})
        return TokenOut(user=_out(user), token=token)


def revoke(rt: Runtime, actor: User | None, user_id: str, reason: str = "") -> RevocationOut:
    out: Revocation = revoke_user(rt, actor, user_id, reason)
    return RevocationOut(**out.to_dict())
