"""dp mode over real HTTP: debit before running, noisy cells with scale and interval, repeats are free,
and the ledger never overspends under 50 concurrent submissions (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow.csv as pacsv
from sqlalchemy import func, select
from support import Stack

from sandbox.catalog import Catalog
from sandbox.catalog.models import PrivacySpend
from sandbox.demo_data import residents
from sandbox.ledger import EPSILON_UNIT

GROUPED = "SELECT district, COUNT(*) AS n, AVG(income) AS avg_income FROM residents GROUP BY district"


def _wait(stack: Stack, job_id: str, timeout: float = 120) -> dict[str, Any]:
    import time

    deadline = time.monotonic() + timeout
    while True:
        job = stack["operator"].get(f"/v1/jobs/{job_id}", params={"wait": 5}).json()
        if job["state"] not in ("queued", "running", "checking") or time.monotonic() > deadline:
            return job


def _setup(stack: Stack, *, epsilon: float, delta: float = 1e-6, n: int = 2000) -> tuple[dict, dict, Any]:
    table = residents(n, seed=5)
    buf = io.BytesIO()
    pacsv.write_csv(table, buf)
    meta = {"name": "residents", "classification": "important", "privacy_unit": "resident_id"}
    r = stack["source"].post(
        "/v1/datasets",
        files={"file": ("residents.csv", buf.getvalue(), "text/csv")},
        data={"metadata": json.dumps(meta)},
    )
    assert r.status_code == 201, r.text
    ds = r.json()
    districts = [*sorted(set(table.column("district").to_pylist())), "无人区"]  # a key with no rows
    r = stack["source"].put(
        f"/v1/datasets/{ds['id']}/columns",
        json={
            "columns": {
                "resident_id": {"level": "join_key"},
                "district": {"level": "group", "public_keys": districts},
                "sex": {"level": "group"},
                "age": {"level": "compare"},
                "income": {"level": "aggregate", "lower": 0, "upper": 100_000},
            }
        },
    )
    assert r.status_code == 200, r.text
    r = stack["operator"].post(
        "/v1/scenarios",
        json={
            "name": "dp income",
            "purpose": "planning",
            "datasets": {ds["id"]: ["resident_id", "district", "sex", "age", "income"]},
            "modes": ["dp"],
            "epsilon": epsilon,
            "delta": delta,
        },
    )
    assert r.status_code == 201, r.text
    sc = r.json()
    r = stack["admin"].post(f"/v1/scenarios/{sc['id']}/approve", json={"reason": "ok"})
    assert r.status_code == 200, r.text
    return ds, sc, districts


def _submit(stack: Stack, sc: dict, sql: str, epsilon: float | None = None) -> Any:
    body: dict[str, Any] = {"scenario_id": sc["id"], "sql": sql, "mode": "dp"}
    if epsilon is not None:
        body["epsilon"] = epsilon
    return stack["operator"].post("/v1/jobs", json=body)


def test_dp_job_reaches_review_with_every_public_key_scale_and_spend(stack: Stack) -> None:
    _, sc, districts = _setup(stack, epsilon=3.0)
    r = _submit(stack, sc, GROUPED, epsilon=1.0)
    assert r.status_code == 202, r.text
    job = _wait(stack, r.json()["id"])
    assert job["state"] == "pending_review", job
    report = job["check_report"]
    assert report["mode"] == "dp"
    dp = report["dp"]
    assert dp["epsilon_spent"] <= 1.0 and dp["epsilon_spent"] > 0.99
    assert dp["budget"]["epsilon_left"] == 2.0
    by_name = {o["name"]: o for o in dp["outputs"]}
    assert by_name["n"]["scale"] > 0 and len(by_name["n"]["ci95"]) == len(districts)
    assert by_name["avg_income"]["bounds"] == [0.0, 100000.0] and by_name["avg_income"]["approximate"]
    cand = stack["reviewer"].get(f"/v1/reviews/{job['id']}").json()
    assert cand["job"]["check_report"]["dp"]["outputs"] == dp["outputs"]
    keys = [row[cand["columns"].index("district")] for row in cand["rows"]]
    assert sorted(keys) == sorted(districts)  # every public key, the empty one included

    # the identical query again: the same release, no second debit
    again = _wait(stack, _submit(stack, sc, GROUPED, epsilon=1.0).json()["id"])
    assert again["state"] == "pending_review" and again["check_report"]["repeat_of"] == job["id"]
    assert again["check_report"]["dp"]["epsilon_spent"] == 0.0
    assert stack["reviewer"].get(f"/v1/reviews/{again['id']}").json()["rows"] == cand["rows"]
    scenario = stack["operator"].get(f"/v1/scenarios/{sc['id']}").json()
    assert scenario["epsilon_spent"] == 1.0

    # a partition-selected key (no public key set) charges delta too
    sex = _wait(
        stack, _submit(stack, sc, "SELECT sex, COUNT(*) AS n FROM residents GROUP BY sex").json()["id"]
    )
    assert sex["state"] == "pending_review", sex
    assert 0 < sex["check_report"]["dp"]["delta_spent"] <= 1e-8
    assert sex["check_report"]["dp"]["partition_selection"]["threshold"] > 1

    # over the job maximum, refused at submit; past the budget, refused with what is left
    assert _submit(stack, sc, GROUPED, epsilon=5.0).json()["error"]["code"] == "epsilon_too_large"
    over = _submit(stack, sc, "SELECT COUNT(*) AS n FROM residents", epsilon=1.5)
    assert over.status_code == 409 and over.json()["error"]["code"] == "budget_exceeded"
    assert over.json()["error"]["detail"]["epsilon_left"] < 1.5


def test_repeating_until_the_budget_is_gone_gains_nothing(stack: Stack) -> None:
    _, sc, _ = _setup(stack, epsilon=2.0)
    sql = "SELECT COUNT(*) AS n FROM residents"
    first = _wait(stack, _submit(stack, sc, sql, epsilon=1.0).json()["id"])
    values = []
    for _ in range(3):  # repeats: identical value, nothing spent
        job = _wait(stack, _submit(stack, sc, sql, epsilon=1.0).json()["id"])
        values.append(stack["reviewer"].get(f"/v1/reviews/{job['id']}").json()["rows"])
    assert all(v == values[0] for v in values)
    assert stack["reviewer"].get(f"/v1/reviews/{first['id']}").json()["rows"] == values[0]
    # new spends (a different query text) use up the rest, then are refused
    ok = _wait(
        stack, _submit(stack, sc, "SELECT COUNT(*) AS n FROM residents WHERE age >= 0", 1.0).json()["id"]
    )
    assert ok["state"] == "pending_review"
    refused = _submit(stack, sc, "SELECT COUNT(*) AS n FROM residents WHERE age >= 1", epsilon=0.5)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "budget_exceeded"
    # the repeat of the first is still free, and still the same value
    job = _wait(stack, _submit(stack, sc, sql, epsilon=1.0).json()["id"])
    assert stack["reviewer"].get(f"/v1/reviews/{job['id']}").json()["rows"] == values[0]


def test_fifty_concurrent_dp_jobs_never_overspend(stack: Stack) -> None:
    _, sc, _ = _setup(stack, epsilon=1.0, n=300)
    sqls = [f"SELECT COUNT(*) AS n FROM residents WHERE age >= {i}" for i in range(50)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(lambda sql: _submit(stack, sc, sql, epsilon=0.1), sqls))
    accepted = [r.json()["id"] for r in responses if r.status_code == 202]
    assert all(r.status_code in (202, 409) for r in responses)
    finished = [_wait(stack, job_id) for job_id in accepted]
    released = [j for j in finished if j["state"] == "pending_review"]
    refused = [j for j in finished if j["state"] == "failed"]
    assert all(j["reason_code"] == "budget_exceeded" for j in refused)
    assert "epsilon_left" in (refused[0]["check_report"]["dp"] if refused else {"epsilon_left": 0})
    catalog = Catalog(stack.settings.catalog_url())
    try:
        with catalog.session() as s:
            total = int(s.execute(select(func.sum(PrivacySpend.epsilon_units))).scalar_one())
    finally:
        catalog.dispose()
    assert total <= round(1.0 / EPSILON_UNIT)  # exact integer units
    assert len(released) == 10  # 0.1 each: exactly the budget, never more
    scenario = stack["operator"].get(f"/v1/scenarios/{sc['id']}").json()
    assert scenario["epsilon_spent"] <= 1.0
    # exhausted: any further dp job is refused
    late = _submit(stack, sc, "SELECT COUNT(*) AS n FROM residents WHERE age >= 99", epsilon=0.1)
    assert late.status_code == 409 and late.json()["error"]["code"] == "budget_exceeded"


def test_dp_quantiles_over_http_charge_the_budget_and_release_candidates(stack: Stack) -> None:
    _, sc, districts = _setup(stack, epsilon=2.0)
    sql = (
        "SELECT district, MEDIAN(income) AS med, "
        "PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY income) AS p90 FROM residents GROUP BY district"
    )
    r = _submit(stack, sc, sql, epsilon=1.0)
    assert r.status_code == 202, r.text
    job = _wait(stack, r.json()["id"])
    assert job["state"] == "pending_review", job
    dp = job["check_report"]["dp"]
    assert 0.99 < dp["epsilon_spent"] <= 1.0 and dp["budget"]["epsilon_left"] == 1.0
    by_name = {o["name"]: o for o in dp["outputs"]}
    med, p90 = by_name["med"], by_name["p90"]
    assert med["kind"] == p90["kind"] == "quantile" and (med["alpha"], p90["alpha"]) == (0.5, 0.9)
    assert med["scale"] > 0 and med["rank_error_95"] > med["scale"] and med["candidates"] == 100
    cand = stack["reviewer"].get(f"/v1/reviews/{job['id']}").json()
    cols = cand["columns"]
    assert sorted(row[cols.index("district")] for row in cand["rows"]) == sorted(districts)
    step = med["candidate_step"]
    for row in cand["rows"]:
        for name in ("med", "p90"):
            value = row[cols.index(name)]
            assert 0 <= value <= 100_000 and abs(value / step - round(value / step)) < 1e-6  # a candidate
    # outside the shape: refused at submit with the precise construct; the budget is untouched
    refused = _submit(stack, sc, "SELECT QUANTILE_DISC(income, 0.5) AS q FROM residents")
    assert refused.status_code == 422
    (found,) = refused.json()["error"]["detail"]["reasons"]
    assert (found["code"], found["construct"]) == ("dp_aggregate_not_supported", "QUANTILE_DISC")
    assert stack["operator"].get(f"/v1/scenarios/{sc['id']}").json()["epsilon_spent"] == 1.0
