"""Datasets: registration into the vault, new versions, column levels, and the catalogue view."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from policies.classify import ColumnProposal, classify
from policies.levels import ColumnLevel
from sandbox import audit, quality, sources, vault_keys, versions
from sandbox.api.schemas import ColumnOut, ColumnsIn, DatasetIn, DatasetOut, Page, VersionIn
from sandbox.auth import Role, has_role, new_id, require
from sandbox.catalog import paginate
from sandbox.catalog.models import Column, Dataset, DatasetVersion, User
from sandbox.errors import ErrorCode, SandboxError
from sandbox.runtime import Runtime
from sandbox.sources import Source
from sandbox.sources import ingest as _ingest
from sandbox.vault import StoredVersion
from sandbox.workspace.profile import profile
from sandbox.workspace.units import RESERVED, RESERVED_PREFIX, derive

log = logging.getLogger(__name__)

NUMERIC_PREFIXES = ("int", "uint", "float", "double", "decimal", "halffloat")


def _bounded(rt: Runtime) -> dict[str, Any]:
    return {"memory_mb": rt.settings.registration_memory_mb, "temp_dir": rt.settings.tmp_dir}


def _column_out(c: Column) -> ColumnOut:
    return ColumnOut(
        name=c.name,
        type=c.type,
        level=ColumnLevel(c.level),
        proposed_level=ColumnLevel(c.proposed_level),
        proposal_reason=c.proposal_reason,
        confirmed=c.confirmed,
        pii=c.pii or {},
        name_hint=c.name_hint,
        lower=c.lower,
        upper=c.upper,
        public_keys=c.public_keys,
    )


def dataset_out(session: Session, ds: Dataset) -> DatasetOut:
    ver = current_version(session, ds)
    cols = session.execute(
        select(Column).where(Column.dataset_id == ds.id).order_by(Column.position)
    ).scalars()
    return DatasetOut(
        id=ds.id,
        name=ds.name,
        description=ds.description,
        classification=ds.classification,
        privacy_unit=ds.privacy_unit,
        owner_unit=ds.owner_unit,
        version=ds.current_version,
        rows=ver.rows,
        sha256=ver.sha256,
        max_rows_per_unit=ver.max_rows_per_unit,
        columns=[_column_out(c) for c in cols],
        created_at=ds.created_at,
        source=sources.source_out(session, ds.id),
        held_version=versions.held_out(session, ds.id),
    )


def current_version(session: Session, ds: Dataset) -> DatasetVersion:
    return session.execute(
        select(DatasetVersion).where(
            DatasetVersion.dataset_id == ds.id, DatasetVersion.version == ds.current_version
        )
    ).scalar_one()


def register(
    rt: Runtime,
    actor: User,
    meta: DatasetIn,
    source: Source,
    on_commit: Callable[[Session, str], None] | None = None,
) -> DatasetOut:
    """Connector -> staged Parquet -> profile and classify -> vault + catalog + audit, all or nothing.

    `on_commit(session, dataset_id)` adds rows of its own (the source spec) in the same transaction.
    """
    require(actor, Role.source_unit)
    with rt.catalog.session() as s:
        if s.execute(select(Dataset).where(Dataset.name == meta.name)).scalar_one_or_none():
            raise SandboxError(ErrorCode.dataset_name_taken, name=meta.name)
    staged, fmt = _ingest(rt, source, meta)
    dataset_id = new_id("ds")
    stored: StoredVersion | None = None
    try:
        names = staged_columns(staged)
        _refuse_reserved(names)
        if meta.privacy_unit not in names:
            raise SandboxError(ErrorCode.unknown_column, column=meta.privacy_unit)
        prof = profile(staged, rt.settings.classify_sample_rows, **_bounded(rt))
        proposals = classify(prof.sample, rt.analyzer(), privacy_unit=meta.privacy_unit)
        measured = quality.measure(staged, names, quality.from_proposals(proposals), **_bounded(rt))
        stored, max_rows = _commit_derived(rt, staged, dataset_id, 1, meta.privacy_unit)
        now = datetime.now(UTC)
        with rt.catalog.session() as s:
            ds = Dataset(
                id=dataset_id,
                name=meta.name,
                description=meta.description,
                classification=meta.classification.value,
                privacy_unit=meta.privacy_unit,
                owner_id=actor.id,
                owner_unit=actor.unit,
                current_version=1,
                created_at=now,
            )
            s.add(ds)
            s.flush()
            s.add(_version_row(dataset_id, 1, stored, max_rows, fmt, actor, now, measured))
            vault_keys.store(s, rt, dataset_id, 1, stored)
            by_name = {p.column: p for p in proposals}
            own = [field for field in stored.schema if field.name not in RESERVED]
            for pos, field in enumerate(own):
                s.add(_column_row(dataset_id, pos, field.name, str(field.type), by_name.get(field.name)))
            s.flush()
            if on_commit is not None:
                on_commit(s, dataset_id)
                s.flush()
            audit.record(
                s,
                "dataset.registered",
                actor=actor,
                object_type="dataset",
                object_id=dataset_id,
                detail={
                    "name": meta.name,
                    "version": 1,
                    "sha256": stored.sha256,
                    "rows": stored.rows,
                    "classification": meta.classification.value,
                    "source_format": fmt,
                    "proposed_levels": {p.column: p.level.value for p in proposals},
                },
            )
            return dataset_out(s, ds)
    except IntegrityError:
        if stored is not None:
            rt.vault.discard(dataset_id, 1)
        raise SandboxError(ErrorCode.dataset_name_taken, name=meta.name) from None
    except BaseException:
        if stored is not None:
            rt.vault.discard(dataset_id, 1)
        raise
    finally:
        staged.unlink(missing_ok=True)


def _refuse_reserved(names: list[str]) -> None:
    for name in names:
        if name.startswith(RESERVED_PREFIX):
            raise SandboxError(
                ErrorCode.invalid_request,
                reason=f"column {name!r}: names starting with {RESERVED_PREFIX!r} are reserved",
            )


def _commit_derived(
    rt: Runtime, staged: Path, dataset_id: str, version: int, privacy_unit: str
) -> tuple[StoredVersion, int]:
    """Append the reserved `__unit`/`__rank` columns (units map carried over from the previous version)
    and commit the result, streaming; returns it with the version's most rows of one unit. The staged
    intermediates are removed whatever happens."""
    previous = rt.vault.units_map_of(dataset_id, version - 1) if version > 1 else None
    ranks = staged.with_name(staged.stem + "-ranks.parquet")
    units = staged.with_name(staged.stem + "-units.parquet")
    plain_previous = staged.with_name(staged.stem + "-previous-units.parquet")
    try:
        if previous is not None and previous.exists():
            previous = vault_keys.plain_units_map(rt, dataset_id, version - 1, previous, plain_previous)
        derived = derive(
            staged,
            ranks,
            units,
            privacy_unit,
            previous_map=previous if previous is not None and previous.exists() else None,
            **_bounded(rt),
        )
        stored = rt.vault.commit(
            derived.schema,
            derived.batches(),
            dataset_id,
            version,
            units_map=derived.units_map,
            encrypt=rt.settings.vault_encryption,
        )
        return stored, derived.max_rows_per_unit
    finally:
        ranks.unlink(missing_ok=True)
        units.unlink(missing_ok=True)
        plain_previous.unlink(missing_ok=True)


def staged_columns(path: Path) -> list[str]:
    return list(pq.read_schema(path).names)


def _version_row(
    dataset_id: str,
    version: int,
    stored: StoredVersion,
    max_rows: int,
    fmt: str,
    actor: User,
    now: datetime,
    measured: dict | None = None,
) -> DatasetVersion:
    return DatasetVersion(
        dataset_id=dataset_id,
        version=version,
        path=stored.relative_path,
        sha256=stored.sha256,
        bytes=stored.bytes,
        rows=stored.rows,
        max_rows_per_unit=max_rows,
        null_columns=list(stored.null_columns),
        source_format=fmt,
        created_by=actor.id,
        created_at=now,
        quality=measured,  # sandbox.quality: rates and counts, never values
    )


def _column_row(dataset_id: str, pos: int, name: str, type_: str, p: ColumnProposal | None) -> Column:
    level = p.level if p else ColumnLevel.hidden
    return Column(
        dataset_id=dataset_id,
        name=name,
        position=pos,
        type=type_,
        level=level.value,
        proposed_level=level.value,
        proposal_reason=p.reason if p else "not classified; hidden by default",
        pii=dict(p.entities) if p else {},
        name_hint=p.name_hint if p else None,
        confirmed=False,
    )


def _own_dataset(s: Session, actor: User, dataset_id: str) -> Dataset:
    ds = s.get(Dataset, dataset_id)
    if ds is None or not (ds.owner_id == actor.id or (actor.unit and ds.owner_unit == actor.unit)):
        raise SandboxError(ErrorCode.not_found, kind="dataset")
    return ds


own_dataset = _own_dataset  # for sandbox.sources


def add_version(
    rt: Runtime, actor: User, dataset_id: str, meta: VersionIn, source: Source, trigger: str = "upload"
) -> DatasetOut:
    """A new version; jobs use the current (confirmed) one.

    Same columns and types: it becomes current, levels carry over. Columns added, removed or retyped:
    it is held (see `sandbox.versions`) until the source unit confirms the new columns' levels.
    """
    require(actor, Role.source_unit)
    with rt.catalog.session() as s:
        ds = _own_dataset(s, actor, dataset_id)
        current = {
            c.name: c.type
            for c in s.execute(
                select(Column).where(Column.dataset_id == ds.id).order_by(Column.position)
            ).scalars()
        }
        version = versions.next_version(s, ds.id)
        privacy_unit = ds.privacy_unit
        entities = quality.from_columns(quality.columns_of(s, ds.id))
    staged, fmt = _ingest(rt, source, meta)
    stored: StoredVersion | None = None
    try:
        new_schema = pq.read_schema(staged)
        if privacy_unit not in new_schema.names:
            raise SandboxError(
                ErrorCode.unknown_column, column=privacy_unit, detail={"expected_columns": list(current)}
            )
        _refuse_reserved(new_schema.names)
        change = versions.schema_change(current, new_schema)
        proposals = []
        if change:
            prof = profile(staged, rt.settings.classify_sample_rows, **_bounded(rt))
            proposals = classify(prof.sample, rt.analyzer(), privacy_unit=privacy_unit)
        measured = quality.measure(staged, list(new_schema.names), entities, **_bounded(rt))
        stored, max_rows = _commit_derived(rt, staged, dataset_id, version, privacy_unit)
        now = datetime.now(UTC)
        with rt.catalog.session() as s:
            ds = _own_dataset(s, actor, dataset_id)
            if versions.next_version(s, ds.id) != version:
                raise SandboxError(ErrorCode.invalid_request, reason="another version was added meanwhile")
            row = _version_row(dataset_id, version, stored, max_rows, fmt, actor, now, measured)
            s.add(row)
            vault_keys.store(s, rt, dataset_id, version, stored)
            versions.supersede_held(s, actor, ds.id, version)
            detail = {"version": version, "sha256": stored.sha256, "rows": stored.rows, "trigger": trigger}
            if change:
                row.status = "held"
                row.schema_change = versions.held_change(change, new_schema, proposals)
                s.flush()
                audit.record(
                    s,
                    "dataset.version_held",
                    actor=actor,
                    object_type="dataset",
                    object_id=dataset_id,
                    detail={**detail, **change.summary(), "current_version": ds.current_version},
                )
            else:
                ds.current_version = version
                s.flush()
                audit.record(
                    s,
                    "dataset.version_added",
                    actor=actor,
                    object_type="dataset",
                    object_id=dataset_id,
                    detail=detail,
                )
            return dataset_out(s, ds)
    except BaseException:
        if stored is not None:
            rt.vault.discard(dataset_id, version)
        raise
    finally:
        staged.unlink(missing_ok=True)


def set_columns(rt: Runtime, actor: User, dataset_id: str, change: ColumnsIn) -> DatasetOut:
    """The source unit confirms or changes levels and bounds; each change is validated and audited."""
    require(actor, Role.source_unit)
    with rt.catalog.session() as s:
        ds = _own_dataset(s, actor, dataset_id)
        cols = {c.name: c for c in s.execute(select(Column).where(Column.dataset_id == ds.id)).scalars()}
        held = versions.held_version(s, ds.id)
        pending = versions.pending_columns(held, cols)  # a held version's added/retyped columns
        changes: dict[str, dict[str, object]] = {}
        for name, ch in change.columns.items():
            col = pending.get(name) or cols.get(name)
            if col is None:
                raise SandboxError(ErrorCode.unknown_column, column=name)
            level = ch.level or ColumnLevel(col.level)
            numeric = col.type.startswith(NUMERIC_PREFIXES)
            if name == ds.privacy_unit and level not in (ColumnLevel.join_key, ColumnLevel.hidden):
                raise SandboxError(
                    ErrorCode.level_not_allowed,
                    column=name,
                    level=level.value,
                    reason="the privacy unit may only be join_key or hidden",
                )
            if level == ColumnLevel.aggregate and not numeric:
                raise SandboxError(
                    ErrorCode.level_not_allowed,
                    column=name,
                    level=level.value,
                    reason="only numeric columns can be aggregated",
                )
            lower = ch.lower if ch.lower is not None else col.lower
            upper = ch.upper if ch.upper is not None else col.upper
            if (lower is not None or upper is not None) and (
                not numeric or lower is None or upper is None or lower > upper
            ):
                raise SandboxError(ErrorCode.invalid_bounds, column=name)
            if ch.public_keys is not None and level not in (ColumnLevel.group, ColumnLevel.public):
                raise SandboxError(
                    ErrorCode.level_not_allowed,
                    column=name,
                    level=level.value,
                    reason="public keys apply to group columns",
                )
            changes[name] = {
                "from": col.level,
                "to": level.value,
                "lower": lower,
                "upper": upper,
                "public_keys": len(ch.public_keys) if ch.public_keys is not None else None,
            }
            col.level = level.value
            col.lower, col.upper = lower, upper
            if ch.public_keys is not None:
                col.public_keys = list(ch.public_keys)
            col.confirmed = True
        s.flush()
        audit.record(
            s,
            "dataset.columns_changed",
            actor=actor,
            object_type="dataset",
            object_id=ds.id,
            detail={"columns": changes, **({"held_version": held.version} if held is not None else {})},
        )
        if held is not None:
            versions.confirm_pending(
                s, actor, ds, held, cols, {n: pending[n] for n in change.columns if n in pending}
            )
        return dataset_out(s, ds)


def get(rt: Runtime, actor: User, dataset_id: str) -> DatasetOut:
    with rt.catalog.session() as s:
        ds = s.get(Dataset, dataset_id)
        if ds is None:
            raise SandboxError(ErrorCode.not_found, kind="dataset")
        return dataset_out(s, ds)


def list_(rt: Runtime, actor: User, limit: int = 50, cursor: str | None = None) -> Page[DatasetOut]:
    with rt.catalog.session() as s:
        q = select(Dataset)
        if has_role(actor, Role.source_unit) and not has_role(
            actor, Role.operator, Role.admin, Role.auditor, Role.reviewer
        ):
            q = q.where((Dataset.owner_id == actor.id) | (Dataset.owner_unit == actor.unit))
        rows, next_cursor = paginate(s, q, Dataset.id, limit, cursor)
        return Page(items=[dataset_out(s, d) for d in rows], next_cursor=next_cursor)
