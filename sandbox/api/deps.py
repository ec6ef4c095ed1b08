"""Typed dependencies: the runtime and the authenticated user."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from sandbox.api.access import remember_user
from sandbox.catalog.models import User
from sandbox.errors import ErrorCode, SandboxError
from sandbox.runtime import Runtime


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def current_user(request: Request, rt: Annotated[Runtime, Depends(runtime)]) -> User:
    """Every request passes here, so on the event loop: one indexed read of the read-only pool (no
    write lock, no wait on writers) costs less than the thread hop a sync dependency takes. That
    read is the catalog generation (`auth.TokenCache`), kept in `request.state.generation` for the
    product call, which validates its own cache with it instead of reading it again."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise SandboxError(ErrorCode.unauthenticated)
    with rt.catalog.reading() as s:
        user, request.state.generation = rt.tokens.user(s, token.strip())
    remember_user(request.state, user)  # for the access event (sandbox/api/access.py)
    return user


RuntimeDep = Annotated[Runtime, Depends(runtime)]
UserDep = Annotated[User, Depends(current_user)]
