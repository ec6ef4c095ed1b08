"""A join of two granted datasets on their privacy unit, over real HTTP, through review to release."""

from __future__ import annotations

import io
import json
import random

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
from support import Stack
from test_path import register, wait

from sandbox.demo_data import residents


def _csv(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pacsv.write_csv(table, buf)
    return buf.getvalue()


def _visits(people: pa.Table) -> pa.Table:
    rng = random.Random(3)
    ids, clinics, costs = [], [], []
    for rid in people.column("resident_id").to_pylist():
        for _ in range(rng.randint(1, 3)):
            ids.append(rid)
            clinics.append(rng.choice(["社康中心", "人民医院", "中医院"]))
            costs.append(rng.randint(50, 5000))
    return pa.table({"resident_id": ids, "clinic": clinics, "cost": costs})


def test_join_on_the_privacy_unit_is_thresholded_on_both_tables(stack: Stack) -> None:
    people = residents(800, seed=21, small_count=4)
    visits = _visits(people)
    res = register(stack, _csv(people))
    vis = register(stack, _csv(visits), name="visits", filename="visits.csv")
    assert vis["max_rows_per_unit"] > 1
    districts = sorted(set(people.column("district").to_pylist()))
    for ds, columns in (
        (res, {"district": {"level": "group", "public_keys": districts}, "income": {"level": "aggregate"}}),
        (vis, {"clinic": {"level": "group"}, "cost": {"level": "aggregate"}}),
    ):
        r = stack["source"].put(f"/v1/datasets/{ds['id']}/columns", json={"columns": columns})
        assert r.status_code == 200, r.text
    sc = (
        stack["operator"]
        .post(
            "/v1/scenarios",
            json={
                "name": "visits by district",
                "purpose": "health planning",
                "datasets": {
                    res["id"]: ["resident_id", "district", "income"],
                    vis["id"]: ["resident_id", "clinic", "cost"],
                },
            },
        )
        .json()
    )
    assert stack["admin"].post(f"/v1/scenarios/{sc['id']}/approve", json={}).status_code == 200

    bad = "SELECT COUNT(*) FROM residents r JOIN visits v ON r.district = v.clinic"
    r = stack["operator"].post("/v1/jobs", json={"scenario_id": sc["id"], "sql": bad})
    assert r.status_code == 422
    assert "level_violation" in {x["code"] for x in r.json()["error"]["detail"]["reasons"]}

    sql = (
        "SELECT r.district, COUNT(*) AS n_visits, COUNT(DISTINCT v.resident_id) AS patients, "
        "SUM(v.cost) AS cost FROM residents r JOIN visits v ON r.resident_id = v.resident_id "
        "GROUP BY r.district ORDER BY r.district"
    )
    r = stack["operator"].post("/v1/jobs", json={"scenario_id": sc["id"], "sql": sql})
    assert r.status_code == 202, r.text
    job = wait(stack, "operator", r.json()["id"])
    assert job["state"] == "pending_review", job
    stack["reviewer"].post(f"/v1/reviews/{job['id']}", json={"decision": "approve", "reason": "aggregates"})
    got = json.loads(stack["operator"].get(f"/v1/jobs/{job['id']}/result", params={"format": "json"}).content)

    con = duckdb.connect()
    con.register("residents", people)
    con.register("visits", visits)
    expected = {
        row[0]: row[1:]
        for row in con.execute(
            "SELECT r.district, COUNT(*), COUNT(DISTINCT v.resident_id), SUM(v.cost) FROM residents r "
            "JOIN visits v ON r.resident_id = v.resident_id GROUP BY r.district"
        ).fetchall()
    }
    by_district = {row["district"]: row for row in got["rows"]}
    assert set(by_district) == set(expected)
    small = by_district["大鹏新区"]
    assert small["suppressed"] and small["n_visits"] is None and small["cost"] is None
    for district, row in by_district.items():
        if not row["suppressed"]:
            assert (row["n_visits"], row["patients"], row["cost"]) == expected[district]
            assert row["patients"] >= 10
