"""Release: a reviewed output becomes artifacts (CSV, JSON, Parquet) with their sha256.

Only the submitting operator downloads them, and only once the job is released.

What the files hold (docs/outputs.md): the operator's columns, then for an SDC release one
`<column>__flag` per column (NULL, or the rule code that withheld the cell, or `rounded`; the same
row and column as `check_report.sdc.suppressed`), then the row mark `suppressed`. A withheld cell is
NULL in Parquet and JSON and reads `[c]` in CSV, so it is never mistaken for a real NULL and no row
is dropped. A dp release has no flags (nothing is withheld; its noise is in the check report).

The approving transaction moves the job to released first (a conditional update: a decision that
loses the race stops there, before writing anything), then writes the files to a staging directory;
they are moved to `releases/<job id>/` only once it commits (`publish`), and removed if it does not
(`discard`). So no file exists without its release row, and a job has one release.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from sqlalchemy.orm import Session

from policies.privacy import sdc
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


def write_artifacts(table: pa.Table, staging: Path, final: Path) -> dict[str, dict[str, Any]]:
    """Write all formats into `staging`; the paths recorded are those they will have under `final`."""
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    pacsv.write_csv(sdc.marked_for_csv(table), staging / "result.csv")
    pq.write_table(table, staging / "result.parquet")
    rows = [{k: _json_value(v) for k, v in r.items()} for r in table.to_pylist()]
    (staging / "result.json").write_text(
        json.dumps({"columns": table.column_names, "rows": rows}, ensure_ascii=False, default=str),
        encoding="utf-8",
    )
    return {
        fmt: {
            "path": str(final / f"result.{fmt}"),
            "sha256": sha256_file(staging / f"result.{fmt}"),
            "bytes": (staging / f"result.{fmt}").stat().st_size,
        }
        for fmt in FORMATS
    }


@dataclass(frozen=True)
class Staged:
    """A release's files, written but not yet in place: `publish` after the commit, else `discard`."""

    staging: Path
    final: Path


def create(rt: Runtime, s: Session, job: Job, actor: User) -> Staged:
    """Called inside the approving transaction, after the job moved to released: stages the
    artifacts and records the release; the caller publishes them once the transaction commits."""
    from sandbox.run import candidate_path

    table = pq.read_table(candidate_path(rt, job.id))
    final = rt.settings.releases_dir / job.id
    staged = Staged(final.with_name(f".{job.id}.{uuid.uuid4().hex}.staging"), final)
    try:
        artifacts = write_artifacts(table, staged.staging, final)
        rel = Release(job_id=job.id, artifacts=artifacts, created_at=datetime.now(UTC))
        s.add(rel)
        s.flush()
    except BaseException:
        discard(staged)
        raise
    fields = sum(1 for name in table.column_names if not name.endswith(sdc.FLAG_SUFFIX))
    metering.record_release(s, job, table.num_rows, fields)  # the flags are not data: not metered
    audit.record(
        s,
        "release.created",
        actor=actor,
        object_type="release",
        object_id=job.id,
        detail={f: {"sha256": a["sha256"], "bytes": a["bytes"]} for f, a in artifacts.items()},
    )
    return staged


def publish(staged: Staged) -> None:
    """Move committed artifacts into place. A directory already there is no release's (left by an
    older version, which moved files before committing): the job's one release row is this one."""
    if staged.final.exists():
        shutil.rmtree(staged.final)
    os.replace(staged.staging, staged.final)


def discard(staged: Staged) -> None:
    """Remove the files of a release that did not commit."""
    shutil.rmtree(staged.staging, ignore_errors=True)


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
        if not Path(art["path"]).is_file():  # committed a moment ago and not yet moved into place
            raise SandboxError(ErrorCode.not_released, job_id=job_id, state="released")
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
        if not Path(art["path"]).is_file():
            raise SandboxError(ErrorCode.not_released, job_id=job_id, state="released")
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
