"""Users, tokens and roles. Tokens are shown once and stored only as sha256 hashes.

A token carries 256 bits of randomness, so an unsalted sha256 is enough to make the stored hash useless
to a thief while keeping lookup a single indexed equality.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from sandbox import audit
from sandbox.catalog.models import User
from sandbox.errors import ErrorCode, SandboxError
from sandbox.product_cache import AtGeneration, generation


class Role(StrEnum):
    source_unit = "source_unit"
    operator = "operator"
    reviewer = "reviewer"
    admin = "admin"
    auditor = "auditor"


TOKEN_PREFIX = "sbx_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_id(prefix: str) -> str:
    """Ids sort by creation time (to the millisecond), so lists and queues page oldest first by id."""
    return f"{prefix}_{time.time_ns() // 1_000_000:012x}{uuid.uuid4().hex[:8]}"


def add_user(
    session: Session, name: str, roles: list[Role], unit: str | None = None, *, actor: User | None = None
) -> tuple[User, str]:
    """Create a user; returns the user and its token (the only time the token exists in clear)."""
    if not roles:
        raise SandboxError(ErrorCode.invalid_request, reason="a user needs at least one role")
    if session.execute(select(User).where(User.name == name)).scalar_one_or_none() is not None:
        raise SandboxError(ErrorCode.invalid_request, reason=f"user name {name!r} is taken")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    user = User(
        id=new_id("usr"),
        name=name,
        roles=sorted({r.value for r in roles}),
        unit=unit,
        token_hash=hash_token(token),
        active=True,
        created_at=datetime.now(UTC),
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        "user.created",
        actor=actor,
        object_type="user",
        object_id=user.id,
        detail={"name": name, "roles": user.roles, "unit": unit},
    )
    return user, token


def authenticate(session: Session, token: str | None) -> User:
    if not token:
        raise SandboxError(ErrorCode.unauthenticated)
    user = session.execute(select(User).where(User.token_hash == hash_token(token))).scalar_one_or_none()
    if user is None or not user.active:
        raise SandboxError(ErrorCode.unauthenticated)
    return user


class TokenCache:
    """Who a token is, per process, at a catalog generation (`sandbox.product_cache.generation`).

    A user changes only through a change event (`user.created`, `user.token_rotated`,
    `user.revoked`), which moves the generation in its own transaction; so an entry read at the
    generation the catalog has now is the answer the catalog would give, and a rotated or revoked
    token is refused from the next request, as without the cache. One indexed single-row read per
    request stays, whatever the outcome; unknown tokens are never kept. The users handed out are
    detached snapshots shared between requests: nothing may change them (nothing does; a service
    that changes a user reads its own copy in its own session). Bounded, least recently used out.
    """

    def __init__(self, size: int = 1024) -> None:
        self._users = AtGeneration(size)

    def user(self, session: Session, token: str | None) -> tuple[User, int]:
        """The active user holding `token` and the generation it was checked at."""
        if not token:
            raise SandboxError(ErrorCode.unauthenticated)
        gen = generation(session)

        def load() -> User:
            user = authenticate(session, token)
            session.expunge(user)
            return user

        return self._users.get(hash_token(token), gen, load), gen


def has_role(user: User, *roles: Role) -> bool:
    return any(r.value in user.roles for r in roles)


def require(user: User, *roles: Role) -> None:
    if not has_role(user, *roles):
        raise SandboxError(ErrorCode.forbidden)
