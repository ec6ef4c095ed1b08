"""Held versions: a new version whose schema changed waits for the source unit before jobs see it.

A column added (or retyped: an amount that became text may now hold names) has no confirmed level,
and levels are what the gate trusts. So such a version is stored with status `held`; the dataset's
`current_version` stays on the last confirmed one, which every job keeps reading. The source unit
confirms the added and retyped columns' levels with `PUT /v1/datasets/{id}/columns` (in one request
or several); when the last one is confirmed the hold is released: the column rows take the new
schema (added rows, new types, removed rows dropped) and the version becomes current.

Only the newest held version can be released: a newer version (held or not) supersedes older held
ones, since its data is fresher.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from policies.classify import ColumnProposal
from policies.levels import ColumnLevel
from sandbox import audit
from sandbox.api.schemas import HeldVersionOut
from sandbox.catalog.models import Column, Dataset, DatasetVersion, User


@dataclass(frozen=True)
class SchemaChange:
    added: dict[str, str] = field(default_factory=dict)  # name -> type
    removed: list[str] = field(default_factory=list)
    retyped: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> {"from", "to"}

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.retyped)

    def summary(self) -> dict[str, Any]:
        return {"added": self.added, "removed": self.removed, "retyped": self.retyped}


def schema_change(current: dict[str, str], new: pa.Schema) -> SchemaChange:
    """Columns added, removed or retyped (by name; order alone is no change)."""
    types = {f.name: str(f.type) for f in new}
    return SchemaChange(
        added={n: t for n, t in types.items() if n not in current},
        removed=[n for n in current if n not in types],
        retyped={
            n: {"from": current[n], "to": t} for n, t in types.items() if n in current and current[n] != t
        },
    )


def held_change(change: SchemaChange, schema: pa.Schema, proposals: list[ColumnProposal]) -> dict[str, Any]:
    """What a held version row stores: the change, proposals for the columns to confirm, the order."""
    by_name = {p.column: p for p in proposals}
    proposed: dict[str, dict[str, Any]] = {}
    for name in [*change.added, *change.retyped]:
        p = by_name.get(name)
        proposed[name] = {
            "level": (p.level if p else ColumnLevel.hidden).value,
            "reason": p.reason if p else "not classified; hidden by default",
            "pii": dict(p.entities) if p else {},
            "name_hint": p.name_hint if p else None,
        }
    return {**change.summary(), "proposed": proposed, "confirmed": {}, "order": list(schema.names)}


def next_version(s: Session, dataset_id: str) -> int:
    top = s.execute(
        select(func.max(DatasetVersion.version)).where(DatasetVersion.dataset_id == dataset_id)
    ).scalar_one()
    return int(top or 0) + 1


def held_version(s: Session, dataset_id: str) -> DatasetVersion | None:
    return (
        s.execute(
            select(DatasetVersion)
            .where(DatasetVersion.dataset_id == dataset_id, DatasetVersion.status == "held")
            .order_by(DatasetVersion.version.desc())
        )
        .scalars()
        .first()
    )


def supersede_held(s: Session, actor: User | None, dataset_id: str, newer: int) -> None:
    for old in s.execute(
        select(DatasetVersion).where(DatasetVersion.dataset_id == dataset_id, DatasetVersion.status == "held")
    ).scalars():
        if old.version == newer:
            continue
        old.status = "superseded"
        audit.record(
            s,
            "dataset.version_superseded",
            actor=actor,
            object_type="dataset",
            object_id=dataset_id,
            detail={"version": old.version, "by": newer},
        )


def pending_columns(held: DatasetVersion | None, cols: dict[str, Column]) -> dict[str, Column]:
    """Unsaved Column rows for a held version's added and retyped columns, at their proposed or
    already confirmed level, so `set_columns` validates a confirmation against the new type."""
    if held is None or not held.schema_change:
        return {}
    change = held.schema_change
    out: dict[str, Column] = {}
    for name in [*change["added"], *change["retyped"]]:
        proposal = change["proposed"].get(name, {})
        confirmed = change["confirmed"].get(name)
        type_ = change["added"].get(name) or change["retyped"][name]["to"]
        level = (confirmed or {}).get("level") or proposal.get("level", ColumnLevel.hidden.value)
        out[name] = Column(
            dataset_id=held.dataset_id,
            name=name,
            position=change["order"].index(name) if name in change["order"] else len(cols),
            type=type_,
            level=level,
            proposed_level=proposal.get("level", ColumnLevel.hidden.value),
            proposal_reason=proposal.get("reason", ""),
            pii=proposal.get("pii", {}),
            name_hint=proposal.get("name_hint"),
            lower=(confirmed or {}).get("lower"),
            upper=(confirmed or {}).get("upper"),
            public_keys=(confirmed or {}).get("public_keys"),
            confirmed=confirmed is not None,
        )
    return out


def confirm_pending(
    s: Session,
    actor: User,
    ds: Dataset,
    held: DatasetVersion,
    cols: dict[str, Column],
    touched: dict[str, Column],
) -> None:
    """Record the confirmations in `touched`; when none is left to confirm, release the hold."""
    change = dict(held.schema_change or {})
    confirmed = dict(change.get("confirmed", {}))
    for name, col in touched.items():
        confirmed[name] = {
            "level": col.level,
            "lower": col.lower,
            "upper": col.upper,
            "public_keys": col.public_keys,
        }
    change["confirmed"] = confirmed
    held.schema_change = change  # a new dict: JSON columns change by assignment
    left = [n for n in [*change["added"], *change["retyped"]] if n not in confirmed]
    if left:
        s.flush()
        return
    pending = pending_columns(held, cols)
    for name in change["removed"]:
        if name in cols:
            s.delete(cols.pop(name))
    for name, new in pending.items():
        if name in cols:  # retyped: the stored row takes the new type and confirmed level
            old = cols[name]
            old.type, old.level, old.confirmed = new.type, new.level, True
            old.lower, old.upper, old.public_keys = new.lower, new.upper, new.public_keys
        else:
            s.add(new)
            cols[name] = new
    for position, name in enumerate(change["order"]):
        if name in cols:
            cols[name].position = position
    previous = ds.current_version
    held.status = "confirmed"
    ds.current_version = held.version
    s.flush()
    audit.record(
        s,
        "dataset.version_confirmed",
        actor=actor,
        object_type="dataset",
        object_id=ds.id,
        detail={"version": held.version, "previous_version": previous, "confirmed": sorted(confirmed)},
    )


def held_out(s: Session, dataset_id: str) -> HeldVersionOut | None:
    held = held_version(s, dataset_id)
    if held is None or not held.schema_change:
        return None
    change = held.schema_change
    return HeldVersionOut(
        version=held.version,
        rows=held.rows,
        sha256=held.sha256,
        added=change["added"],
        removed=change["removed"],
        retyped=change["retyped"],
        proposed={n: {k: p[k] for k in ("level", "reason", "pii")} for n, p in change["proposed"].items()},
        to_confirm=[n for n in [*change["added"], *change["retyped"]] if n not in change["confirmed"]],
    )
