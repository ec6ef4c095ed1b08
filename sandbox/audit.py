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
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sandbox.catalog.models import AuditEvent, AuditHead, User

GENESIS = "0" * 64

# Every event type the runtime writes; docs/audit.md lists each one (a test keeps them in step).
EVENT_TYPES: dict[str, str] = {
    "user.created": "a user was added with roles and a token",
    "dataset.registered": "a dataset and its first version entered the vault",
    "dataset.version_added": "a new version of a dataset entered the vault",
    "dataset.columns_changed": "the source unit confirmed or changed column levels or bounds",
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
    "release.created": "release artifacts were written with their sha256",
    "release.downloaded": "the submitting operator downloaded a released artifact",
}


def _canonical(fields: dict[str, Any]) -> str:
    return json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _digest(prev_hash: str, ev: AuditEvent) -> str:
    body = _canonical(
        {
            "seq": ev.seq,
            "ts": ev.ts,
            "actor_id": ev.actor_id,
            "actor_roles": ev.actor_roles,
            "event_type": ev.event_type,
            "object_type": ev.object_type,
            "object_id": ev.object_id,
            "detail": ev.detail,
        }
    )
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


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
    head = session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one_or_none()
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS)
        session.add(head)
        session.flush()
    ev = AuditEvent(
        seq=head.seq + 1,
        ts=datetime.now(UTC).isoformat(timespec="microseconds"),
        actor_id=actor.id if actor else None,
        actor_roles=",".join(sorted(actor.roles)) if actor else "system",
        event_type=event_type,
        object_type=object_type,
        object_id=object_id,
        detail=_canonical(detail or {}),
        prev_hash=head.hash,
        hash="",
    )
    ev.hash = _digest(head.hash, ev)
    session.add(ev)
    head.seq = ev.seq
    head.hash = ev.hash
    session.flush()
    return ev


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


def verify(session: Session, batch: int = 5000) -> Verification:
    """Walk the chain in seq order and report the first event that breaks it."""
    prev = GENESIS
    expected_seq = 1
    count = 0
    last_seq = 0
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
            prev = ev.hash
            last_seq = ev.seq
            expected_seq += 1
            count += 1
    head = session.get(AuditHead, 1)
    if head is not None and (head.seq != last_seq or head.hash != prev):
        return Verification(False, count, last_seq + 1, "events after this point were removed")
    return Verification(True, count)


def count(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(AuditEvent)).scalar_one())
