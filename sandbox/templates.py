"""Templates: an operator's parameterized SQL, gated for every admissible value, approved at its pin.

A template is written inside an approved scenario of its author: the scenario's grant bounds the
columns it may read (and gives the views their join-key secret and desensitization), so a product is
never wider than the grant it came from. A template is immutable; an edit is a new revision
(`revises`), which keeps the lineage (and with it every consumer's dp spend) and needs new approvals.

Approval needs a reviewer who did not write it, and the source unit of every dataset it reads. Each
approval pins sha256(SQL, parameter schema, mode and epsilon, dataset versions, policy bundle version):
a call re-computes the pin, and a new dataset version or another bundle refuses it
(`template_pin_mismatch`) until a new revision is approved.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from policies.bundles import Bundle
from policies.gate import params as gate_params
from policies.gate.params import ParamError, ParamSchema, ParamType
from policies.gate.plan import GateContext
from policies.levels import Classification
from sandbox import audit, dp_budget
from sandbox.api.schemas import ApprovalOut, JobIn, Page, TemplateApprovalIn, TemplateIn, TemplateOut
from sandbox.auth import Role, has_role, new_id, require
from sandbox.catalog import paginate
from sandbox.catalog.models import Dataset, Scenario, Template, TemplateApproval, User
from sandbox.errors import ErrorCode, SandboxError
from sandbox.jobs import GrantedTable, granted_tables
from sandbox.runtime import Runtime
from sandbox.scenarios import aware, visible


def bundle_version(bundle: Bundle) -> str:
    """The effective policy bundle's digest (its parsed form, so formatting of the YAML does not count)."""
    return hashlib.sha256(repr(bundle).encode()).hexdigest()


def pin_of(
    sql: str,
    params: Mapping[str, Any],
    mode: str,
    epsilon: float | None,
    versions: Mapping[str, int],
    bundle: str,
) -> str:
    key = {
        "sql": sql,
        "params": params,
        "mode": mode,
        "epsilon": None if epsilon is None else repr(float(epsilon)),
        "versions": dict(sorted(versions.items())),
        "bundle": bundle,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def current_pin(rt: Runtime, s: Session, t: Template) -> str:
    """The pin the template would have now: its datasets' current versions, the running bundle."""
    versions = {}
    for dataset_id in t.dataset_versions:
        ds = s.get(Dataset, dataset_id)
        versions[dataset_id] = ds.current_version if ds is not None else -1
    return pin_of(t.sql, t.params, t.mode, t.epsilon, versions, bundle_version(rt.bundle))


def param_error(e: ParamError) -> SandboxError:
    return SandboxError(ErrorCode(e.code.value), detail={"param": e.param}, param=e.param, why=e.why)


def gate_context(rt: Runtime, tables: Mapping[str, GrantedTable], mode: str) -> GateContext:
    return GateContext(
        tables={k: v.grant for k, v in tables.items()}, mode=mode, dp_contributions=rt.bundle.dp.contributions
    )


def missing_approvals(s: Session, t: Template) -> list[str]:
    """What the template still needs: "reviewer", and "source_unit:<dataset id>" per dataset."""
    rows = list(
        s.execute(
            select(TemplateApproval).where(
                TemplateApproval.template_id == t.id, TemplateApproval.pin == t.pin
            )
        ).scalars()
    )
    missing = [] if any(a.role == Role.reviewer for a in rows) else ["reviewer"]
    approved = {a.dataset_id for a in rows if a.role == Role.source_unit}
    missing += [f"source_unit:{d}" for d in sorted(t.dataset_versions) if d not in approved]
    return missing


def template_out(s: Session, t: Template) -> TemplateOut:
    approvals = s.execute(
        select(TemplateApproval).where(TemplateApproval.template_id == t.id).order_by(TemplateApproval.id)
    ).scalars()
    return TemplateOut(
        id=t.id,
        lineage_id=t.lineage_id,
        revises_id=t.revises_id,
        scenario_id=t.scenario_id,
        author_id=t.author_id,
        name=t.name,
        sql=t.sql,
        params=t.params,
        mode=t.mode,
        epsilon=t.epsilon,
        dataset_versions=t.dataset_versions,
        bundle_version=t.bundle_version,
        pin=t.pin,
        state=t.state,
        approvals=[
            ApprovalOut(
                approver_id=a.approver_id,
                role=a.role,
                dataset_id=a.dataset_id or None,
                created_at=aware(a.created_at),
            )
            for a in approvals
        ],
        missing_approvals=missing_approvals(s, t) if t.state != "superseded" else [],
        created_at=aware(t.created_at),
    )


def _live_scenario(s: Session, actor: User, scenario_id: str) -> Scenario:
    sc = visible(s, actor, scenario_id)
    if sc.operator_id != actor.id:
        raise SandboxError(ErrorCode.not_found, kind="scenario")
    if sc.state != "approved":
        raise SandboxError(ErrorCode.scenario_not_approved, scenario_id=sc.id, state=sc.state)
    if aware(sc.expires_at) <= datetime.now(UTC):
        raise SandboxError(ErrorCode.scenario_expired, scenario_id=sc.id)
    return sc


def create(rt: Runtime, actor: User, body: TemplateIn) -> TemplateOut:
    """Placement and the gate for every admissible value; a refused template is not stored."""
    require(actor, Role.operator)
    with rt.catalog.session() as s:
        sc = _live_scenario(s, actor, body.scenario_id)
        if body.mode not in sc.modes:
            raise SandboxError(
                ErrorCode.mode_not_allowed, mode=body.mode, reason="the scenario does not grant it"
            )
        epsilon = None
        if body.mode == "dp":
            epsilon = dp_budget.job_epsilon(
                rt.bundle, sc, JobIn(scenario_id=sc.id, sql=body.sql, mode="dp", epsilon=body.epsilon)
            )
        previous = _revised(s, actor, sc, body.revises)
        tables = granted_tables(s, sc)
        try:
            schema = gate_params.parse_schema(body.params, {k: v.grant for k, v in tables.items()})
            checked = gate_params.check_template(body.sql, schema, gate_context(rt, tables, body.mode))
        except ParamError as e:
            raise param_error(e) from None
        if not checked.decision.allowed or checked.decision.plan is None:
            reasons = [r.to_dict() for r in checked.decision.reasons]
            raise SandboxError(
                ErrorCode.gate_rejected, detail={"reasons": reasons, "params": checked.refused_with}
            )
        used = [tables[name.lower()] for name in checked.decision.plan.tables]
        for t in used:
            if body.mode not in rt.bundle.for_level(Classification(t.dataset.classification)).modes:
                raise SandboxError(
                    ErrorCode.mode_not_allowed,
                    mode=body.mode,
                    reason=f"the policy bundle does not allow it for {t.dataset.classification} data",
                )
        versions = {t.dataset.id: t.version.version for t in used}
        stored = schema.to_dict()
        bundle = bundle_version(rt.bundle)
        template_id = new_id("tpl")
        t = Template(
            id=template_id,
            lineage_id=previous.lineage_id if previous is not None else template_id,
            revises_id=previous.id if previous is not None else None,
            scenario_id=sc.id,
            author_id=actor.id,
            name=body.name,
            sql=body.sql,
            params=stored,
            mode=body.mode,
            epsilon=epsilon,
            dataset_versions=versions,
            bundle_version=bundle,
            pin=pin_of(body.sql, stored, body.mode, epsilon, versions, bundle),
            state="pending",
            created_at=datetime.now(UTC),
        )
        s.add(t)
        s.flush()
        if previous is not None and previous.state != "superseded":
            previous.state = "superseded"
            audit.record(
                s,
                "template.superseded",
                actor=actor,
                object_type="template",
                object_id=previous.id,
                detail={"by": t.id, "lineage_id": t.lineage_id},
            )
        audit.record(
            s,
            "template.created",
            actor=actor,
            object_type="template",
            object_id=t.id,
            detail={"scenario_id": sc.id, "lineage_id": t.lineage_id, "pin": t.pin, "probes": checked.probes},
        )
        return template_out(s, t)


def _revised(s: Session, actor: User, sc: Scenario, revises: str | None) -> Template | None:
    if revises is None:
        return None
    previous = s.get(Template, revises)
    if previous is None or previous.author_id != actor.id or previous.scenario_id != sc.id:
        raise SandboxError(ErrorCode.not_found, kind="template")
    return previous


def approve(rt: Runtime, actor: User, template_id: str, body: TemplateApprovalIn) -> TemplateOut:
    """A reviewer (never the author) or the source unit of the template's datasets approves its pin."""
    require(actor, Role.reviewer, Role.source_unit)
    with rt.catalog.session() as s:
        t = s.get(Template, template_id)
        if t is None:
            raise SandboxError(ErrorCode.not_found, kind="template")
        if t.state == "superseded":
            raise SandboxError(ErrorCode.template_pin_mismatch, template_id=t.id)
        if current_pin(rt, s, t) != t.pin:
            raise SandboxError(ErrorCode.template_pin_mismatch, template_id=t.id)
        roles: list[tuple[str, str]] = []
        if has_role(actor, Role.reviewer):
            if t.author_id == actor.id:
                raise SandboxError(ErrorCode.review_own_job)
            roles.append((Role.reviewer.value, ""))
        if has_role(actor, Role.source_unit):
            for dataset_id in sorted(t.dataset_versions):
                ds = s.get(Dataset, dataset_id)
                if ds is not None and (
                    ds.owner_id == actor.id or (actor.unit and ds.owner_unit == actor.unit)
                ):
                    roles.append((Role.source_unit.value, dataset_id))
        if not roles:
            raise SandboxError(ErrorCode.forbidden)
        now = datetime.now(UTC)
        for role, dataset_id in roles:
            exists = s.execute(
                select(TemplateApproval).where(
                    TemplateApproval.template_id == t.id,
                    TemplateApproval.role == role,
                    TemplateApproval.dataset_id == dataset_id,
                    TemplateApproval.approver_id == actor.id,
                )
            ).scalar_one_or_none()
            if exists is not None:
                continue
            s.add(
                TemplateApproval(
                    template_id=t.id,
                    approver_id=actor.id,
                    role=role,
                    dataset_id=dataset_id,
                    pin=t.pin,
                    reason=body.reason,
                    created_at=now,
                )
            )
            s.flush()
            audit.record(
                s,
                "template.approval_recorded",
                actor=actor,
                object_type="template",
                object_id=t.id,
                detail={"role": role, "dataset_id": dataset_id or None, "pin": t.pin},
            )
        if t.state == "pending" and not missing_approvals(s, t):
            t.state = "approved"
            audit.record(
                s,
                "template.approved",
                actor=actor,
                object_type="template",
                object_id=t.id,
                detail={"pin": t.pin},
            )
        return template_out(s, t)


def get(rt: Runtime, actor: User, template_id: str) -> TemplateOut:
    require(actor, Role.operator, Role.reviewer, Role.source_unit, Role.admin, Role.auditor)
    with rt.catalog.session() as s:
        t = s.get(Template, template_id)
        if t is None or (
            not has_role(actor, Role.reviewer, Role.source_unit, Role.admin, Role.auditor)
            and t.author_id != actor.id
        ):
            raise SandboxError(ErrorCode.not_found, kind="template")
        return template_out(s, t)


def list_(rt: Runtime, actor: User, limit: int = 50, cursor: str | None = None) -> Page[TemplateOut]:
    """Operators see their own templates; reviewers, source units, admins and auditors every one."""
    require(actor, Role.operator, Role.reviewer, Role.source_unit, Role.admin, Role.auditor)
    with rt.catalog.session() as s:
        q = select(Template)
        if not has_role(actor, Role.reviewer, Role.source_unit, Role.admin, Role.auditor):
            q = q.where(Template.author_id == actor.id)
        rows, next_cursor = paginate(s, q, Template.id, limit, cursor)
        return Page(items=[template_out(s, t) for t in rows], next_cursor=next_cursor)


def schema_of(t: Template) -> ParamSchema:
    return ParamSchema.from_dict(t.params)


def still_public(params: Any, values: Mapping[str, Any], tables: Mapping[str, GrantedTable]) -> None:
    """An enum value must still be a declared public key of its column (keys may have been withdrawn)."""
    for p in params:
        if p.type is not ParamType.enum or p.column is None:
            continue
        table, _, column = p.column.rpartition(".")
        grant = tables.get(table.lower())
        col = grant.grant.columns.get(column) if grant is not None else None
        if col is None or not col.public_keys or values[p.name] not in col.public_keys:
            raise SandboxError(
                ErrorCode.param_not_admissible,
                detail={"param": p.name},
                param=p.name,
                why="no longer a public key",
            )
