"""Data products over real HTTP: template, approvals, publication, calls (warm workspaces), metering."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import Stack
from test_path import SECRET_NAME, SECRET_PHONE, register, setup_scenario
from typer.testing import CliRunner, Result

from sandbox.cli import app
from sandbox.client import Client, SandboxAPIError
from sandbox.errors import ErrorCode
from sandbox.settings import Settings

LEDGER = Path(__file__).resolve().parent.parent / "policies" / "data" / "digest_ledger.yaml"
SMALL = "大鹏新区"
SQL = (
    "SELECT district, COUNT(*) AS n, AVG(income) AS avg_income FROM residents "
    "WHERE district = :district AND age >= :min_age GROUP BY district"
)


def cli(stack: Stack, who: str, *args: str) -> Result:
    """`sandbox ARGS` in this process, as `who` (SANDBOX_URL / SANDBOX_TOKEN)."""
    env = {"SANDBOX_URL": stack.url, "SANDBOX_TOKEN": stack.tokens[who], "COLUMNS": "200", "NO_COLOR": "1"}
    return CliRunner(env=env).invoke(app, list(args), prog_name="sandbox")


@pytest.fixture
def settings(tmp_path: Path, catalog_url: str) -> Settings:
    """The stack's settings, with a cost ledger so commercial products have a fee cap."""
    return Settings(
        home=tmp_path / "home", database_url=catalog_url, workspace_timeout_s=60, pricing_ledger_path=LEDGER
    )


def test_a_product_from_template_to_metered_calls(stack: Stack) -> None:
    ds, sc, table = setup_scenario(stack, n=600)
    big = next(d for d in sorted(set(table.column("district").to_pylist())) if d != SMALL)
    r = stack["source"].put(
        f"/v1/datasets/{ds['id']}/columns", json={"columns": {"age": {"level": "compare"}}}
    )
    assert r.status_code == 200, r.text
    body = {
        "scenario_id": sc["id"],
        "name": "residents by district",
        "sql": SQL,
        "params": {
            "district": {"type": "enum", "column": "residents.district"},
            "min_age": {"type": "int", "min": 18, "max": 40},
        },
    }
    r = stack["operator"].post("/v1/templates", json=body)
    assert r.status_code == 201, r.text
    template = r.json()
    assert template["missing_approvals"] == ["reviewer", f"source_unit:{ds['id']}"]
    misplaced = {**body, "sql": SQL.replace("age >= :min_age", "income > :min_age")}
    r = stack["operator"].post("/v1/templates", json=misplaced)
    assert r.status_code == 422 and r.json()["error"]["code"] == "param_misplaced"

    product_body = {"template_id": template["id"], "name": "api_a", "price": "2.50", "consumers": []}
    product_body["consumers"] = [stack.user_ids["operator2"]]
    r = stack["operator"].post("/v1/products", json=product_body)
    assert r.status_code == 409 and r.json()["error"]["code"] == "template_not_approved"
    for who in ("reviewer", "source"):
        r = stack[who].post(f"/v1/templates/{template['id']}/approvals", json={"reason": "ok"})
        assert r.status_code == 200, r.text
    assert r.json()["state"] == "approved"
    r = stack["operator"].post("/v1/products", json={**product_body, "price": "9.99"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "price_above_cap"
    r = stack["operator"].post("/v1/products", json=product_body)
    assert r.status_code == 201, r.text
    product = r.json()
    assert product["price_cap"].startswith("2.953") and product["consumers"] == [stack.user_ids["operator2"]]

    listed = stack["operator2"].get("/v1/products").json()["items"]
    assert [p["id"] for p in listed] == [product["id"]] and listed[0]["consumers"] is None
    disclosed = stack["anonymous"].get("/v1/public/disclosure").json()["products"]
    assert [(p["id"], p["price"]) for p in disclosed] == [(product["id"], "2.5")]

    url = f"/v1/products/{product['id']}/call"
    released = 0
    for age in (18, 40, 18):  # the repeat releases the same units again: nothing new to subtract
        r = stack["operator2"].post(url, json={"params": {"district": big, "min_age": age}})
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["status"] == "released" and out["columns"] == ["district", "n", "avg_income"]
        assert out["rows"][0][0] == big and out["rows"][0][1] >= 10
        released += 1
    with Client(stack.url, stack.tokens["operator2"]) as client:  # the client mirrors the route
        assert client.call(product["id"], district=big, min_age=18).rows == out["rows"]
        released += 1
        with pytest.raises(SandboxAPIError) as small:
            client.call(product["id"], district=SMALL, min_age=18)
        assert small.value.status == 422 and small.value.code == "output_disclosive"
        ages = sorted(
            a
            for a, d in zip(
                table.column("age").to_pylist(), table.column("district").to_pylist(), strict=True
            )
            if d == big
        )
        near_age = next(a for a in range(19, 41) if 0 < sum(x < a for x in ages) < 10)
        with pytest.raises(SandboxAPIError) as near:  # a few residents apart from min_age 18: subtraction
            client.call(product["id"], district=big, min_age=near_age)
        assert near.value.code == "output_disclosive" and near.value.detail["rules"] == ["differencing"]

    # the CLI mirrors the routes and prints the same JSON
    listed = cli(stack, "operator2", "products", "list", "--json")
    assert listed.exit_code == 0 and [p["id"] for p in json.loads(listed.stdout)] == [product["id"]]
    args = (
        "products",
        "call",
        product["id"],
        "--params",
        json.dumps({"district": big, "min_age": 18}),
        "--json",
    )
    called = cli(stack, "operator2", *args)
    assert called.exit_code == 0 and json.loads(called.stdout)["rows"] == out["rows"]
    released += 1
    unlicensed = cli(stack, "operator", *args)
    assert unlicensed.exit_code == 1 and json.loads(unlicensed.stdout)["error"]["code"] == "not_licensed"

    refusals = [
        ("operator2", {"district": SECRET_PHONE, "min_age": 18}, 422, "param_not_admissible"),
        ("operator2", {"district": big, "min_age": 99}, 422, "param_not_admissible"),
        ("operator", {"district": big, "min_age": 18}, 403, "not_licensed"),
    ]
    for who, params, status, code in refusals:
        r = stack[who].post(url, json={"params": params})
        assert r.status_code == status and r.json()["error"]["code"] == code, r.text
        assert r.json()["error"]["detail"]["call_id"].startswith("call_")
        assert SECRET_PHONE not in r.text and SECRET_NAME not in r.text

    m = stack["auditor"].get("/v1/metering").json()
    assert m["by_form"] == {"api_call": str(released)}
    events = (
        stack["auditor"].get("/v1/audit", params={"object_id": product["id"], "limit": 200}).json()["items"]
    )
    kinds = [e["event_type"] for e in events]
    assert kinds.count("product.called") == released
    assert kinds.count("product.call_refused") == 3 + len(refusals)  # small, differencing, CLI, then these
    assert all(SECRET_PHONE not in str(e) for e in events)
    assert stack["auditor"].get("/v1/audit/verify").json()["ok"] is True

    r = stack["operator"].post(f"/v1/products/{product['id']}/withdraw")
    assert r.status_code == 200 and r.json()["state"] == "withdrawn"
    r = stack["operator2"].post(url, json={"params": {"district": big, "min_age": 18}})
    assert r.status_code == 409 and r.json()["error"]["code"] == "product_withdrawn"


def walk_products(w: Any, stack: Stack, data: bytes, districts: list[str]) -> None:
    """The product error paths for tests/e2e/test_errors.py's walk (`w.expect(code, response)`); a
    dataset of its own, so the walk's other steps cannot change what these rely on."""
    C = ErrorCode
    ds = register(stack, data, name="product_residents")
    levels = {
        "resident_id": {"level": "join_key"},
        "name": {"level": "hidden"},
        "phone": {"level": "hidden"},
        "district": {"level": "group", "public_keys": districts},
        "age": {"level": "compare"},
        "income": {"level": "aggregate", "lower": 0, "upper": 1_000_000_000},
    }
    assert (
        stack["source"].put(f"/v1/datasets/{ds['id']}/columns", json={"columns": levels}).status_code == 200
    )
    grant = {ds["id"]: ["resident_id", "district", "age", "income"]}
    body = {"name": "p", "purpose": "products", "datasets": grant, "modes": ["sdc", "dp"], "epsilon": 1.0}
    sc = stack["operator"].post("/v1/scenarios", json=body).json()
    assert stack["admin"].post(f"/v1/scenarios/{sc['id']}/approve", json={"reason": "ok"}).status_code == 200

    def template(sql: str, params: dict[str, Any], **extra: Any) -> httpx.Response:
        tpl = {"scenario_id": sc["id"], "name": "t", "sql": sql, "params": params, **extra}
        return stack["operator"].post("/v1/templates", json=tpl)

    table = "product_residents"
    sql = f"SELECT district, COUNT(*) AS n FROM {table} WHERE district = :d AND age >= :a GROUP BY district"
    params = {
        "d": {"type": "enum", "column": f"{table}.district"},
        "a": {"type": "int", "min": 18, "max": 60},
    }
    w.expect(C.param_schema_invalid, template(sql, {**params, "a": {"type": "float"}}))
    w.expect(C.param_misplaced, template(sql.replace("age >= :a", "income > :a"), params))
    w.expect(C.param_unknown, template(sql, {"d": params["d"]}))
    t = template(sql, params).json()
    product = {
        "template_id": t["id"],
        "name": "api_a",
        "price": "1",
        "consumers": [stack.user_ids["operator2"]],
    }
    w.call(C.template_not_approved, "operator", "POST", "/v1/products", json=product)

    def approve(template_id: str) -> None:
        for who in ("reviewer", "source"):
            r = stack[who].post(f"/v1/templates/{template_id}/approvals", json={"reason": "ok"})
            assert r.status_code == 200, r.text

    approve(t["id"])
    w.call(C.price_above_cap, "operator", "POST", "/v1/products", json={**product, "price": "99"})
    w.call(C.no_price_cap, "operator", "POST", "/v1/products", json={**product, "pricing_product": "none"})
    p = stack["operator"].post("/v1/products", json=product).json()
    call = f"/v1/products/{p['id']}/call"
    big = next(d for d in districts if d != SMALL)
    ok = {"params": {"d": big, "a": 18}}
    w.call(C.not_licensed, "operator", "POST", call, json=ok)
    w.call(C.param_not_admissible, "operator2", "POST", call, json={"params": {"d": SECRET_NAME, "a": 18}})
    w.call(C.param_missing, "operator2", "POST", call, json={"params": {"d": big}})
    w.call(C.output_disclosive, "operator2", "POST", call, json={"params": {"d": SMALL, "a": 18}})
    gone = stack["operator"].post("/v1/products", json=product).json()
    assert stack["operator"].post(f"/v1/products/{gone['id']}/withdraw").status_code == 200
    w.call(C.product_withdrawn, "operator2", "POST", f"/v1/products/{gone['id']}/call", json=ok)

    dp_sql = f"SELECT district, COUNT(*) AS n FROM {table} WHERE age >= :a GROUP BY district"
    dp = template(dp_sql, {"a": params["a"]}, mode="dp", epsilon=0.5).json()
    approve(dp["id"])
    budget = {"period_epsilon": 0.5, "lifetime_epsilon": 1.0}
    dp_product = (
        stack["operator"].post("/v1/products", json={**product, "template_id": dp["id"], **budget}).json()
    )
    dp_call = f"/v1/products/{dp_product['id']}/call"
    assert stack["operator2"].post(dp_call, json={"params": {"a": 20}}).status_code == 200
    w.call(C.product_budget_exceeded, "operator2", "POST", dp_call, json={"params": {"a": 30}})

    files = {"file": ("residents.csv", data, "text/csv")}
    assert stack["source"].post(f"/v1/datasets/{ds['id']}/versions", files=files).status_code in (200, 201)
    w.call(C.template_pin_mismatch, "operator2", "POST", call, json=ok)
