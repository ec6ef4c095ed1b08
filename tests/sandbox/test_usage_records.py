"""Usage records in the catalog: totals per scenario and form, and the yearly flag, on a generated history."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from policies.metering import K, ProductForm
from sandbox import metering
from sandbox.auth import Role, add_user
from sandbox.catalog.models import Scenario
from sandbox.runtime import Runtime
from sandbox.settings import Settings


def _scenario(s, operator_id: str, sid: str) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    s.add(
        Scenario(
            id=sid, name=sid, purpose="p", operator_id=operator_id, grants={}, modes=["sdc"],
            epsilon=None, delta=None, expires_at=now, public_interest=False, state="approved",
            join_key_secret="00" * 32, created_at=now,
        )
    )  # fmt: skip
    s.flush()


def test_generated_history(tmp_path: Path, catalog_url: str) -> None:
    rt = Runtime(Settings(home=tmp_path / "home", database_url=catalog_url))
    rng = random.Random(8)
    with rt.catalog.session() as s:
        users = {n: add_user(s, n, [Role.operator], None)[0].id for n in ("at", "over", "busy", "small")}
        for n, uid in users.items():
            _scenario(s, uid, f"sc_{n}")
        # API calls spread over the months of 2026: "at" makes exactly 1,000,000, "over" 1,000,001;
        # "busy" makes 900,000 in 2025 and 900,000 in 2026 (never over in one year).
        plan = {("at", 2026): 1_000_000, ("over", 2026): 1_000_001, ("busy", 2025): 900_000,
                ("busy", 2026): 900_000, ("small", 2026): 1234}  # fmt: skip
        expected_calls: dict[str, int] = {}
        expected_form: dict[str, Decimal] = {}
        for (n, year), total in plan.items():
            left = total
            while left:
                chunk = min(left, rng.randint(1, 150_000))
                month = rng.randint(1, 12)
                metering.record(
                    s, scenario_id=f"sc_{n}", subject_id=users[n], form="api_call", volume=chunk,
                    when=datetime(year, month, rng.randint(1, 28), tzinfo=UTC),
                )  # fmt: skip
                left -= chunk
            if year == 2026:
                expected_calls[users[n]] = expected_calls.get(users[n], 0) + total
        for _ in range(40):  # other forms, 2026
            form = rng.choice([f for f in ProductForm if f is not ProductForm.api_call])
            vol = rng.randint(1, 5000)
            n = rng.choice(list(users))
            metering.record(
                s, scenario_id=f"sc_{n}", subject_id=users[n], form=form, volume=vol,
                when=datetime(2026, rng.randint(1, 12), 3, tzinfo=UTC),
            )  # fmt: skip
            expected_form[form.value] = expected_form.get(form.value, Decimal(0)) + vol
    with rt.catalog.session() as s:
        y26 = metering.summarize(s, 2026)
        y25 = metering.summarize(s, 2025)
        every = metering.summarize(s)
    assert y26.totals.flagged_subjects == (users["over"],)
    assert y25.totals.flagged_subjects == ()
    assert every.totals.flagged_subjects == (users["over"],)  # per (subject, year), not over all years
    assert y26.calls_by_subject == expected_calls
    assert y26.totals.by_form["api_call"] == sum(expected_calls.values())
    for form, vol in expected_form.items():
        assert y26.totals.by_form[form] == vol
    expected_v = sum(expected_calls.values()) + sum(K[ProductForm(f)] * v for f, v in expected_form.items())
    assert y26.totals.v == expected_v
    assert sum(y26.totals.by_scenario.values()) == expected_v
    assert y25.totals.by_form == {"api_call": Decimal(900_000)}
    out = y26.to_dict()
    assert out["flagged_subjects"] == [users["over"]] and out["review_threshold"] == 1_000_000
    rt.close()


def test_review_flag_counts_a_subjects_calls_over_all_products(tmp_path: Path, catalog_url: str) -> None:
    """Split per product, calls still add up per subject and year: 600,000 + 400,001 is flagged."""
    rt = Runtime(Settings(home=tmp_path / "home", database_url=catalog_url))
    with rt.catalog.session() as s:
        users = {n: add_user(s, n, [Role.operator], None)[0].id for n in ("over", "at")}
        _scenario(s, users["at"], "sc")
        plan = [("over", "prd_a", 600_000), ("over", "prd_b", 400_001), ("at", "prd_a", 400_000),
                ("at", "prd_b", 600_000)]  # fmt: skip
        for who, product, calls in plan:
            metering.record(
                s, scenario_id="sc", subject_id=users[who], form="api_call", volume=calls, product_id=product,
                when=datetime(2026, 3, 1, tzinfo=UTC),
            )  # fmt: skip
    with rt.catalog.session() as s:
        every = metering.summarize(s, 2026)
        only_b = metering.summarize(s, 2026, product_id="prd_b")
    rt.close()
    assert every.totals.flagged_subjects == (users["over"],)
    assert every.calls_by_subject == {users["over"]: 1_000_001, users["at"]: 1_000_000}
    assert every.by_product["prd_a"].calls_by_subject == {users["over"]: 600_000, users["at"]: 400_000}
    assert every.by_product["prd_b"].normalised == Decimal(1_000_001)
    assert only_b.totals.flagged_subjects == ()  # a filter narrows the flags too (400,001 and 600,000)
    assert every.to_dict()["flagged_subjects"] == [users["over"]]
