"""Released files over real HTTP: per-cell suppression flags in every format, and racing decisions.

The small district (6 residents, not a declared public key) is withheld by `min_units`, its key by
`key_not_public`, and the smallest other district by `secondary`; the files say so per cell.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import threading
import time
from typing import Any

import httpx
import pyarrow.parquet as pq
from support import Stack, register_table

from sandbox.auth import Role, add_user
from sandbox.demo_data import residents
from sandbox.runtime import Runtime

SMALL = "大鹏新区"
SQL = (
    "SELECT district, COUNT(*) AS n, AVG(income) AS avg_income FROM residents "
    "GROUP BY district ORDER BY district"
)
OUTPUTS = ("district", "n", "avg_income")


def _pending_job(stack: Stack) -> tuple[str, str]:
    """A scenario over 600 residents and one job in it waiting for review: (scenario id, job id)."""
    table = residents(600, seed=21)
    ds = register_table(stack, table)["id"]
    public = sorted(set(table.column("district").to_pylist()) - {SMALL})
    columns = {
        "resident_id": {"level": "join_key"},
        "district": {"level": "group", "public_keys": public},
        "income": {"level": "aggregate", "lower": 0, "upper": 5_000_000},
    }
    assert stack["source"].put(f"/v1/datasets/{ds}/columns", json={"columns": columns}).status_code == 200
    body = {"name": "sdc", "purpose": "tests", "datasets": {ds: list(columns)}, "modes": ["sdc"]}
    r = stack["operator"].post("/v1/scenarios", json=body)
    assert r.status_code == 201, r.text
    sc = r.json()["id"]
    assert stack["admin"].post(f"/v1/scenarios/{sc}/approve", json={"reason": "ok"}).status_code == 200
    r = stack["operator"].post("/v1/jobs", json={"scenario_id": sc, "sql": SQL, "mode": "sdc"})
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 60
    while True:
        job = stack["operator"].get(f"/v1/jobs/{r.json()['id']}", params={"wait": 5}).json()
        if job["state"] not in ("queued", "running", "checking") or time.monotonic() > deadline:
            break
    assert job["state"] == "pending_review", job
    return sc, job["id"]


def _cells(columns: list[str], rows: list[list[Any]]) -> dict[tuple[int, str], str]:
    """The flagged cells of a table given as columns and rows: (row, output) -> flag."""
    return {
        (i, name): row[columns.index(f"{name}__flag")]
        for i, row in enumerate(rows)
        for name in OUTPUTS
        if row[columns.index(f"{name}__flag")] is not None
    }


def test_released_files_mark_each_suppressed_cell_with_its_rule(stack: Stack) -> None:
    sc, job_id = _pending_job(stack)
    job = stack["operator"].get(f"/v1/jobs/{job_id}").json()
    reported = {(c["row"], c["column"]): c["rule"] for c in job["check_report"]["sdc"]["suppressed"]}
    assert set(reported.values()) == {"min_units", "key_not_public", "secondary"}, reported
    expected_columns = [*OUTPUTS, *(f"{n}__flag" for n in OUTPUTS), "suppressed"]

    cand = stack["reviewer"].get(f"/v1/reviews/{job_id}").json()
    assert cand["columns"] == expected_columns and _cells(cand["columns"], cand["rows"]) == reported
    dry = stack["operator"].post("/v1/jobs/dry-run", json={"scenario_id": sc, "sql": SQL}).json()
    assert dry["synthetic"] and dry["columns"] == expected_columns  # the same markers, on synthetic rows
    dry_reported = {(c["row"], c["column"]): c["rule"] for c in dry["check_report"]["sdc"]["suppressed"]}
    assert _cells(dry["columns"], dry["rows"]) == dry_reported

    r = stack["reviewer"].post(f"/v1/reviews/{job_id}", json={"decision": "approve", "reason": "ok"})
    assert r.status_code == 200 and r.json()["job_state"] == "released", r.text

    def download(fmt: str) -> bytes:
        resp = stack["operator"].get(f"/v1/jobs/{job_id}/result", params={"format": fmt})
        assert resp.status_code == 200, resp.text
        return resp.content

    parquet = pq.read_table(io.BytesIO(download("parquet")))
    assert parquet.column_names == expected_columns and parquet.num_rows == len(cand["rows"])  # none dropped
    rows = [list(r.values()) for r in parquet.to_pylist()]
    assert _cells(parquet.column_names, rows) == reported
    assert all(rows[i][OUTPUTS.index(c)] is None for i, c in reported)  # a flagged cell carries no value

    data = json.loads(download("json"))
    assert _cells(data["columns"], [[r[c] for c in data["columns"]] for r in data["rows"]]) == reported

    text = list(csv.reader(io.StringIO(download("csv").decode("utf-8"))))
    header, body = text[0], text[1:]
    assert header == expected_columns
    for i, row in enumerate(body):
        for name in OUTPUTS:
            value, flag = row[header.index(name)], row[header.index(f"{name}__flag")]
            assert flag == reported.get((i, name), ""), (i, name)
            assert (value == "[c]") == ((i, name) in reported), (i, name, value)
    assert SMALL not in download("csv").decode("utf-8")  # its key is withheld, not just its counts


def _extra_reviewers(stack: Stack, n: int) -> list[httpx.Client]:
    rt = Runtime(stack.settings)
    try:
        with rt.catalog.session() as s:
            tokens = [add_user(s, f"rev{i}", [Role.reviewer], "审核组")[1] for i in range(n)]
    finally:
        rt.close()
    return [
        httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {t}"}, timeout=60) for t in tokens
    ]


def _race(calls: list[Any]) -> list[httpx.Response]:
    """Run the calls at once (a barrier releases them together); their responses in order."""
    barrier = threading.Barrier(len(calls))
    out: list[httpx.Response | None] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        out[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(r is not None for r in out)
    return [r for r in out if r is not None]


def _events(stack: Stack, event_type: str, job_id: str) -> int:
    items = (
        stack["auditor"].get("/v1/audit", params={"event_type": event_type, "limit": 1000}).json()["items"]
    )
    return sum(1 for e in items if e["object_id"] == job_id)


def _release_dirs(stack: Stack) -> list[str]:
    return sorted(p.name for p in stack.settings.releases_dir.iterdir())


def test_racing_approvals_release_once_and_leave_no_orphan_file(stack: Stack) -> None:
    _, job_id = _pending_job(stack)
    extra = _extra_reviewers(stack, 4)
    reviewers = [stack["reviewer"], stack["opreviewer"], *extra]
    approve = {"decision": "approve", "reason": "ok"}
    try:
        responses = _race([lambda c=c: c.post(f"/v1/reviews/{job_id}", json=approve) for c in reviewers])
    finally:
        for c in extra:
            c.close()
    won = [r for r in responses if r.status_code == 200]
    assert len(won) == 1 and won[0].json()["job_state"] == "released", [r.text for r in responses]
    lost = [r.json()["error"]["code"] for r in responses if r.status_code != 200]
    assert lost == ["job_state"] * (len(reviewers) - 1), lost
    assert _events(stack, "release.created", job_id) == 1 and _events(stack, "job.released", job_id) == 1
    assert _release_dirs(stack) == [job_id]  # no staging directory left behind
    artifacts = {
        a["format"]: a["sha256"] for a in stack["operator"].get(f"/v1/jobs/{job_id}").json()["artifacts"]
    }
    on_disk = {
        p.suffix.lstrip("."): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (stack.settings.releases_dir / job_id).iterdir()
    }
    assert on_disk == artifacts


def test_an_approval_racing_a_cancellation_leaves_files_only_for_a_release(stack: Stack) -> None:
    sc, first = _pending_job(stack)
    jobs = [first]
    for _ in range(2):
        r = stack["operator"].post("/v1/jobs", json={"scenario_id": sc, "sql": SQL, "mode": "sdc"})
        jobs.append(r.json()["id"])
    for job_id in jobs:
        deadline = time.monotonic() + 60
        while (
            stack["operator"].get(f"/v1/jobs/{job_id}", params={"wait": 5}).json()["state"]
            != "pending_review"
        ):
            assert time.monotonic() < deadline
        approve, cancel = _race(
            [
                lambda j=job_id: stack["reviewer"].post(
                    f"/v1/reviews/{j}", json={"decision": "approve", "reason": "ok"}
                ),
                lambda j=job_id: stack["operator"].post(f"/v1/jobs/{j}/cancel"),
            ]
        )
        state = stack["operator"].get(f"/v1/jobs/{job_id}").json()["state"]
        assert state in ("released", "cancelled") and (approve.status_code == 200) != (
            cancel.status_code == 200
        )
        assert (job_id in _release_dirs(stack)) == (state == "released")
        assert not [d for d in _release_dirs(stack) if d.startswith(".")]
        assert _events(stack, "release.created", job_id) == (1 if state == "released" else 0)
