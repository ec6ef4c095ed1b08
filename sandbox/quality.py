"""Data quality reports: measured at registration (`sandbox.workspace.quality`), kept per version.

The source unit that owns a dataset sees its reports (the seeds ask for quality feedback to source
units); admins see them too. A report holds rates and counts only, never a value. Operators see none:
a null rate or a validity rate is a fact about the data that the schema does not already show.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from policies.classify import FOUND_SHARE, ColumnProposal
from sandbox.auth import Role, has_role, require
from sandbox.catalog.models import Column, Dataset, DatasetVersion, User
from sandbox.errors import ErrorCode, SandboxError
from sandbox.runtime import Runtime
from sandbox.workspace.quality import VALIDATORS
from sandbox.workspace.quality import quality as measure_file


def entity_of(pii: dict[str, float] | None, hint: str | None) -> str | None:
    """The entity a column's values are checked against: the one found most, else the name hint."""
    found = [e for e, share in sorted((pii or {}).items(), key=lambda kv: -kv[1]) if share >= FOUND_SHARE]
    entity = found[0] if found else hint
    return entity if entity in VALIDATORS else None


def measure(
    path: Path, columns: list[str], entities: dict[str, str | None], **bounded: Any
) -> dict[str, Any]:
    """`bounded`: `memory_mb` and `temp_dir` for DuckDB, as registration's other passes take them."""
    return measure_file(path, columns, {c: e for c, e in entities.items() if e}, **bounded)


def from_proposals(proposals: list[ColumnProposal]) -> dict[str, str | None]:
    return {p.column: entity_of(p.entities, p.name_hint) for p in proposals}


def from_columns(columns: list[Column]) -> dict[str, str | None]:
    return {c.name: entity_of(c.pii, c.name_hint) for c in columns}


def report(rt: Runtime, actor: User, dataset_id: str) -> dict[str, Any]:
    """Every version's report of a dataset, newest first, for its source unit or an admin."""
    require(actor, Role.source_unit, Role.admin)
    with rt.catalog.session() as s:
        ds = s.get(Dataset, dataset_id)
        owner = ds is not None and (
            ds.owner_id == actor.id or (actor.unit is not None and ds.owner_unit == actor.unit)
        )
        if ds is None or not (owner or has_role(actor, Role.admin)):
            raise SandboxError(ErrorCode.not_found, kind="dataset")
        versions = s.execute(
            select(DatasetVersion)
            .where(DatasetVersion.dataset_id == ds.id)
            .order_by(DatasetVersion.version.desc())
        ).scalars()
        return {
            "dataset_id": ds.id,
            "versions": [{"version": v.version, "quality": v.quality} for v in versions],
        }


def columns_of(s: Any, dataset_id: str) -> list[Column]:
    return list(s.execute(select(Column).where(Column.dataset_id == dataset_id)).scalars())
