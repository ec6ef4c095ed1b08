"""Datasets read from a database: the stored source spec, its credentials, its refresh schedule.

The whole connector spec (URL and password together) is sealed with the master keyring under the
context `dataset_source:<id>`, so a copied catalog row opens nowhere else and the password is
never in the catalog in plain text. What may be shown is kept beside it in `display`: the kind, the
URL without password or options (`connectors.redact_url`) and the table name. A query's text is not
shown: it is the source unit's, and may quote values.

Schedules follow the sync options the seeds list (one-off, daily, weekly, monthly, quarterly,
half-yearly, yearly); `one-off` is recorded for the catalogue but never re-read.
"""

from __future__ import annotations

import calendar
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

import connectors
from connectors import ConnectorError, FileSpec, redact_url
from sandbox.api.schemas import ConnectorIn, DatasetFromSourceIn, DatasetIn, DatasetOut, SourceOut, VersionIn
from sandbox.catalog.models import DatasetSource, User
from sandbox.errors import ErrorCode, SandboxError
from sandbox.runtime import Runtime

REFRESH_MONTHS = {"monthly": 1, "quarterly": 3, "half-yearly": 6, "yearly": 12}
REFRESH_DAYS = {"daily": 1, "weekly": 7}


def _connector_error(e: ConnectorError) -> SandboxError:
    code = {
        "unsupported_format": ErrorCode.unsupported_format,
        "unknown_encoding": ErrorCode.unknown_encoding,
        "source_unreachable": ErrorCode.source_unreachable,
        "source_auth_failed": ErrorCode.source_auth_failed,
        "source_not_found": ErrorCode.source_not_found,
        "source_query_refused": ErrorCode.source_query_refused,
        "source_read_failed": ErrorCode.source_read_failed,
    }.get(e.code, ErrorCode.malformed_file)
    detail = {"problem": e.problem, "line": e.line, "column": e.column}
    return SandboxError(code, detail=detail, problem=e.problem, line=e.line, column=e.column, format=e.format)


# An uploaded file, or a stored connector spec ({"kind": "postgres", "url": ..., ...}).
Source = Path | Mapping[str, Any]


def ingest(rt: Runtime, source: Source, meta: DatasetIn | VersionIn) -> tuple[Path, str]:
    """Stream a source through its connector into a staged vault file; nothing stays on failure."""
    try:
        if isinstance(source, Path):
            fmt = meta.format or source.suffix.lstrip(".").lower()
            spec: Any = FileSpec(
                path=source,
                format=meta.format,
                encoding=meta.encoding,
                delimiter=meta.delimiter,
                header=meta.header,
                sheet=meta.sheet,
                header_rows=meta.header_rows,
            )
        else:
            fmt = str(source["kind"])
            spec = {"batch_rows": rt.settings.source_batch_rows, **source}
        reader = connectors.open(spec)
        staged = rt.vault.write_staged(reader)
    except ConnectorError as e:
        raise _connector_error(e) from None
    return staged, fmt


def next_refresh(after: datetime, refresh: str | None) -> datetime | None:
    """When a source on this schedule is next due; None for no schedule or one-off.

    >>> next_refresh(datetime(2026, 1, 31, tzinfo=UTC), "monthly").date()
    datetime.date(2026, 2, 28)
    """
    if refresh in REFRESH_DAYS:
        return after + timedelta(days=REFRESH_DAYS[refresh])
    if refresh in REFRESH_MONTHS:
        month0 = after.month - 1 + REFRESH_MONTHS[refresh]
        year, month = after.year + month0 // 12, month0 % 12 + 1
        day = min(after.day, calendar.monthrange(year, month)[1])
        return after.replace(year=year, month=month, day=day)
    return None


def _context(dataset_id: str) -> str:
    return f"dataset_source:{dataset_id}"


def spec_of(connector: ConnectorIn) -> dict[str, Any]:
    """The mapping `connectors.open` takes; only ever kept sealed."""
    spec: dict[str, Any] = {"kind": connector.kind, "url": connector.url}
    for key in ("table", "query", "password"):
        value = getattr(connector, key)
        if value is not None:
            spec[key] = value
    return spec


def open_spec(rt: Runtime, source: DatasetSource) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(rt.keyring.open(source.sealed_spec, _context(source.dataset_id)))
    return spec


def register_from_source(rt: Runtime, actor: User, meta: DatasetFromSourceIn) -> DatasetOut:
    """Register a dataset by reading its database source; the sealed spec is stored in the same commit."""
    from sandbox import datasets

    spec = spec_of(meta.connector)
    now = datetime.now(UTC)

    def keep_source(s: Session, dataset_id: str) -> None:
        s.add(
            DatasetSource(
                dataset_id=dataset_id,
                kind=meta.connector.kind,
                display={
                    "kind": meta.connector.kind,
                    "url": redact_url(meta.connector.url),
                    "table": meta.connector.table,
                    "query": meta.connector.query is not None,
                },
                sealed_spec=rt.keyring.seal(json.dumps(spec).encode("utf-8"), _context(dataset_id)),
                refresh=meta.refresh,
                next_refresh_at=next_refresh(now, meta.refresh),
                last_refresh_at=now,
            )
        )

    return datasets.register(rt, actor, meta, spec, on_commit=keep_source)


def version_from_source(rt: Runtime, actor: User, dataset_id: str, trigger: str = "request") -> DatasetOut:
    """Re-read the dataset's stored source as a new version (held if its schema changed)."""
    from sandbox import datasets

    with rt.catalog.session() as s:
        datasets.own_dataset(s, actor, dataset_id)
        source = s.get(DatasetSource, dataset_id)
        if source is None:
            raise SandboxError(ErrorCode.no_source, dataset_id=dataset_id)
        spec = open_spec(rt, source)
    return datasets.add_version(rt, actor, dataset_id, VersionIn(), spec, trigger=trigger)


def source_out(s: Session, dataset_id: str) -> SourceOut | None:
    source = s.get(DatasetSource, dataset_id)
    if source is None:
        return None
    return SourceOut(
        kind=source.kind,
        url=source.display.get("url", ""),
        table=source.display.get("table"),
        query=bool(source.display.get("query")),
        refresh=source.refresh,
        next_refresh_at=source.next_refresh_at,
        last_refresh_at=source.last_refresh_at,
        last_error=source.last_error,
    )
