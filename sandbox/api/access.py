"""Access auditing in one place: an ASGI middleware that writes the access events of every request.

The rule (docs/audit.md):
- every refused request is an `access.denied` event: failed authentication (401) and forbidden
  attempts (403), always, with the route, the actor when known and the request id;
- every read of a protected thing (PROTECTED_READS: dataset detail and previews, review candidates,
  audit reads, usage totals, the user list) is an `access.read` event with its outcome (also when it
  is refused as not found: probing for ids is worth a record);
- state changes are recorded by their own services in the same transaction, with this request's id
  (`audit.REQUEST_ID`); the long poll `GET /v1/jobs/{job_id}` and other job/scenario lists are not
  audited, or polls would flood the chain.

The event is written before the response starts, so a client that sees the answer can find its record.
Each response carries `X-Request-Id`.
"""

from __future__ import annotations

import uuid
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox import audit

# (method, route template) -> (object type, path parameter naming the object, or None)
PROTECTED_READS: dict[tuple[str, str], tuple[str, str | None]] = {
    ("GET", "/v1/datasets/{dataset_id}"): ("dataset", "dataset_id"),
    ("GET", "/v1/datasets/{dataset_id}/preview"): ("dataset", "dataset_id"),
    ("GET", "/v1/reviews/{job_id}"): ("job", "job_id"),
    ("GET", "/v1/audit"): ("audit", None),
    ("GET", "/v1/audit/verify"): ("audit", None),
    ("GET", "/v1/metering"): ("usage", None),
    ("GET", "/v1/users"): ("user", None),
}
OUTCOMES = {401: "unauthenticated", 403: "forbidden", 404: "not_found"}


class _Actor:
    """The signed-in user as the auth dependency left it in the request state (no ORM object)."""

    def __init__(self, user_id: str, roles: list[str]) -> None:
        self.id = user_id
        self.roles = roles


def remember_user(state: Any, user: Any) -> None:
    """Called by the auth dependency: who this request is, for the access event."""
    state.audit_actor = _Actor(user.id, list(user.roles))


class AuditAccess:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id
        token = audit.REQUEST_ID.set(request_id)

        async def audited_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = int(message["status"])
                event = self._event(scope, status, request_id)
                if event is not None:
                    await anyio.to_thread.run_sync(self._write, scope, event)
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, audited_send)
        finally:
            audit.REQUEST_ID.reset(token)

    @staticmethod
    def _event(scope: Scope, status: int, request_id: str) -> dict[str, Any] | None:
        route = scope.get("route")
        template = getattr(route, "path", None)
        method = scope.get("method", "")
        read = PROTECTED_READS.get((method, template)) if template else None
        if status in (401, 403):
            event_type = "access.denied"
        elif read is not None and (status < 400 or status == 404):
            event_type = "access.read"
        else:
            return None
        object_type, param = read if read is not None else ("route", None)
        params = scope.get("path_params") or {}
        # A path parameter is named only when the read succeeded: then it is one of our ids. A refused
        # one is whatever the client typed, which may be a value; the route template stands in.
        object_id = str(params.get(param, "")) if param and status < 400 else ""
        return {
            "event_type": event_type,
            "object_type": object_type,
            "object_id": (object_id or template or "unmatched")[:80],
            "detail": {
                "method": method,
                "route": template or "unmatched",
                "status": status,
                "outcome": OUTCOMES.get(status, "ok" if status < 400 else "refused"),
                "request_id": request_id,
            },
        }

    @staticmethod
    def _write(scope: Scope, event: dict[str, Any]) -> None:
        rt = scope["app"].state.runtime
        actor = (scope.get("state") or {}).get("audit_actor")
        with rt.catalog.session() as s:
            audit.record(
                s,
                event["event_type"],
                actor=actor,
                object_type=event["object_type"],
                object_id=event["object_id"],
                detail=event["detail"],
            )
