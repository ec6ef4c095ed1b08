"""GET /v1/metering per data product, over real HTTP: two products in two forms, two consumers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from support import Stack, register_table
from typer.testing import CliRunner

from sandbox.cli import app
from sandbox.demo_data import residents

SMALL = "大鹏新区"
SQL = (
    "SELECT district, COUNT(*) AS n, AVG(income) AS avg_income FROM residents "
    "WHERE district = :district AND age >= :min_age GROUP BY district"
)
CONSUMERS = ("operator2", "opreviewer")
# calls per (product form, consumer); every call asks the same big district, so each releases 1 row x 3 fields
CALLS = {
    ("api_call", "operator2"): 2,
    ("api_call", "opreviewer"): 1,
    ("dataset", "operator2"): 1,
    ("dataset", "opreviewer"): 2,
}


def _products(stack: Stack) -> tuple[str, dict[str, str], str]:
    """A public-interest scenario and one approved template published as an `api_call` and a `dataset`
    product, both licensed to CONSUMERS: (scenario id, form -> product id, a district to ask for)."""
    table = residents(600, seed=5, small_count=4)
    ds = register_table(stack, table)
    districts = sorted(set(table.column("district").to_pylist()))
    levels = {
        "resident_id": {"level": "join_key"},
        "district": {"level": "group", "public_keys": districts},
        "age": {"level": "compare"},
        "income": {"level": "aggregate", "lower": 0, "upper": 5_000_000},
    }
    r = stack["source"].put(f"/v1/datasets/{ds['id']}/columns", json={"columns": levels})
    assert r.status_code == 200, r.text
    body = {
        "name": "district services",
        "purpose": "planning public services",
        "datasets": {ds["id"]: ["resident_id", "district", "age", "income"]},
        "modes": ["sdc"],
        "public_interest": True,
    }
    r = stack["operator"].post("/v1/scenarios", json=body)
    assert r.status_code == 201, r.text
    sc = r.json()["id"]
    assert stack["admin"].post(f"/v1/scenarios/{sc}/approve", json={"reason": "ok"}).status_code == 200
    params = {
        "district": {"type": "enum", "column": "residents.district"},
        "min_age": {"type": "int", "min": 18, "max": 40},
    }
    r = stack["operator"].post(
        "/v1/templates", json={"scenario_id": sc, "name": "by district", "sql": SQL, "params": params}
    )
    assert r.status_code == 201, r.text
    template = r.json()["id"]
    for who in ("reviewer", "source"):
        r = stack[who].post(f"/v1/templates/{template}/approvals", json={"reason": "ok"})
        assert r.status_code == 200, r.text
    ids = {}
    for form in ("api_call", "dataset"):
        product = {
            "template_id": template,
            "name": f"by district ({form})",
            "form": form,
            "fee_class": "public_interest",
            "consumers": [stack.user_ids[c] for c in CONSUMERS],
        }
        r = stack["operator"].post("/v1/products", json=product)
        assert r.status_code == 201, r.text
        ids[form] = r.json()["id"]
    big = next(d for d in districts if d != SMALL)
    return sc, ids, big


@pytest.fixture
def called(stack: Stack) -> tuple[str, dict[str, str]]:
    """The two products, each called CALLS times by its consumers."""
    sc, ids, big = _products(stack)
    for (form, who), n in CALLS.items():
        for _ in range(n):
            r = stack[who].post(
                f"/v1/products/{ids[form]}/call", json={"params": {"district": big, "min_age": 18}}
            )
            assert r.status_code == 200, r.text
            assert r.json()["status"] == "released" and len(r.json()["rows"]) == 1
    return sc, ids


def test_each_product_is_metered_in_its_form_per_consumer(
    stack: Stack, called: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sc, ids = called
    u = stack.user_ids
    m = stack["auditor"].get("/v1/metering").json()
    assert m["by_product"] == {
        ids["api_call"]: {
            "by_form": {"api_call": "3"},
            "normalised": "3",
            "calls_by_subject": {u["operator2"]: 2, u["opreviewer"]: 1},
        },
        ids["dataset"]: {
            "by_form": {"dataset": "9"},  # 3 calls x 1 row x 3 fields
            "normalised": "0.009",  # K = 0.001
            "calls_by_subject": {u["operator2"]: 1, u["opreviewer"]: 2},
        },
    }
    assert m["by_form"] == {"api_call": "3", "dataset": "9"} and m["v"] == "3.009"
    assert m["by_scenario"] == {sc: "3.009"}
    assert m["calls_by_subject"] == {u["operator2"]: 2, u["opreviewer"]: 1}  # api_call volume only
    assert stack["operator"].get("/v1/metering").status_code == 403
    # the public disclosure lists each product's metered usage, never who called
    listed = {p["id"]: p for p in stack["anonymous"].get("/v1/public/disclosure").json()["products"]}
    assert (listed[ids["dataset"]]["metered_volume"], listed[ids["dataset"]]["metered_normalised"]) == (
        "9",
        "0.009",
    )
    assert listed[ids["api_call"]]["metered_volume"] == "3" and u["operator2"] not in json.dumps(listed)
    # the annual report carries the same per-product totals, in its JSON and its Markdown
    monkeypatch.setenv("SANDBOX_HOME", str(stack.settings.home))
    monkeypatch.setenv("SANDBOX_DATABASE_URL", stack.settings.catalog_url())
    year = str(datetime.now(UTC).year)
    r = CliRunner().invoke(app, ["report", "annual", year, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["usage"]["by_product"] == m["by_product"]
    md = CliRunner().invoke(app, ["report", "annual", year]).output
    row = f"| {ids['dataset']} | dataset 9 | 0.009 | {u['operator2']} 1, {u['opreviewer']} 2 |"
    assert row in md.splitlines()


def test_product_filter_narrows_every_total(
    stack: Stack, called: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sc, ids = called
    u = stack.user_ids
    m = stack["admin"].get("/v1/metering", params={"product_id": ids["dataset"]}).json()
    assert list(m["by_product"]) == [ids["dataset"]]
    assert m["by_form"] == {"dataset": "9"} and m["v"] == "0.009" and m["by_scenario"] == {sc: "0.009"}
    assert m["calls_by_subject"] == {}  # no api_call usage under this product
    none = stack["admin"].get("/v1/metering", params={"product_id": "prd_unknown"}).json()
    assert none["by_product"] == {} and none["v"] == "0"
    both = stack["admin"].get("/v1/metering", params={"scenario_id": sc, "product_id": ids["api_call"]})
    assert both.json()["by_product"][ids["api_call"]]["calls_by_subject"] == {
        u["operator2"]: 2,
        u["opreviewer"]: 1,
    }
    # the CLI mirrors the route and prints the same JSON
    monkeypatch.setenv("SANDBOX_HOME", str(stack.settings.home))
    monkeypatch.setenv("SANDBOX_DATABASE_URL", stack.settings.catalog_url())
    r = CliRunner().invoke(app, ["metering", "--product", ids["dataset"]])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == m
    assert Decimal(json.loads(r.output)["by_product"][ids["dataset"]]["normalised"]) == Decimal("0.009")
