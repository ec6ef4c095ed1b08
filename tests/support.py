"""Types the tests share, in a plain module: several directories have a conftest.py, so
`from conftest import X` would find whichever conftest was imported first."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.csv as pacsv

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
