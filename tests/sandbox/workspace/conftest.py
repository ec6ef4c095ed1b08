"""A small vault file seeded with secrets, and views over it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from policies.levels import ColumnLevel
from sandbox.workspace import Limits, ViewSpec, WorkspaceRequest
from sandbox.workspace.units import with_reserved

SECRET_NAME = "SECRET-ALICE"
JOIN_SECRET = b"scenario-key-7"


@pytest.fixture
def people_path(tmp_path: Path) -> Path:
    """person_id (join_key), district (group), income (aggregate), name (hidden), note (hidden)."""
    n = 30
    table = pa.table(
        {
            "person_id": [f"11010119900101{i:04d}" for i in range(n)],
            "district": [["东城", "西城", "朝阳"][i % 3] for i in range(n)],
            "income": [float(1000 * (i % 3 + 1) + i) if i % 10 else None for i in range(n)],
            "name": [SECRET_NAME if i == 0 else f"person {i}" for i in range(n)],
            "note": ["SECRET-NOTE"] * n,
        }
    )
    vault = tmp_path / "vault"
    vault.mkdir()
    path = vault / "people's v1.parquet"  # a quote in the path on purpose
    pq.write_table(with_reserved(table, "person_id"), path)  # as registration writes vault files
    return path


@pytest.fixture
def people_view(people_path: Path) -> ViewSpec:
    return ViewSpec(
        name="people",
        parquet_path=people_path,
        columns=(
            ("person_id", ColumnLevel.join_key),
            ("district", ColumnLevel.group),
            ("income", ColumnLevel.aggregate),
            ("name", ColumnLevel.aggregate),  # granted so a CAST over it can fail on a secret value
            ("note", ColumnLevel.hidden),
        ),
        join_key_secret=JOIN_SECRET,
    )


@pytest.fixture
def work_dir(tmp_path: Path) -> Path:
    path = tmp_path / "job"
    path.mkdir()
    return path


@pytest.fixture
def make_request(people_view: ViewSpec, work_dir: Path) -> Callable[..., WorkspaceRequest]:
    def make(sql: str, limits: Limits | None = None) -> WorkspaceRequest:
        return WorkspaceRequest(
            "job-1", (people_view,), sql, work_dir, limits or Limits(memory_mb=256, timeout_s=30)
        )

    return make
