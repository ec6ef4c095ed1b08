"""Read sources into Arrow record batches. Knows nothing of policies or HTTP.

`open(spec)` is the one entry: it looks the spec's kind up in a small registry of openers, which is
also how an extension adds a source (`register("sftp", FileLikeSpec, open_sftp)`). A spec is either a
dataclass (`FileSpec`, `DatabaseSpec`) or a plain mapping with a "kind" key, as the API stores it:

>>> open({"kind": "postgres", "url": "postgresql://etl@db/stats", "table": "households"})  # doctest: +SKIP
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from connectors.database import DatabaseSpec, redact_url, url_kind
from connectors.errors import ConnectorError
from connectors.files import FileSpec, detect_format, open_file

__all__ = [
    "ConnectorError",
    "DatabaseSpec",
    "FileSpec",
    "Opener",
    "detect_format",
    "kinds",
    "open",
    "open_file",
    "redact_url",
    "register",
    "url_kind",
]

Opener = Callable[[Any], pa.RecordBatchReader]


@dataclass(frozen=True)
class _Entry:
    build: Callable[[Mapping[str, Any]], Any]  # a stored mapping -> the opener's spec
    open: Opener


_REGISTRY: dict[str, _Entry] = {}


def register(kind: str, build: Callable[[Mapping[str, Any]], Any], opener: Opener) -> None:
    """Add (or replace) a source kind."""
    _REGISTRY[kind] = _Entry(build, opener)


def kinds() -> builtins.list[str]:
    return sorted(_REGISTRY)


def open(spec: Any) -> pa.RecordBatchReader:
    """A reader for `spec`: a FileSpec, a DatabaseSpec, or a mapping whose "kind" names a registered kind."""
    if isinstance(spec, FileSpec):
        return _REGISTRY["excel" if (spec.format or "") == "xlsx" else "file"].open(spec)
    if isinstance(spec, DatabaseSpec):
        return _REGISTRY[spec.kind].open(spec)
    if isinstance(spec, Mapping):
        entry = _REGISTRY.get(str(spec.get("kind")))
        if entry is None:
            raise ConnectorError("unsupported_format", "unknown source kind")
        return entry.open(entry.build(spec))
    raise ConnectorError("unsupported_format", "unknown source kind")


def _file(spec: Mapping[str, Any]) -> FileSpec:
    return FileSpec(
        path=Path(spec["path"]),
        format=spec.get("format"),
        encoding=spec.get("encoding"),
        delimiter=spec.get("delimiter"),
        header=spec.get("header"),
    )


def _excel(spec: Mapping[str, Any]) -> FileSpec:
    return FileSpec(
        path=Path(spec["path"]), format="xlsx", sheet=spec.get("sheet"), header_rows=spec.get("header_rows")
    )


def _database(kind: str) -> Callable[[Mapping[str, Any]], DatabaseSpec]:
    def build(spec: Mapping[str, Any]) -> DatabaseSpec:
        extra = {"batch_rows": int(spec["batch_rows"])} if spec.get("batch_rows") else {}
        return DatabaseSpec(
            kind=kind,  # type: ignore[arg-type]
            url=str(spec["url"]),
            table=spec.get("table"),
            query=spec.get("query"),
            password=spec.get("password"),
            **extra,
        )

    return build


def _open_postgres(spec: DatabaseSpec) -> pa.RecordBatchReader:
    from connectors.postgres import open_postgres  # the driver loads only when used

    return open_postgres(spec)


def _open_mysql(spec: DatabaseSpec) -> pa.RecordBatchReader:
    from connectors.mysql import open_mysql

    return open_mysql(spec)


register("file", _file, open_file)
register("excel", _excel, open_file)
register("postgres", _database("postgres"), _open_postgres)
register("mysql", _database("mysql"), _open_mysql)
