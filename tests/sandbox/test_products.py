"""Data products in process (inprocess workspace): parameters, pins, thresholds, metering, budgets."""

from __future__ import annotations

import io
import itertools
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.csv as pacsv
import pytest
from sqlalchemy import func, select

from sandbox import audit, datasets, product_cache, product_call, products, scenarios, templates
from sandbox.api.schemas import (
    ColumnChange,
    ColumnsIn,
    DatasetIn,
    DecisionIn,
    ProductCallIn,
    ProductIn,
    ScenarioIn,
    TemplateApprovalIn,
    TemplateIn,
    VersionIn,
)
from sandbox.auth import Role, add_user
from sandbox.catalog.models import AuditEvent, ProductCall, UsageRecord, User
from sandbox.demo_data import residents
from sandbox.errors import ErrorCode, SandboxError
from sandbox.runtime import Runtime
from sandbox.settings import Settings

LEDGER = Path(__file__).resolve().parent.parent / "policies" / "data" / "digest_ledger.yaml"
SMALL = "大鹏新区"
SQL = (
    "SELECT district, COUNT(*) AS n, AVG(income) AS avg_income FROM residents "
    "WHERE district = :district AND age >= :min_age GROUP BY district"
)
PARAMS = {
    "district": {"type": "enum", "column": "residents.district"},
    "min_age": {"type": "int", "min": 18, "max": 60},
}


@dataclass
class World:
    rt: Runtime
    users: dict[str, User]
    dataset_id: str
    scenario_id: str
    districts: list[str]
    csv: Path

    def template(self, sql: str = SQL, params: dict[str, Any] | None = None, **kw: Any) -> str:
        body = TemplateIn(
            scenario_id=self.scenario_id, name="by district", sql=sql, params=params or PARAMS, **kw
        )
        return templates.create(self.rt, self.users["operator"], body).id

    def approve(self, template_id: str) -> None:
        for who in ("reviewer", "source"):
            templates.approve(self.rt, self.users[who], template_id, TemplateApprovalIn(reason="ok"))

    def publish(self, template_id: str, **kw: Any) -> str:
        body = ProductIn(
            template_id=template_id,
            consumers=[self.users["consumer"].id],
            **({"name": "api_a", "price": "1.00"} | kw),
        )
        return products.publish(self.rt, self.users["operator"], body).id

    def call(self, product_id: str, who: str = "consumer", **params: Any) -> Any:
        return product_call.call(self.rt, self.users[who], product_id, ProductCallIn(params=params))

    def refused(self, product_id: str, who: str = "consumer", **params: Any) -> SandboxError:
        with pytest.raises(SandboxError) as caught:
            self.call(product_id, who, **params)
        assert "call_id" in caught.value.detail
        return caught.value


def _world(tmp_path: Path, url: str, n: int = 1500, bundle: Path | None = None) -> World:
    settings = Settings(
        home=tmp_path / "home",
        database_url=url,
        workspace_backend="inprocess",
        pricing_ledger_path=LEDGER,
        bundle_path=bundle,
    )
    rt = Runtime(settings)
    with rt.catalog.session() as s:
        users = {
            name: add_user(s, name, roles, unit)[0]
            for name, roles, unit in [
                ("source", [Role.source_unit], "统计局"),
                ("admin", [Role.admin], "数据局"),
                ("operator", [Role.operator], "Acme"),
                ("reviewer", [Role.reviewer], "审核组"),
                ("consumer", [Role.operator], "Buyer"),
                ("stranger", [Role.operator], "Other"),
            ]
        }
        for u in users.values():
            s.expunge(u)
    table = residents(n, seed=5, small_count=4)
    csv = settings.tmp_dir / "residents.csv"
    buf = io.BytesIO()
    pacsv.write_csv(table, buf)
    csv.write_bytes(buf.getvalue())
    ds = datasets.register(rt, users["source"], DatasetIn(name="residents", privacy_unit="resident_id"), csv)
    districts = sorted(set(table.column("district").to_pylist()))
    levels = {
        "resident_id": ColumnChange(level="join_key"),
        "district": ColumnChange(level="group", public_keys=districts),
        "age": ColumnChange(level="compare"),
        "income": ColumnChange(level="aggregate", lower=0, upper=5_000_000),
    }
    datasets.set_columns(rt, users["source"], ds.id, ColumnsIn(columns=levels))
    sc = scenarios.apply(
        rt,
        users["operator"],
        ScenarioIn(
            name="s",
            purpose="planning",
            datasets={ds.id: ["resident_id", "district", "age", "income"]},
            modes=["sdc", "dp"],
            epsilon=5.0,
            delta=1e-6,
        ),
    )
    scenarios.approve(rt, users["admin"], sc.id, DecisionIn(reason="ok"))
    return World(rt, users, ds.id, sc.id, districts, csv)


@pytest.fixture
def world(tmp_path: Path, catalog_url: str) -> Any:
    w = _world(tmp_path, catalog_url)
    yield w
    w.rt.close()


@pytest.fixture
def sqlite_world(tmp_path: Path) -> Any:
    w = _world(tmp_path, f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    yield w
    w.rt.close()


def _events(w: World, event_type: str) -> list[AuditEvent]:
    with w.rt.catalog.session() as s:
        return list(s.execute(select(AuditEvent).where(AuditEvent.event_type == event_type)).scalars())


def _big(w: World) -> str:
    return next(d for d in w.districts if d != SMALL)


def test_a_parameter_outside_its_admissible_set_is_refused_recorded_and_audited(sqlite_world: World) -> None:
    w = sqlite_world
    t = w.template()
    w.approve(t)
    product = w.publish(t)
    assert w.call(product, district=_big(w), min_age=30).status == "released"
    for params, code in [
        ({"district": "13912345678", "min_age": 30}, ErrorCode.param_not_admissible),  # not a public key
        ({"district": _big(w), "min_age": 61}, ErrorCode.param_not_admissible),  # above the range
        ({"district": _big(w), "min_age": "30"}, ErrorCode.param_not_admissible),  # not an integer
        ({"district": _big(w)}, ErrorCode.param_missing),
        ({"district": _big(w), "min_age": 30, "x": 1}, ErrorCode.param_unknown),
    ]:
        assert w.refused(product, **params).code is code
    refused = _events(w, "product.call_refused")
    assert [e.object_id for e in refused] == [product] * 5
    with w.rt.catalog.session() as s:
        calls = list(s.execute(select(ProductCall).where(ProductCall.status == "refused")).scalars())
    assert sorted(c.reason_code for c in calls) == sorted(
        ["param_not_admissible"] * 3 + ["param_missing", "param_unknown"]
    )
    # the value given is never kept: neither in the call record nor in the audit log
    assert all("13912345678" not in str(c.params) for c in calls)
    assert all("13912345678" not in e.detail for e in refused)


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        ("SELECT district, COUNT(*) AS n FROM residents WHERE income > :x GROUP BY district", "int"),
        ("SELECT district, COUNT(*) AS n FROM residents GROUP BY district LIMIT :x", "int"),
        ("SELECT district, COUNT(*) AS n FROM residents WHERE resident_id = :x GROUP BY district", "enum"),
        ("SELECT district, COUNT(*) AS n FROM residents WHERE district = :x GROUP BY district", "int"),
    ],
)
def test_a_parameter_only_stands_where_a_placeable_literal_may(
    sqlite_world: World, sql: str, params: str
) -> None:
    spec = (
        {"type": "int", "min": 1, "max": 5}
        if params == "int"
        else {"type": "enum", "column": "residents.district"}
    )
    with pytest.raises(SandboxError) as caught:
        sqlite_world.template(sql, {"x": spec})
    assert caught.value.code is ErrorCode.param_misplaced


def test_a_template_needs_a_reviewer_and_the_source_unit(world: World) -> None:
    t = world.template()
    with pytest.raises(SandboxError) as early:
        world.publish(t)
    assert early.value.code is ErrorCode.template_not_approved
    with pytest.raises(SandboxError) as own:  # the author cannot approve as a reviewer
        templates.approve(world.rt, world.users["operator"], t, TemplateApprovalIn())
    assert own.value.code is ErrorCode.forbidden
    out = templates.approve(world.rt, world.users["reviewer"], t, TemplateApprovalIn(reason="ok"))
    assert out.state == "pending" and out.missing_approvals == [f"source_unit:{world.dataset_id}"]
    out = templates.approve(world.rt, world.users["source"], t, TemplateApprovalIn(reason="ok"))
    assert out.state == "approved" and out.missing_approvals == [] and len(out.pin) == 64
    assert (
        len(_events(world, "template.approval_recorded")) == 2
        and len(_events(world, "template.approved")) == 1
    )


def test_a_new_dataset_version_or_a_changed_template_needs_a_new_approval(world: World) -> None:
    w = world
    t = w.template()
    w.approve(t)
    product = w.publish(t)
    assert w.call(product, district=_big(w), min_age=30).status == "released"
    copy = w.csv.with_name("v2.csv")
    shutil.copy(w.csv, copy)
    datasets.add_version(w.rt, w.users["source"], w.dataset_id, VersionIn(), copy)
    assert w.refused(product, district=_big(w), min_age=30).code is ErrorCode.template_pin_mismatch
    revised = w.template(SQL.replace("COUNT(*) AS n", "COUNT(*) AS residents"), revises=t)
    out = templates.get(w.rt, w.users["operator"], revised)
    assert out.state == "pending" and out.missing_approvals and out.lineage_id == t
    assert out.dataset_versions == {w.dataset_id: 2}
    assert templates.get(w.rt, w.users["operator"], t).state == "superseded"
    with pytest.raises(SandboxError) as unapproved:
        w.publish(revised)
    assert unapproved.value.code is ErrorCode.template_not_approved
    w.approve(revised)
    again = w.publish(revised)
    assert w.call(again, district=_big(w), min_age=30).columns == ["district", "residents", "avg_income"]


def test_a_call_whose_cell_falls_under_the_threshold_is_refused(sqlite_world: World) -> None:
    w = sqlite_world
    t = w.template()
    w.approve(t)
    product = w.publish(t)
    refused = w.refused(product, district=SMALL, min_age=18)
    assert refused.code is ErrorCode.output_disclosive and refused.detail["rules"] == ["min_units"]
    assert SMALL not in str(refused.detail) and "avg_income" not in refused.message
    with w.rt.catalog.session() as s:
        assert s.execute(select(func.count()).select_from(UsageRecord)).scalar_one() == 0


def test_thousand_calls_with_varying_parameters_are_each_checked_metered_and_audited(
    sqlite_world: World,
) -> None:
    w = sqlite_world
    t = w.template()
    w.approve(t)
    product = w.publish(t, form="api_call")
    outcomes = {"released": 0, "refused": 0}
    grid = itertools.cycle(itertools.product(w.districts, range(18, 61, 6)))
    for _, (district, age) in zip(range(1000), grid, strict=False):
        try:
            out = w.call(product, district=district, min_age=age)
            assert out.rows and out.rows[0][0] == district and out.rows[0][1] >= 10
            outcomes["released"] += 1
        except SandboxError as e:
            assert e.code in (ErrorCode.output_disclosive,)
            outcomes["refused"] += 1
    assert outcomes["released"] > 500 and outcomes["refused"] > 0
    assert sum(outcomes.values()) == 1000
    with w.rt.catalog.session() as s:
        usage = list(s.execute(select(UsageRecord)).scalars())
        calls = s.execute(select(func.count()).select_from(ProductCall)).scalar_one()
    assert len(usage) == outcomes["released"] and calls == 1000
    assert {(u.form, u.volume, u.product_id, u.subject_id) for u in usage} == {
        ("api_call", 1, product, w.users["consumer"].id)
    }
    assert len(_events(w, "product.called")) == outcomes["released"]
    assert len(_events(w, "product.call_refused")) == outcomes["refused"]


def test_unlicensed_withdrawn_and_revoked_calls_are_refused(sqlite_world: World) -> None:
    w = sqlite_world
    t = w.template()
    w.approve(t)
    product = w.publish(t)
    assert w.refused(product, "stranger", district=_big(w), min_age=30).code is ErrorCode.not_licensed
    second = w.publish(t)
    products.withdraw(w.rt, w.users["operator"], product)
    assert w.refused(product, district=_big(w), min_age=30).code is ErrorCode.product_withdrawn
    assert [e.object_id for e in _events(w, "product.withdrawn")] == [product]
    assert w.call(second, district=_big(w), min_age=30).status == "released"
    scenarios.revoke(w.rt, w.users["admin"], w.scenario_id, DecisionIn(reason="ended"))
    assert w.refused(second, district=_big(w), min_age=30).code is ErrorCode.scenario_not_approved


def test_fee_class_and_price_cap(sqlite_world: World) -> None:
    w = sqlite_world
    t = w.template()
    w.approve(t)
    with pytest.raises(SandboxError) as above:
        w.publish(t, price="3.50")  # api_a's final cap is 2.9539... yuan per call
    assert above.value.code is ErrorCode.price_above_cap
    with pytest.raises(SandboxError) as none:
        w.publish(t, name="unknown product")
    assert none.value.code is ErrorCode.no_price_cap
    with pytest.raises(SandboxError) as free:
        w.publish(t, fee_class="public_interest", price=None)  # the scenario is not public interest
    assert free.value.code is ErrorCode.invalid_request
    out = products.get(w.rt, w.users["consumer"], w.publish(t, price="2.95"))
    assert out.price == "2.95" and out.price_cap.startswith("2.953") and out.consumers is None


DP_SQL = "SELECT district, COUNT(*) AS n FROM residents WHERE age >= :min_age GROUP BY district"


def test_dp_budgets_are_never_reset_by_republishing_or_revising(world: World) -> None:
    w = world
    params = {"min_age": {"type": "int", "min": 18, "max": 60}}
    t = w.template(DP_SQL, params, mode="dp", epsilon=0.5)
    w.approve(t)
    budget = {"period_epsilon": 1.0, "lifetime_epsilon": 2.0}
    product = w.publish(t, **budget)
    first = w.call(product, min_age=20)
    assert first.epsilon_spent == pytest.approx(0.5) and not first.repeat
    assert w.call(product, min_age=21).epsilon_spent == pytest.approx(0.5)
    repeat = w.call(product, min_age=20)  # an identical call gets the same noisy output for free
    assert repeat.repeat and repeat.rows == first.rows and repeat.epsilon_spent == 0.0
    refused = w.refused(product, min_age=22)
    assert refused.code is ErrorCode.product_budget_exceeded and refused.detail["which"] == "monthly"
    # republishing the same template, or a revision of it, finds the spend
    again = w.publish(t, **budget)
    assert w.refused(again, min_age=23).code is ErrorCode.product_budget_exceeded
    revised = w.template(DP_SQL.replace("AS n", "AS residents"), params, mode="dp", epsilon=0.5, revises=t)
    w.approve(revised)
    third = w.publish(revised, **budget)
    assert w.refused(third, min_age=24).code is ErrorCode.product_budget_exceeded
    assert [json.loads(e.detail)["epsilon"] for e in _events(w, "product.budget_debited")] == [0.5, 0.5]


def test_per_output_review_turns_a_call_into_a_job_a_reviewer_releases(tmp_path: Path) -> None:
    from policies import bundles
    from sandbox import release, review
    from sandbox.api.schemas import ReviewIn

    text = bundles.default_text().replace(
        "general:\n  k: 10\n", "general:\n  k: 10\n  per_output_review: true\n"
    )
    assert "per_output_review: true" in text
    path = tmp_path / "bundle.yaml"
    path.write_text(text, encoding="utf-8")
    w = _world(tmp_path, f"sqlite:///{tmp_path / 'catalog.sqlite3'}", bundle=path)
    try:
        t = w.template()
        w.approve(t)
        product = w.publish(t)
        out = w.call(product, district=_big(w), min_age=30)
        assert out.status == "pending_review" and out.rows == [] and out.job_id
        review.decide(w.rt, w.users["reviewer"], out.job_id, ReviewIn(decision="approve", reason="ok"))
        columns, rows = release.view(w.rt, w.users["consumer"], out.job_id)
        assert columns[:3] == ["district", "n", "avg_income"] and rows[0][0] == _big(w)
        assert [e.object_id for e in _events(w, "product.call_pending_review")] == [product]
    finally:
        w.rt.close()


def test_calls_reuse_their_preparation_until_the_catalog_changes(
    sqlite_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The product, template, scenario, grants and keys are read once per catalog generation: a
    call's own records leave it be, a change of levels (an audit event) makes the next call re-read."""
    w = sqlite_world
    product = w.publish(_approved(w))
    loads: list[str] = []
    real = product_call._load
    monkeypatch.setattr(product_call, "_load", lambda rt, s, pid: loads.append(pid) or real(rt, s, pid))
    for age in (20, 30, 40):
        assert w.call(product, district=_big(w), min_age=age).status == "released"
    assert loads == [product]
    with w.rt.catalog.reading() as s:
        before = product_cache.generation(s)
    keys = [d for d in w.districts if d != _big(w)]
    change = {"district": ColumnChange(level="group", public_keys=keys)}
    datasets.set_columns(w.rt, w.users["source"], w.dataset_id, ColumnsIn(columns=change))
    with w.rt.catalog.reading() as s:
        assert product_cache.generation(s) > before
    refused = w.refused(product, district=_big(w), min_age=30)
    assert refused.code is ErrorCode.param_not_admissible and loads == [product, product]


def test_a_change_made_by_another_process_reaches_this_ones_calls(sqlite_world: World) -> None:
    """Two runtimes on one catalog (two API processes): each keeps its own preparation and sees the
    other's changes through the audit head; the differencing guard's unit sets are shared too."""
    w = sqlite_world
    product = w.publish(_approved(w))
    other = Runtime(w.rt.settings)
    try:
        body = ProductCallIn(params={"district": _big(w), "min_age": 30})
        assert product_call.call(other, w.users["consumer"], product, body).status == "released"
        lineage = templates.get(w.rt, w.users["operator"], _template_of(w, product)).lineage_id
        with w.rt.catalog.reading() as s:
            seen = w.rt.product_cache.unit_sets(s, lineage)
        assert sum(len(v) for v in seen.values()) == 1  # released by the other process
        products.withdraw(w.rt, w.users["operator"], product)
        with pytest.raises(SandboxError) as caught:
            product_call.call(other, w.users["consumer"], product, body)
        assert caught.value.code is ErrorCode.product_withdrawn
    finally:
        other.close()


def test_only_changes_move_the_generation(sqlite_world: World) -> None:
    w = sqlite_world
    with w.rt.catalog.session() as s:
        start = product_cache.generation(s)
        audit.record(s, "product.called", actor=None, object_type="product", object_id="p")
        audit.record(s, "access.read", actor=None, object_type="usage", object_id="u")
        assert product_cache.generation(s) == start
        ev = audit.record(s, "product.withdrawn", actor=None, object_type="product", object_id="p")
        assert product_cache.generation(s) == ev.seq
    assert "product.called" not in audit.CHANGE_EVENTS and "dataset.columns_changed" in audit.CHANGE_EVENTS
    with w.rt.catalog.session() as s:
        assert audit.verify(s).ok


def _approved(w: World) -> str:
    t = w.template()
    w.approve(t)
    return t


def _template_of(w: World, product_id: str) -> str:
    return products.get(w.rt, w.users["operator"], product_id).template_id


def test_a_refusal_before_the_first_release_leaves_the_kept_preparation_usable(sqlite_world: World) -> None:
    """A refusal raised while the catalog session is open rolls it back; before the fix the rollback
    expired the kept datasets and the next call failed with DetachedInstanceError (internal)."""
    w = sqlite_world
    product = w.publish(_approved(w))
    assert w.refused(product, "stranger", district=_big(w), min_age=30).code is ErrorCode.not_licensed
    assert w.refused(product, district=SMALL, min_age=18).code is ErrorCode.output_disclosive
    assert w.call(product, district=_big(w), min_age=30).status == "released"
