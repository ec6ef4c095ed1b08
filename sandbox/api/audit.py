"""/v1/audit: events and the chain check, for auditors."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from sandbox import audit, audit_export
from sandbox.api.deps import RuntimeDep, UserDep
from sandbox.api.schemas import AuditEventOut, Page, VerificationOut
from sandbox.auth import Role, require
from sandbox.catalog import paginate
from sandbox.catalog.models import AuditEvent

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get("", response_model=Page[AuditEventOut])
def events(
    rt: RuntimeDep,
    user: UserDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    event_type: str | None = None,
    object_id: str | None = None,
    actor_id: str | None = None,
    since: Annotated[str | None, Query(description="ISO time (UTC); events at or after it.")] = None,
    until: Annotated[str | None, Query(description="ISO time (UTC); events before it.")] = None,
) -> Page[AuditEventOut]:
    require(user, Role.auditor)
    with rt.catalog.session() as s:
        q = audit.query(
            event_type=event_type, object_id=object_id, actor_id=actor_id, since=since, until=until
        )
        rows, next_cursor = paginate(s, q, AuditEvent.seq, limit, cursor)
        items = [
            AuditEventOut(
                seq=e.seq,
                ts=e.ts,
                actor_id=e.actor_id,
                actor_roles=e.actor_roles,
                event_type=e.event_type,
                object_type=e.object_type,
                object_id=e.object_id,
                detail=json.loads(e.detail),
                prev_hash=e.prev_hash,
                hash=e.hash,
            )
            for e in rows
        ]
        return Page(items=items, next_cursor=next_cursor)


@router.get("/verify", response_model=VerificationOut)
def verify(rt: RuntimeDep, user: UserDep) -> VerificationOut:
    require(user, Role.auditor)
    with rt.catalog.session() as s:
        return VerificationOut(**audit.verify(s).to_dict())


@router.get("/export", response_class=Response, responses={200: {"content": {"application/x-ndjson": {}}}})
def export(
    rt: RuntimeDep, user: UserDep, since: datetime | None = None, until: datetime | None = None
) -> Response:
    """JSON lines of the events with since <= ts < until, with the anchor hashes; see docs/audit.md."""
    require(user, Role.auditor)
    body = audit_export.export_text(rt, user, since, until)
    return Response(body, media_type="application/x-ndjson")


@router.post("/purge")
def purge(rt: RuntimeDep, user: UserDep, before: datetime) -> dict[str, object]:
    """Admin: purge events older than `before`; refused (retention_not_reached) inside the retention."""
    require(user, Role.admin)
    with rt.catalog.session() as s:
        return audit_export.purge(s, before, rt.settings.audit_retention_days, user).to_dict()
