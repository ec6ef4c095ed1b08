"""Exporting a time range of the audit chain for offline checks, and purging past the retention.

An export is JSON lines: a header naming the hash *before* the first exported event (the anchor a
third party checks against a previous export or a published head), one line per event with exactly
the stored, hashed fields, and a trailer with the last exported hash and the chain's head at export
time. `verify_lines` needs nothing but the file: it recomputes every hash from the header's anchor
and names the first line that does not match.

Purging deletes a prefix of the chain older than `before`, refused while `before` is within the
retention (default 5 years: seeds O18/O19). It writes an `AuditAnchor` (the last purged seq and
hash) and an `audit.purged` event naming it, so `audit.verify` starts from the anchor and still passes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from sandbox import audit
from sandbox.catalog.models import AuditAnchor, AuditEvent, AuditHead, User
from sandbox.errors import ErrorCode, SandboxError
from sandbox.runtime import Runtime

FORMAT = "sandbox-audit-export/1"


def iso(dt: datetime) -> str:
    """A cut-off in the stored ts format (UTC, microseconds), so text comparison orders correctly."""
    dt = dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


def _line(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"


def export(s: Session, since: datetime | None, until: datetime | None, batch: int = 2000) -> Iterator[str]:
    """The lines of an export of events with since <= ts < until (either end open)."""
    q = select(AuditEvent)
    if since is not None:
        q = q.where(AuditEvent.ts >= iso(since))
    if until is not None:
        q = q.where(AuditEvent.ts < iso(until))
    first = s.execute(q.order_by(AuditEvent.seq).limit(1)).scalar_one_or_none()
    head = s.get(AuditHead, 1)
    head_seq, head_hash = (head.seq, head.hash) if head else (0, audit.GENESIS)
    if first is not None:
        anchor_seq, anchor_hash = first.seq - 1, first.prev_hash
    else:  # an empty range: anchor at the last event before it
        before = select(AuditEvent)
        if since is not None:
            before = before.where(AuditEvent.ts < iso(since))
        last = s.execute(before.order_by(AuditEvent.seq.desc()).limit(1)).scalar_one_or_none()
        anchor_seq, anchor_hash = (last.seq, last.hash) if last else (0, audit.GENESIS)
    yield _line(
        {
            "kind": "header",
            "format": FORMAT,
            "since": iso(since) if since else None,
            "until": iso(until) if until else None,
            "anchor_seq": anchor_seq,
            "anchor_hash": anchor_hash,
            "exported_at": iso(datetime.now(UTC)),
        }
    )
    count, last_seq, last_hash = 0, anchor_seq, anchor_hash
    cursor = anchor_seq
    while True:
        page = q.where(AuditEvent.seq > cursor).order_by(AuditEvent.seq).limit(batch)
        rows = list(s.execute(page).scalars())
        if not rows:
            break
        for ev in rows:
            yield _line({"kind": "event", **audit.fields_of(ev), "prev_hash": ev.prev_hash, "hash": ev.hash})
            count, last_seq, last_hash, cursor = count + 1, ev.seq, ev.hash, ev.seq
    yield _line(
        {
            "kind": "trailer",
            "events": count,
            "last_seq": last_seq,
            "last_hash": last_hash,
            "head_seq": head_seq,
            "head_hash": head_hash,
        }
    )


def export_text(rt: Runtime, user: User | None, since: datetime | None, until: datetime | None) -> str:
    """The export's text, read in one transaction (one consistent snapshot), and an `audit.exported`
    event naming the range and the anchor hashes (actor None: the local CLI)."""
    with rt.catalog.session() as s:
        lines = list(export(s, since, until))
        header, trailer = json.loads(lines[0]), json.loads(lines[-1])
        audit.record(
            s,
            "audit.exported",
            actor=user,
            object_type="audit",
            object_id=f"{header['anchor_seq'] + 1}-{trailer['last_seq']}",
            detail={
                "since": header["since"],
                "until": header["until"],
                "events": trailer["events"],
                "anchor_hash": header["anchor_hash"],
                "last_hash": trailer["last_hash"],
            },
        )
    return "".join(lines)


@dataclass(frozen=True)
class FileVerification:
    ok: bool
    events: int
    line: int | None = None  # 1-based line of the first problem
    seq: int | None = None
    problem: str | None = None
    anchor_hash: str | None = None
    last_hash: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Walk:
    """The state of an offline check, one line at a time; `step` returns a problem or None."""

    def __init__(self) -> None:
        self.prev: str | None = None
        self.anchor: str | None = None
        self.expected = 0
        self.count = 0
        self.seq: int | None = None
        self.done = False

    def step(self, raw: str) -> str | None:
        self.seq = None
        try:
            obj = json.loads(raw)
            kind = obj["kind"]
        except (ValueError, KeyError, TypeError):
            return "not an export line"
        if self.done:
            return "lines after the trailer"
        if kind == "header":
            if self.prev is not None or obj.get("format") != FORMAT:
                return "unexpected header"
            self.prev = self.anchor = obj["anchor_hash"]
            self.expected = int(obj["anchor_seq"]) + 1
            return None
        if self.prev is None:
            return "line before the header"
        if kind == "trailer":
            if obj.get("events") != self.count or obj.get("last_hash") != self.prev:
                return "trailer does not match the events (lines removed at the end?)"
            self.done = True
            return None
        if kind != "event":
            return "unknown line kind"
        try:
            fields = {k: obj[k] for k in audit.HASHED}
            self.seq, stored_prev, stored = int(obj["seq"]), obj["prev_hash"], obj["hash"]
        except (KeyError, TypeError, ValueError):
            return "event line lacks a hashed field"
        if self.seq != self.expected:
            return "event missing or out of order"
        if stored_prev != self.prev:
            return "link to the previous event does not match"
        if audit.digest_of(self.prev, fields) != stored:
            return "event content does not match its hash"
        self.prev, self.expected, self.count = stored, self.expected + 1, self.count + 1
        return None


def verify_lines(lines: Iterable[str]) -> FileVerification:
    """Check an export offline: every event links to the one before and hashes to its stored hash."""
    walk = _Walk()
    n = 0
    for n, raw in enumerate(lines, start=1):
        if raw.strip() and (problem := walk.step(raw)) is not None:
            return FileVerification(False, walk.count, n, walk.seq, problem, walk.anchor, walk.prev)
    if not walk.done:
        problem = "no trailer: the export is truncated"
        return FileVerification(False, walk.count, n + 1, None, problem, walk.anchor, walk.prev)
    return FileVerification(True, walk.count, None, None, None, walk.anchor, walk.prev)


@dataclass(frozen=True)
class Purged:
    events: int
    anchor_seq: int
    anchor_hash: str
    before: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def purge(s: Session, before: datetime, retention_days: int, actor: User | None) -> Purged:
    """Delete the chain's prefix older than `before`; refused if `before` is within the retention."""
    cutoff = datetime.now(UTC) - timedelta(days=retention_days)
    before = before if before.tzinfo else before.replace(tzinfo=UTC)
    if before > cutoff:
        raise SandboxError(ErrorCode.retention_not_reached, days=retention_days, cutoff=iso(cutoff)[:10])
    # Only a contiguous prefix goes: everything up to the last event older than `before`.
    last = s.execute(
        select(AuditEvent).where(AuditEvent.ts < iso(before)).order_by(AuditEvent.seq.desc()).limit(1)
    ).scalar_one_or_none()
    if last is None:
        anchor = audit.latest_anchor(s)
        return Purged(0, anchor.seq if anchor else 0, anchor.hash if anchor else audit.GENESIS, iso(before))
    through, anchor_hash = last.seq, last.hash
    counted = select(func.count()).select_from(AuditEvent).where(AuditEvent.seq <= through)
    n = int(s.execute(counted).scalar_one())
    s.execute(delete(AuditEvent).where(AuditEvent.seq <= through))
    s.add(
        AuditAnchor(
            seq=through,
            hash=anchor_hash,
            purged_before=iso(before),
            purged_events=n,
            created_at=datetime.now(UTC),
        )
    )
    s.flush()
    audit.record(
        s,
        "audit.purged",
        actor=actor,
        object_type="audit",
        object_id=f"through-{through}",
        detail={
            "anchor_seq": through,
            "anchor_hash": anchor_hash,
            "events": n,
            "before": iso(before),
            "retention_days": retention_days,
        },
    )
    return Purged(n, through, anchor_hash, iso(before))
