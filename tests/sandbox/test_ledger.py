"""The privacy budget ledger never overspends, also under concurrent debits, on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sandbox import audit, ledger
from sandbox.auth import Role, add_user, new_id
from sandbox.catalog.models import Dataset, Scenario
from sandbox.errors import ErrorCode, SandboxError
from sandbox.runtime import Runtime
from sandbox.settings import Settings


def _setup(tmp_path: Path, url: str, *, epsilon: float = 1.0, delta: float = 1e-6, datasets: int = 1):
    rt = Runtime(Settings(home=tmp_path / "home", database_url=url))
    now = datetime.now(UTC)
    with rt.catalog.session() as s:
        source, _ = add_user(s, "source", [Role.source_unit], "u")
        operator, _ = add_user(s, "operator", [Role.operator], "acme")
        ids = []
        for i in range(datasets):
            ds = Dataset(
                id=new_id("ds"),
                name=f"t{i}",
                classification="core",
                privacy_unit="pid",
                owner_id=source.id,
                owner_unit="u",
                current_version=1,
                created_at=now,
            )
            s.add(ds)
            ids.append(ds.id)
        s.flush()
        sc = _scenario(s, operator.id, ids, epsilon, delta)
    return rt, operator, ids, sc.id


def _scenario(s, operator_id: str, ids: list[str], epsilon: float, delta: float) -> Scenario:
    sc = Scenario(
        id=new_id("sc"),
        name="s",
        purpose="p",
        operator_id=operator_id,
        grants={i: ["x"] for i in ids},
        modes=["dp"],
        epsilon=epsilon,
        delta=delta,
        expires_at=datetime.now(UTC) + timedelta(days=1),
        public_interest=False,
        state="approved",
        join_key_secret=secrets.token_hex(32),
        created_at=datetime.now(UTC),
    )
    s.add(sc)
    s.flush()
    return sc


def _debit(rt: Runtime, scenario_id: str, ids: list[str], epsilon: float, delta: float = 0.0) -> bool:
    try:
        with rt.catalog.session() as s:
            sc = s.get(Scenario, scenario_id)
            ledger.debit(
                s,
                scenario=sc,
                dataset_ids=ids,
                epsilon=epsilon,
                delta=delta,
                job_id=new_id("job"),
                actor=None,
            )
        return True
    except SandboxError as e:
        assert e.code is ErrorCode.budget_exceeded
        return False


def test_fifty_concurrent_debits_never_overspend(tmp_path: Path, catalog_url: str) -> None:
    rt, _, ids, sc_id = _setup(tmp_path, catalog_url, epsilon=1.0)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: _debit(rt, sc_id, ids, 0.1), range(50)))
    assert results.count(True) == 10
    with rt.catalog.session() as s:
        left = ledger.budget(s, s.get(Scenario, sc_id))
        assert left.epsilon_left == pytest.approx(0.0, abs=1e-9)
        assert audit.verify(s).ok
        spent = [e for e in audit_events(s) if e == "budget.debited"]
    assert len(spent) == 10
    rt.close()


def audit_events(s) -> list[str]:
    from sqlalchemy import select

    from sandbox.catalog.models import AuditEvent

    return [e.event_type for e in s.execute(select(AuditEvent)).scalars()]


def test_exhausted_budget_refuses_with_what_is_left(tmp_path: Path, catalog_url: str) -> None:
    rt, _, ids, sc_id = _setup(tmp_path, catalog_url, epsilon=0.3)
    assert [_debit(rt, sc_id, ids, 0.1) for _ in range(3)] == [True, True, True]  # exact: 3 x 0.1 fits 0.3
    with pytest.raises(SandboxError) as refused, rt.catalog.session() as s:
        ledger.debit(
            s,
            scenario=s.get(Scenario, sc_id),
            dataset_ids=ids,
            epsilon=0.05,
            delta=0.0,
            job_id="job_x",
            actor=None,
        )
    assert refused.value.code is ErrorCode.budget_exceeded
    assert refused.value.detail["epsilon_left"] == pytest.approx(0.0, abs=1e-9)
    rt.close()


def test_a_recreated_scenario_does_not_reset_the_spend(tmp_path: Path, catalog_url: str) -> None:
    rt, operator, ids, sc_id = _setup(tmp_path, catalog_url, epsilon=1.0)
    assert _debit(rt, sc_id, ids, 0.8)
    with rt.catalog.session() as s:
        again = _scenario(s, operator.id, ids, 1.0, 1e-6).id
    assert not _debit(rt, again, ids, 0.3)
    assert _debit(rt, again, ids, 0.2)
    rt.close()


def test_a_job_over_two_datasets_is_charged_on_each(tmp_path: Path, catalog_url: str) -> None:
    rt, operator, ids, sc_id = _setup(tmp_path, catalog_url, epsilon=1.0, datasets=2)
    assert _debit(rt, sc_id, ids, 0.6)
    with rt.catalog.session() as s:
        only_second = _scenario(s, operator.id, [ids[1]], 1.0, 1e-6).id
    assert not _debit(rt, only_second, [ids[1]], 0.5)
    assert _debit(rt, only_second, [ids[1]], 0.4)
    rt.close()


def test_delta_is_budgeted_too(tmp_path: Path, catalog_url: str) -> None:
    rt, _, ids, sc_id = _setup(tmp_path, catalog_url, epsilon=10.0, delta=1e-6)
    assert _debit(rt, sc_id, ids, 0.1, 6e-7)
    assert not _debit(rt, sc_id, ids, 0.1, 6e-7)
    assert _debit(rt, sc_id, ids, 0.1, 4e-7)
    rt.close()


@pytest.mark.parametrize("epsilon", [0.0, -1.0, float("inf"), float("nan")])
def test_a_spend_must_be_a_positive_finite_epsilon(tmp_path: Path, catalog_url: str, epsilon: float) -> None:
    rt, _, ids, sc_id = _setup(tmp_path, catalog_url)
    with pytest.raises(SandboxError) as bad, rt.catalog.session() as s:
        ledger.debit(
            s,
            scenario=s.get(Scenario, sc_id),
            dataset_ids=ids,
            epsilon=epsilon,
            delta=0.0,
            job_id="job_y",
            actor=None,
        )
    assert bad.value.code is ErrorCode.invalid_request
    rt.close()
