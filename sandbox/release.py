"""Release: a reviewed output becomes artifacts (CSV, JSON, Parquet) with their sha256.

Only the submitting operator downloads them, and only once the job is released.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from sqlalchemy.orm import Session

from sandbox import audit, metering
from sandbox.auth import Role, require
from sandbox.catalog.models import Job, Release, User
from sandbox.errors import ErrorCode, SandboxError
from sandbox.runtime import Runtime
from sandbox.vault import sha256_file

FORMATS = ("csv", "json", "parquet")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "parquet": "application/vnd.apache.parquet",
}


def _json_value(v: Any) -> Any:
    if isinstance(v, float) and v != v:  # NaN is not JSON
        return None
    if isinstance(v, Decimal):  # DuckDB sums integers as HUGEINT, which Arrow carries as decimal
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, (datetime,)):
        return v.isoformat()
    return v


def write_artifacts(table: pa.Table, out_dir: Path) -> dict[str, dict[str, Any]]:
    """Write all formats into a staging directory, then move it into place whole."""
    staging = out_dir.with_name(out_dir.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    pacsv.write_csv(table, staging / "result.csv")
    pq.write_table(table, staging / "result.parquet")
    rows = [{k: _json_value(v) for k, v in r.items()} for r in table.to_pylist()]
    (staging / "result.json").write_text(
        json.dumps({"columns": table.column_names, "rows": rows}, ensure_ascii=False, default=str),
        encoding="utf-8",
    )
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(staging, out_dir)
    return {
        fmt: {
            "path": str(out_dir / f"result.{fmt}"),
            "sha256": sha256_file(out_dir / f"result.{fmt}"),
            "bytes": (out_dir / f"result.{fmt}").stat().st_size,
        }
        for fmt in FORMATS
    }


def create(rt: Runtime, s: Session, job: Job, actor: User) -> Release:
    """Called inside the approving transaction, after the artifacts are written."""
    from sandbox.run import candidate_path

    table = pq.read_table(candidate_path(rt, job.id))
    artifacts = write_artifacts(table, rt.settings.releases_dir / job.id)
    rel = Release(job_id=job.id, artifacts=artifacts, created_at=datetime.now(UTC))
    s.add(rel)
    s.flush()
    metering.record_release(s, job, table.num_rows, table.num_columns)
    audit.record(
        s,
        "release.created",
        actor=actor,
        object_type="release",
        object_id=job.id,
        detail={f: {"sha256": a["sha256"], "bytes": a["bytes"]} for f, a in artifacts.items()},
    )
    return rel


def _own_release(s: Session, actor: User, job_id: str) -> Release:
    """The release of the operator's own, released job; anyone else's job is simply not found."""
    require(actor, Role.operator)
    job = s.get(Job, job_id)
    if job is None or job.submitter_id != actor.id:
        raise SandboxError(ErrorCode.not_found, kind="job")
    rel = s.get(Release, job.id)
    if job.state != "released" or rel is None:
        raise SandboxError(ErrorCode.not_released, job_id=job.id, state=job.state)
    return rel


def download(rt: Runtime, actor: User, job_id: str, fmt: str) -> tuple[Path, str, str]:
    """The released artifact of the operator's own job: (path, media type, sha256)."""
    require(actor, Role.operator)
    if fmt not in FORMATS:
        raise SandboxError(ErrorCode.invalid_request, reason=f"format must be one of {', '.join(FORMATS)}")
    with rt.catalog.session() as s:
        rel = _own_release(s, actor, job_id)
        art = rel.artifacts[fmt]
        audit.record(
            s,
            "release.downloaded",
            actor=actor,
            object_type="release",
            object_id=job_id,
            detail={"format": fmt, "sha256": art["sha256"]},
        )
        return Path(art["path"]), MEDIA_TYPES[fmt], art["sha256"]


def view(rt: Runtime, actor: User, job_id: str) -> tuple[list[str], list[list[Any]]]:
    """The released output of the operator's own job as columns and rows (the console's table and
    chart); the same checks as `download`, audited as a view."""
    with rt.catalog.session() as s:
        rel = _own_release(s, actor, job_id)
        art = rel.artifacts["json"]
        audit.record(
            s,
            "release.viewed",
            actor=actor,
            object_type="release",
            object_id=job_id,
            detail={"format": "json", "sha256": art["sha256"]},
        )
    data = json.loads(Path(art["path"]).read_text(encoding="utf-8"))
    return list(data["columns"]), [[r.get(c) for c in data["columns"]] for r in data["rows"]]
