"""Types the tests share, in a plain module: several directories have a conftest.py, so
`from conftest import X` would find whichever conftest was imported first."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.csv as pacsv

from sandbox.auth import new_id
from sandbox.catalog import Catalog
from sandbox.catalog.models import Job, Scenario
from sandbox.jobs import JobState, advance
from sandbox.settings import Settings


@dataclass
class Stack:
    """A running server and one client per role (plus a second operator and an operator-reviewer)."""

    url: str
    settings: Settings
    clients: dict[str, httpx.Client]
    user_ids: dict[str, str]
    tokens: dict[str, str] = field(default_factory=dict)  # name -> bearer token (for sandbox.client / CLI)

    def __getitem__(self, who: str) -> httpx.Client:
        return self.clients[who]


def register_table(
    stack: Stack, table: pa.Table, name: str = "residents", privacy_unit: str = "resident_id"
) -> dict[str, Any]:
    """Register `table` as a `general` CSV dataset through the API, as the source unit."""
    buf = io.BytesIO()
    pacsv.write_csv(table, buf)
    metadata = {"name": name, "classification": "general", "privacy_unit": privacy_unit}
    r = stack["source"].post(
        "/v1/datasets",
        files={"file": (f"{name}.csv", buf.getvalue(), "text/csv")},
        data={"metadata": json.dumps(metadata)},
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def running_job(catalog: Catalog, operator_id: str) -> str:
    """A job in `running` under an approved scenario, written straight to the catalog (no workspace)."""
    now = datetime.now(UTC)
    with catalog.session() as s:
        sc = Scenario(
            id=new_id("scn"),
            name="s",
            purpose="p",
            operator_id=operator_id,
            grants={},
            modes=["sdc"],
            expires_at=now + timedelta(days=1),
            state="approved",
            join_key_secret="0" * 64,
            created_at=now,
        )
        s.add(sc)
        s.flush()
        job = Job(
            id=new_id("job"),
            scenario_id=sc.id,
            submitter_id=operator_id,
            sql="SELECT 1",
            mode="sdc",
            state=JobState.running,
            created_at=now,
            updated_at=now,
        )
        s.add(job)
        return job.id


def fail(catalog: Catalog, job_id: str) -> None:
    with catalog.session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        advance(s, job, JobState.failed, actor=None, reason_code="query_failed")
