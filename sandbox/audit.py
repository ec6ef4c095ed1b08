"""The audit log: append-only events, each hash chained to the one before.

`record` is called inside the same transaction as the state change it describes, so a change and its
event commit or roll back together. Appends lock the one-row `audit_head`, which serialises writers
across threads, processes and machines sharing one catalog.

hash(n) = sha256(hash(n-1) || canonical JSON of event n's fields), hash(0) = 64 zeros. `verify`
recomputes the chain and names the first event whose content, position or link does not match.
"""

from __future__ import annotations

import hashlib
import json
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session

from sandbox.catalog import DriverStatement
from sandbox.catalog.models import AuditAnchor, AuditEvent, AuditHead, User

GENESIS = "0" * 64

# The API request being served (set by sandbox/api/access.py); `record` adds it to each event's detail,
# so a state change can be traced to its request. A ContextVar, not state: each request has its own.
REQUEST_ID: ContextVar[str | None] = ContextVar("sandbox_request_id", default=None)

# Every event type the runtime writes; docs/audit.md lists each one (a test keeps them in step).
EVENT_TYPES: dict[str, str] = {
    "user.created": "a user was added with roles and a token",
    "dataset.registered": "a dataset and its first version entered the vault",
    "dataset.version_added": "a new version of a dataset entered the vault",
    "dataset.columns_changed": "the source unit confirmed or changed column levels or bounds",
    "dataset.version_held": "a new version changed the schema; held until the source unit confirms it",
    "dataset.version_confirmed": "the source unit confirmed a held version's columns; it became current",
    "dataset.version_superseded": "a held version was replaced by a newer one before it was confirmed",
    "dataset.refresh_failed": "a scheduled or requested re-read of a dataset's source failed",
    "scenario.applied": "an operator applied for a scenario grant",
    "scenario.approved": "an admin approved a scenario grant",
    "scenario.rejected": "an admin rejected a scenario application",
    "scenario.revoked": "an admin revoked a scenario grant",
    "job.gate_rejected": "a submitted query was refused by the policy gate",
    "job.queued": "a job passed the gate and was queued",
    "job.running": "a workspace started running the job",
    "job.checking": "the job's result is under the privacy checks",
    "job.pending_review": "the checked result awaits a reviewer",
    "job.failed": "the job failed; reason_code says why",
    "job.cancelled": "the job was cancelled",
    "job.rejected": "a reviewer rejected the output or asked for changes",
    "job.released": "the output was released",
    "job.dry_run": "an operator ran a query over synthetic data (no job, no review, no budget); "
    "detail: SQL digest and outcome",
    "review.decided": "a reviewer decided on a job's output",
    "budget.debited": "a job's privacy spend was debited from the ledger before it ran",
    "budget.refused": "a dp job was refused before running: its spend exceeds what is left of the budget",
    "dp.repeat_served": "a repeated identical dp query got the earlier noisy release, with no new spend",
    "release.created": "release artifacts were written with their sha256",
    "release.downloaded": "the submitting operator downloaded a released artifact",
    "release.viewed": "the submitting operator viewed a released output in the web console",
    "auth.signed_out": "a user signed out of the web console (the session row is deleted)",
    # governance (issue 8)
    "access.read": "a protected thing was read over the API (dataset detail, candidate, audit, usage, users)",
    "access.denied": "a request was refused: failed authentication (401) or a forbidden attempt (403)",
    "auth.signed_in": "a user signed in (console sessions; bearer-token requests are not sign-ins)",
    "audit.exported": "a time range of the audit log was exported with its anchor hashes",
    "audit.purged": "events older than the retention were purged; the chain continues from the anchor",
    "user.token_rotated": "an admin replaced a user's token (the old one stops working at once)",
    "user.revoked": "an admin deactivated a user: its token is refused from the next request",
    "operator.exited": "an operator exited: the destruction record (ids, paths, sha256s, never values)",
    "dataset.destroyed": "a dataset was destroyed: its data keys and vault files deleted (crypto-shredding)",
    # data products (issue 10)
    "template.created": "an operator wrote a parameterized template (gated for every admissible value)",
    "template.superseded": "a template was replaced by a new revision of its lineage",
    "template.approval_recorded": "a reviewer or a dataset's source unit approved a template at its pin",
    "template.approved": "a template has every approval it needs (a reviewer and each dataset's source unit)",
    "product.published": "an approved template was published as a product (form, fee class, consumers)",
    "product.withdrawn": "a product was withdrawn; calls are refused from then on",
    "product.called": "a licensed consumer's call passed every check and its output was released",
    "product.call_refused": "a product call was refused; detail names the reason code, never a value",
    "product.budget_debited": "a dp product call's spend was debited from the consumer's budget on the "
    "template lineage (month and lifetime) before it ran",
    "product.call_pending_review": "a product call's output awaits a reviewer (per-output review policy)",
}


# Events after which a product call must read its preparation again (sandbox/product_cache.py): a
# change to a dataset, scenario, template, product or user. `record` moves `audit_head.changed_seq`
# on each, in the same transaction; the calls' own events (their records, budgets) leave it be.
_CALL_EVENTS = ("product.called", "product.call_refused", "product.call_pending_review")
CHANGE_EVENTS: frozenset[str] = frozenset(
    t
    for t in EVENT_TYPES
    if t.startswith(("dataset.", "scenario.", "template.", "product.", "user.", "operator."))
    and t not in (*_CALL_EVENTS, "product.budget_debited")
)


def _canonical(fields: dict[str, Any]) -> str:
    return json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


HASHED = ("seq", "ts", "actor_id", "actor_roles", "event_type", "object_type", "object_id", "detail")


def digest_of(prev_hash: str, fields: dict[str, Any]) -> str:
    """hash(n) from hash(n-1) and event n's hashed fields (as stored: `detail` is canonical JSON text)."""
    body = _canonical({k: fields[k] for k in HASHED})
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def fields_of(ev: AuditEvent) -> dict[str, Any]:
    return {k: getattr(ev, k) for k in HASHED}


def _digest(prev_hash: str, ev: AuditEvent) -> str:
    return digest_of(prev_hash, fields_of(ev))


_HEAD = AuditHead.__table__
# Every event passes here (a product call writes one): statements compiled once, run on the driver.
_LOCK_HEAD = DriverStatement(select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1).with_for_update())
_INSERT_EVENT = DriverStatement(AuditEvent.__table__.insert(), [*HASHED, "prev_hash", "hash"])
_MOVE = _HEAD.update().where(_HEAD.c.id == 1).values(seq=bindparam("s"), hash=bindparam("h"))
_MOVE_HEAD = DriverStatement(_MOVE)
_MOVE_HEAD_CHANGED = DriverStatement(_MOVE.values(changed_seq=bindparam("c")))


def record(
    session: Session,
    event_type: str,
    *,
    actor: User | None,
    object_type: str,
    object_id: str,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain in the caller's transaction. Detail never holds data values."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown audit event type {event_type!r}")
    request_id = REQUEST_ID.get()
    if request_id is not None and "request_id" not in (detail or {}):
        detail = {**(detail or {}), "request_id": request_id}
    head = _LOCK_HEAD.first(session, {})
    if head is None:
        session.connection().execute(_HEAD.insert(), {"id": 1, "seq": 0, "hash": GENESIS, "changed_seq": 0})
        seq, prev = 0, GENESIS
    else:
        seq, prev = int(head[0]), str(head[1])
    fields = {
        "seq": seq + 1,
        "ts": datetime.now(UTC).isoformat(timespec="microseconds"),
        "actor_id": actor.id if actor else None,
        "actor_roles": ",".join(sorted(actor.roles)) if actor else "system",
        "event_type": event_type,
        "object_type": object_type,
        "object_id": object_id,
        "detail": _canonical(detail or {}),
    }
    digest = digest_of(prev, fields)
    _INSERT_EVENT.execute(session, {**fields, "prev_hash": prev, "hash": digest})
    move = {"s": fields["seq"], "h": digest}
    if event_type in CHANGE_EVENTS:
        _MOVE_HEAD_CHANGED.execute(session, {**move, "c": fields["seq"]})
    else:
        _MOVE_HEAD.execute(session, move)
    return AuditEvent(**fields, prev_hash=prev, hash=digest)  # as written; not in the session


@dataclass(frozen=True)
class Verification:
    ok: bool
    events: int
    first_broken_seq: int | None = None
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "first_broken_seq": self.first_broken_seq,
            "problem": self.problem,
        }


def latest_anchor(session: Session) -> AuditAnchor | None:
    return session.execute(select(AuditAnchor).order_by(AuditAnchor.id.desc()).limit(1)).scalar_one_or_none()


def verify(session: Session, batch: int = 5000) -> Verification:
    """Walk the chain in seq order and report the first event that breaks it.

    After a purge the chain starts from the latest anchor (the last purged event's seq and hash), and
    the `audit.purged` event that wrote the anchor must still be in the chain, naming the same hash.
    """
    anchor = latest_anchor(session)
    prev = anchor.hash if anchor else GENESIS
    expected_seq = anchor.seq + 1 if anchor else 1
    count = 0
    last_seq = expected_seq - 1
    anchor_confirmed = anchor is None
    while True:
        rows = (
            session.execute(
                select(AuditEvent).where(AuditEvent.seq >= expected_seq).order_by(AuditEvent.seq).limit(batch)
            )
            .scalars()
            .all()
        )
        if not rows:
            break
        for ev in rows:
            if ev.seq != expected_seq:
                return Verification(False, count, expected_seq, "event missing or out of order")
            if ev.prev_hash != prev:
                return Verification(False, count, ev.seq, "link to the previous event does not match")
            if _digest(prev, ev) != ev.hash:
                return Verification(False, count, ev.seq, "event content does not match its hash")
            if not anchor_confirmed and ev.event_type == "audit.purged" and anchor is not None:
                d = json.loads(ev.detail)
                anchor_confirmed = d.get("anchor_seq") == anchor.seq and d.get("anchor_hash") == anchor.hash
            prev = ev.hash
            last_seq = ev.seq
            expected_seq += 1
            count += 1
    head = session.get(AuditHead, 1)
    if head is not None and (head.seq != last_seq or head.hash != prev):
        return Verification(False, count, last_seq + 1, "events after this point were removed")
    if not anchor_confirmed:
        return Verification(False, count, anchor.seq + 1 if anchor else None, "the anchor has no purge event")
    return Verification(True, count)


def count(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(AuditEvent)).scalar_one())


def query(
    *,
    event_type: str | None = None,
    object_id: str | None = None,
    actor_id: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> Select[tuple[AuditEvent]]:
    """Events filtered by type, object, actor and time (ISO text, compared as stored: UTC, same form)."""
    q = select(AuditEvent)
    if event_type:
        q = q.where(AuditEvent.event_type == event_type)
    if object_id:
        q = q.where(AuditEvent.object_id == object_id)
    if actor_id:
        q = q.where(AuditEvent.actor_id == actor_id)
    if since:
        q = q.where(AuditEvent.ts >= since)
    if until:
        q = q.where(AuditEvent.ts < until)
    return q
