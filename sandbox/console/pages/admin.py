"""Admin and auditor pages: users and tokens, the policy bundle in force, the audit event browser."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from pydantic import ValidationError
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from sandbox import audit
from sandbox.api.deps import RuntimeDep
from sandbox.auth import Role, require
from sandbox.catalog import paginate
from sandbox.catalog.models import AuditEvent, User
from sandbox.console.web import ConsoleRoute, FormViewerDep, ViewerDep, optional, render, see_other
from sandbox.errors import ErrorCode, SandboxError

router = APIRouter(route_class=ConsoleRoute)


@router.get("/admin/users")
def users(request: Request, rt: RuntimeDep, viewer: ViewerDep) -> Response:
    """Through `sandbox.users` where it exists (then with create, rotate and revoke); until then a
    read-only list from the catalog. Token hashes never leave the catalog."""
    service = optional("sandbox.users")
    if service is not None:
        rows: list[Any] = list(service.list_(rt, viewer.user))
    else:
        require(viewer.user, Role.admin)
        with rt.catalog.session() as s:
            rows = [
                {"id": u.id, "name": u.name, "roles": u.roles, "unit": u.unit, "active": u.active,
                 "created_at": u.created_at}
                for u in s.execute(select(User).order_by(User.id)).scalars()
            ]  # fmt: skip
    return render(
        request,
        "users.html",
        viewer,
        users=rows,
        manage=service is not None,
        all_roles=[r.value for r in Role],
    )


def _users_service() -> Any:
    service = optional("sandbox.users")
    if service is None:
        raise SandboxError(ErrorCode.not_found, kind="user management")
    return service


@router.post("/admin/users")
async def create_user(request: Request, rt: RuntimeDep, viewer: FormViewerDep) -> Response:
    service = _users_service()
    form = await request.form()
    try:
        body = service.UserCreateIn(
            name=str(form.get("name") or "").strip(),
            roles=[str(r) for r in form.getlist("roles")],
            unit=str(form.get("unit") or "").strip() or None,
        )
    except ValidationError:
        raise SandboxError(ErrorCode.invalid_request, reason="a user needs a name and a role") from None
    out = await run_in_threadpool(service.create, rt, viewer.user, body)
    return render(request, "token_once.html", viewer, issued=out)


@router.post("/admin/users/{user_id}/rotate")
def rotate_token(request: Request, rt: RuntimeDep, viewer: FormViewerDep, user_id: str) -> Response:
    out = _users_service().rotate(rt, viewer.user, user_id)
    return render(request, "token_once.html", viewer, issued=out)


@router.post("/admin/users/{user_id}/revoke")
def revoke_user(
    rt: RuntimeDep, viewer: FormViewerDep, user_id: str, reason: Annotated[str, Form()] = ""
) -> Response:
    _users_service().revoke(rt, viewer.user, user_id, reason.strip())
    return see_other("/console/admin/users")


@router.get("/admin/bundle")
def bundle(request: Request, rt: RuntimeDep, viewer: ViewerDep) -> Response:
    require(viewer.user, Role.admin, Role.auditor, Role.reviewer)
    levels = {c.value: dataclasses.asdict(p) for c, p in rt.bundle.levels.items()}
    fields = sorted({k for p in levels.values() for k in p}, key=lambda k: (k != "k", k != "modes", k))
    return render(request, "bundle.html", viewer, levels=levels, fields=fields)


def _iso(value: str | None, end: bool = False) -> str | None:
    """A date or datetime-local from the form as the ISO text the chain stores (UTC)."""
    if not value:
        return None
    try:
        d = datetime.fromisoformat(value)
    except ValueError:
        raise SandboxError(
            ErrorCode.invalid_request, reason="times are YYYY-MM-DD or YYYY-MM-DDTHH:MM"
        ) from None
    if end and len(value) == 10:
        d = d.replace(hour=23, minute=59, second=59, microsecond=999999)
    d = d if d.tzinfo else d.replace(tzinfo=UTC)
    return d.astimezone(UTC).isoformat(timespec="microseconds")


@router.get("/audit")
def audit_log(
    request: Request,
    rt: RuntimeDep,
    viewer: ViewerDep,
    event_type: str = "",
    object_id: str = "",
    actor_id: str = "",
    since: str = "",
    until: str = "",
    cursor: int | None = None,
) -> Response:
    require(viewer.user, Role.auditor)
    q = audit.query(
        event_type=event_type or None,
        object_id=object_id.strip() or None,
        actor_id=actor_id.strip() or None,
        since=_iso(since),
        until=_iso(until, end=True),
    )
    with rt.catalog.session() as s:
        events, next_cursor = paginate(s, q, AuditEvent.seq, 100, cursor)
        rows = [
            {
                "seq": e.seq,
                "ts": e.ts,
                "actor_id": e.actor_id,
                "roles": e.actor_roles,
                "type": e.event_type,
                "object": f"{e.object_type}:{e.object_id}",
                "detail": json.dumps(json.loads(e.detail), ensure_ascii=False, sort_keys=True),
            }
            for e in events
        ]
        verification = audit.verify(s)
    filters = {
        "event_type": event_type,
        "object_id": object_id,
        "actor_id": actor_id,
        "since": since,
        "until": until,
    }
    return render(
        request,
        "audit.html",
        viewer,
        events=rows,
        next_cursor=next_cursor,
        verification=verification,
        types=sorted(audit.EVENT_TYPES),
        filters=filters,
    )
