"""Scenario grants (一场景一清单一授权): datasets + columns + purpose + modes + term, approved by an admin."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from policies.levels import ColumnLevel
from policies.metering import commercial_term
from sandbox import audit, ledger
from sandbox.api.schemas import DecisionIn, Page, ScenarioIn, ScenarioOut
from sandbox.auth import Role, has_role, new_id, require
from sandbox.catalog import paginate
from sandbox.catalog.models import Column, Dataset, Destruction, Scenario, User
from sandbox.errors import ErrorCode, SandboxError
from sandbox.runtime import Runtime
from sandbox.workspace.desensitize import applicable


def aware(dt: datetime) -> datetime:
    """SQLite hands back naive datetimes; every time the catalog stores is UTC."""
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def scenario_out(s: Session, sc: Scenario) -> ScenarioOut:
    spent = ledger.budget(s, sc)
    return ScenarioOut(
        id=sc.id,
        name=sc.name,
        purpose=sc.purpose,
        operator_id=sc.operator_id,
        datasets=sc.grants,
        modes=sc.modes,
        epsilon=sc.epsilon,
        delta=sc.delta,
        expires_at=aware(sc.expires_at),
        public_interest=sc.public_interest,
        state=sc.state,
        decision_reason=sc.decision_reason,
        created_at=aware(sc.created_at),
        epsilon_spent=spent.epsilon_spent,
        delta_spent=spent.delta_spent,
        desensitize=sc.desensitize,
    )


def apply(rt: Runtime, actor: User, body: ScenarioIn) -> ScenarioOut:
    """An operator applies; hidden columns can never be granted, unknown ones are named."""
    require(actor, Role.operator)
    now = datetime.now(UTC)
    expires = aware(body.expires_at) if body.expires_at else now + timedelta(days=365)
    if expires <= now:
        raise SandboxError(ErrorCode.invalid_request, reason="expires_at must be in the future")
    if not body.datasets:
        raise SandboxError(ErrorCode.invalid_request, reason="a scenario grants at least one dataset")
    if body.public_interest and (term := commercial_term(f"{body.name}\n{body.purpose}")) is not None:
        raise SandboxError(ErrorCode.commercial_purpose, term=term)
    with rt.catalog.session() as s:
        for dataset_id, cols in body.datasets.items():
            ds = s.get(Dataset, dataset_id)
            if ds is None:
                raise SandboxError(ErrorCode.not_found, kind="dataset")
            if s.get(Destruction, ("dataset", ds.id)) is not None:
                raise SandboxError(ErrorCode.already_destroyed, kind="dataset", object_id=ds.id)
            known = {c.name: c for c in s.execute(select(Column).where(Column.dataset_id == ds.id)).scalars()}
            if not cols:
                raise SandboxError(
                    ErrorCode.invalid_request, reason=f"no columns listed for dataset {dataset_id}"
                )
            for col in cols:
                if col not in known:
                    raise SandboxError(ErrorCode.unknown_column, column=col)
                if known[col].level == ColumnLevel.hidden.value:
                    raise SandboxError(
                        ErrorCode.column_not_granted,
                        column=col,
                        dataset=ds.name,
                        reason="the column is hidden",
                    )
        desensitize = _desensitize(s, body)
        sc = Scenario(
            id=new_id("sc"),
            name=body.name,
            purpose=body.purpose,
            operator_id=actor.id,
            grants={k: list(dict.fromkeys(v)) for k, v in body.datasets.items()},
            modes=list(dict.fromkeys(body.modes)),
            epsilon=body.epsilon,
            delta=body.delta,
            expires_at=expires,
            public_interest=body.public_interest,
            state="pending",
            join_key_secret=secrets.token_hex(32),
            created_at=now,
            desensitize=desensitize,
        )
        s.add(sc)
        s.flush()
        audit.record(
            s,
            "scenario.applied",
            actor=actor,
            object_type="scenario",
            object_id=sc.id,
            detail={
                "name": sc.name,
                "datasets": sc.grants,
                "modes": sc.modes,
                "expires_at": expires.isoformat(),
                "public_interest": sc.public_interest,
                "desensitize": desensitize,
            },
        )
        return scenario_out(s, sc)


def _desensitize(s: Session, body: ScenarioIn) -> dict[str, dict[str, dict[str, object]]] | None:
    """Each declared method names a granted column of a granted dataset and fits its type."""
    if not body.desensitize:
        return None
    out: dict[str, dict[str, dict[str, object]]] = {}
    for dataset_id, columns in body.desensitize.items():
        granted = body.datasets.get(dataset_id)
        if granted is None:
            raise SandboxError(ErrorCode.invalid_request, reason="desensitize names a dataset not granted")
        types = {
            c.name: c.type for c in s.execute(select(Column).where(Column.dataset_id == dataset_id)).scalars()
        }
        for name, entry in columns.items():
            if name not in granted:
                raise SandboxError(ErrorCode.unknown_column, column=name)
            if not applicable(entry.method, types[name]):
                raise SandboxError(
                    ErrorCode.level_not_allowed,
                    column=name,
                    level=entry.method,
                    reason=f"the method does not apply to a {types[name]} column",
                )
            out.setdefault(dataset_id, {})[name] = entry.model_dump(exclude_none=True)
    return out


def _transition(
    rt: Runtime, actor: User, scenario_id: str, to: str, allowed_from: tuple[str, ...], body: DecisionIn
) -> ScenarioOut:
    require(actor, Role.admin)
    with rt.catalog.session() as s:
        sc = s.get(Scenario, scenario_id)
        if sc is None:
            raise SandboxError(ErrorCode.not_found, kind="scenario")
        if sc.state not in allowed_from:
            raise SandboxError(ErrorCode.scenario_state, scenario_id=sc.id, state=sc.state, action=to)
        sc.state = to
        sc.decided_by = actor.id
        sc.decision_reason = body.reason or None
        cancelled: list[str] = []
        if to == "revoked":  # queued jobs never start, running ones are stopped, candidates deleted
            from sandbox.revocation import live_jobs, stop_jobs

            cancelled = stop_jobs(s, actor, live_jobs(s, scenario_id=sc.id), "scenario_revoked")
        s.flush()
        audit.record(
            s,
            f"scenario.{to}",
            actor=actor,
            object_type="scenario",
            object_id=sc.id,
            detail={"reason": body.reason, "cancelled_jobs": cancelled},
        )
        out = scenario_out(s, sc)
    if cancelled:
        from sandbox.revocation import discard_candidates

        discard_candidates(rt, cancelled)
        rt.job_changed()
    return out


def approve(rt: Runtime, actor: User, scenario_id: str, body: DecisionIn) -> ScenarioOut:
    return _transition(rt, actor, scenario_id, "approved", ("pending",), body)


def reject(rt: Runtime, actor: User, scenario_id: str, body: DecisionIn) -> ScenarioOut:
    return _transition(rt, actor, scenario_id, "rejected", ("pending",), body)


def revoke(rt: Runtime, actor: User, scenario_id: str, body: DecisionIn) -> ScenarioOut:
    return _transition(rt, actor, scenario_id, "revoked", ("pending", "approved"), body)


def visible(s: Session, actor: User, scenario_id: str) -> Scenario:
    """Operators see only their own scenarios; others' are simply not found."""
    sc = s.get(Scenario, scenario_id)
    if sc is None:
        raise SandboxError(ErrorCode.not_found, kind="scenario")
    if not has_role(actor, Role.admin, Role.reviewer, Role.auditor) and sc.operator_id != actor.id:
        raise SandboxError(ErrorCode.not_found, kind="scenario")
    return sc


def get(rt: Runtime, actor: User, scenario_id: str) -> ScenarioOut:
    require(actor, Role.operator, Role.admin, Role.reviewer, Role.auditor)
    with rt.catalog.session() as s:
        return scenario_out(s, visible(s, actor, scenario_id))


def list_(rt: Runtime, actor: User, limit: int = 50, cursor: str | None = None) -> Page[ScenarioOut]:
    require(actor, Role.operator, Role.admin, Role.reviewer, Role.auditor)
    with rt.catalog.session() as s:
        q = select(Scenario)
        if not has_role(actor, Role.admin, Role.reviewer, Role.auditor):
            q = q.where(Scenario.operator_id == actor.id)
        rows, next_cursor = paginate(s, q, Scenario.id, limit, cursor)
        return Page(items=[scenario_out(s, r) for r in rows], next_cursor=next_cursor)
