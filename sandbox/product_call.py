"""A product call: licence -> parameters -> pin -> gate -> workspace -> automatic checks -> released.

1. The caller is a licensed consumer of a published product whose scenario is still approved.
2. Each value is checked against its admissible set and bound into the template's tree as a literal
   (`policies.gate.params.bind`); an enum value must still be a declared public key.
3. The pin is recomputed (current dataset versions, running bundle): a mismatch is refused.
4. The gate checks the bound SQL against the grant as it is now (levels may have been narrowed).
5. dp: the spend is debited from the consumer's budget on the template lineage, per month and for
   life, before any data is read; an identical earlier call (same bound plan and versions) gets its
   noisy output back for free, as repeats of jobs do (two identical calls at the same moment both pay;
   the first to finish is the one kept).
6. A warm workspace runs the plan (`rt.warm_pool()`, keyed by product and pin; views compared).
7. sdc: the differencing guard over the lineage's released unit sets, the thresholds and dominance
   rules, then the output PII scan (`sandbox.run.privacy_check`). Any suppressed cell refuses the whole
   call (`output_disclosive`): a consumer never sees a partial table whose holes could be read. So
   does an empty output when the bundle holds zeros disclosive: no row says nobody matched.
8. Released to the caller, unless the policy bundle asks for per-output review at the level of the
   data (`per_output_review`): then the call becomes a job pending review, and its release is
   downloaded (and metered) as a job's.

Every call is recorded (`product_calls`) and audited; a released call is metered in the product's
form: api_call 1 call; analysis_report fields x 1 report; dataset rows x fields x 1 day;
output_label rows (tags) x fields (dimensions); alert_push rows (items) x 1 month. Refused calls are
recorded with parameter names only, never the values given.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyroaring import BitMap
from sqlalchemy.orm import Session

from policies.bundles import LevelPolicy
from policies.gate.params import ContextKey, ParamError, ParamSchema, bind_and_check
from policies.gate.plan import Plan
from policies.levels import Classification
from policies.privacy import differencing, sdc
from policies.privacy.differencing import UNIT_SET_PREFIX
from sandbox import audit, dp_budget, dp_run, metering, product_ledger
from sandbox.api.schemas import ProductCallIn, ProductCallOut
from sandbox.auth import new_id
from sandbox.catalog import DriverStatement, insert_for
from sandbox.catalog.models import (
    Job,
    Product,
    ProductCall,
    ProductDpRelease,
    Scenario,
    Template,
    User,
)
from sandbox.errors import ErrorCode, SandboxError
from sandbox.jobs import GrantedTable, granted_tables, plan_to_dict, view_specs
from sandbox.run import privacy_check, public_keys_by_output
from sandbox.runtime import Runtime
from sandbox.scenarios import aware
from sandbox.templates import current_pin, gate_context, param_error, schema_of, still_public
from sandbox.workspace import ViewSpec
from sandbox.workspace.warm import WarmResult


@dataclass(frozen=True)
class Prepared:
    """Everything a call needs after the catalog checks."""

    product: Product
    template: Template
    scenario_id: str
    plan: Plan
    versions: dict[str, int]  # the dataset versions the plan reads
    views: tuple[ViewSpec, ...]
    level: LevelPolicy
    public_keys: dict[str, list[str]]
    unit_columns: list[tuple[str, str]]
    dataset_ids: list[str]
    values: dict[str, Any]
    delta_cap: float
    earlier: dict[str, list[BitMap]]  # sdc: the lineage's released unit sets, by dataset

    @functools.cached_property
    def plan_d(self) -> dict[str, Any]:
        """The plan as a job stores it (dp: with its epsilon); only dp calls and reviews need it."""
        d = plan_to_dict(self.plan, self.versions)
        if self.template.mode == "dp":
            d["epsilon"] = self.template.epsilon
        return d


@dataclass(frozen=True)
class _Base:
    """A product as every call sees it until the catalog changes (`sandbox.product_cache`): the rows
    and answers of the checks, not yet the checks (their order, and the caller, decide the refusal)."""

    product: Product
    template: Template
    schema: ParamSchema
    scenario_id: str
    scenario_state: str
    expires_at: datetime
    delta_cap: float
    tables: dict[str, GrantedTable]
    context: ContextKey  # the grant as the gate sees it, keyed once for the gate's decision cache
    views: dict[str, ViewSpec]  # by lower-cased table name
    pin_ok: bool


_CALL_KEYS = ("id", "product_id", "consumer_id", "params", "status", "reason_code", "rows", "created_at")
_INSERT_CALL = DriverStatement(ProductCall.__table__.insert(), _CALL_KEYS)  # the hot path: on the driver


def call(
    rt: Runtime, actor: User, product_id: str, body: ProductCallIn, generation: int | None = None
) -> ProductCallOut:
    """One call; a refusal is recorded and audited, then raised with its code and the call id.
    `generation`: the catalog generation the request's authentication read (`auth.TokenCache`)."""
    started = time.perf_counter()
    try:
        prep = _prepare(rt, actor, product_id, body.params, generation)
        return _run(rt, actor, prep, started)
    except SandboxError as e:
        if e.code is ErrorCode.not_found:  # no such product: nothing to record a call against
            raise
        call_id = _refused(rt, actor, product_id, sorted(body.params), e.code)
        e.detail = {**(e.detail if isinstance(e.detail, dict) else {}), "call_id": call_id}
        raise


def _load(rt: Runtime, s: Session, product_id: str) -> _Base:
    p = s.get(Product, product_id)
    if p is None:
        raise SandboxError(ErrorCode.not_found, kind="product")
    t = s.get(Template, p.template_id)
    sc = s.get(Scenario, t.scenario_id) if t is not None else None
    assert t is not None and sc is not None
    tables = granted_tables(s, sc, t.dataset_versions)
    specs = view_specs(rt, s, sc, list(tables.values()))
    pin_ok = current_pin(rt, s, t) == t.pin
    # Detached now: a refusal raised later in this session rolls it back, and a rollback expires what
    # it still holds (the entry's datasets and versions would then fail to load in the next call).
    s.expunge_all()
    return _Base(
        product=p,
        template=t,
        schema=schema_of(t),
        scenario_id=sc.id,
        scenario_state=sc.state,
        expires_at=aware(sc.expires_at),
        delta_cap=sc.delta or 0.0,
        tables=tables,
        context=ContextKey(gate_context(rt, tables, t.mode)),
        views=dict(zip(tables, specs, strict=True)),
        pin_ok=pin_ok,
    )


def _prepare(
    rt: Runtime, actor: User, product_id: str, values: dict[str, Any], generation: int | None = None
) -> Prepared:
    with rt.catalog.reading() as s:
        b: _Base = rt.product_cache.get(s, product_id, lambda: _load(rt, s, product_id), generation)
        p, t = b.product, b.template
        if actor.id not in p.consumers:
            raise SandboxError(ErrorCode.not_licensed, product_id=p.id)
        if p.state != "published":
            raise SandboxError(ErrorCode.product_withdrawn, product_id=p.id)
        if b.scenario_state != "approved":
            raise SandboxError(
                ErrorCode.scenario_not_approved, scenario_id=b.scenario_id, state=b.scenario_state
            )
        if b.expires_at <= datetime.now(UTC):
            raise SandboxError(ErrorCode.scenario_expired, scenario_id=b.scenario_id)
        if t.state != "approved":
            raise SandboxError(
                ErrorCode.template_not_approved, template_id=t.id, missing="a current approval"
            )
        try:
            _, decision = bind_and_check(t.sql, b.schema, values, b.context)
        except ParamError as e:
            raise param_error(e) from None
        still_public(b.schema.params, values, b.tables)
        if not b.pin_ok:
            raise SandboxError(ErrorCode.template_pin_mismatch, template_id=t.id)
        if not decision.allowed or decision.plan is None:
            raise SandboxError(
                ErrorCode.gate_rejected, detail={"reasons": [r.to_dict() for r in decision.reasons]}
            )
        earlier = rt.product_cache.unit_sets(s, t.lineage_id) if t.mode == "sdc" else {}
    plan = decision.plan
    used = [b.tables[name.lower()] for name in plan.tables]
    return Prepared(
        product=p,
        template=t,
        scenario_id=b.scenario_id,
        plan=plan,
        versions={u.dataset.id: u.version.version for u in used},
        views=tuple(b.views[name.lower()] for name in plan.tables),
        level=rt.bundle.strictest([Classification(u.dataset.classification) for u in used]),
        public_keys=public_keys_by_output(plan, used),
        unit_columns=[(u.dataset.id, f"{UNIT_SET_PREFIX}{u.grant.name}") for u in used],
        dataset_ids=sorted({u.dataset.id for u in used}),
        values=dict(values),
        delta_cap=b.delta_cap,
        earlier=earlier,
    )


def _run(rt: Runtime, actor: User, prep: Prepared, started: float) -> ProductCallOut:
    if prep.template.mode == "dp":
        return _run_dp(rt, actor, prep, started)
    result = run_query(rt, f"product:{prep.product.id}:{prep.template.pin}", prep.views, prep.plan.sql)
    if not result.ok or result.table is None:
        raise SandboxError(result.error or ErrorCode.query_failed)
    raw = result.table
    sets, guarded = differencing.guard_result(raw, prep.unit_columns, prep.earlier, prep.level.k)
    released, report, hits = privacy_check(rt, raw, prep.plan, prep.level, prep.public_keys, guarded)
    if hits:
        raise SandboxError(ErrorCode.output_pii, detail={"output_pii": [h.to_dict() for h in hits]})
    suppressed = report["sdc"].get("suppressed", [])
    if suppressed or (raw.num_rows == 0 and prep.level.sdc.zeros_disclosive):
        rules = sorted({c["rule"] for c in suppressed}) or ["empty_output"]  # no row: a zero for every cell
        raise SandboxError(ErrorCode.output_disclosive, detail={"rules": rules}, rules=", ".join(rules))
    timings = {"query_s": round(result.query_s, 4), "workspace_s": round(result.total_s, 4)}
    if prep.level.per_output_review:
        return _to_review(rt, actor, prep, released, report, timings)
    # A released call has no withheld cell (one would have refused it), so its flags say nothing the
    # bundle does not already state (a rounding base rounds every count): the operator's columns only.
    flags = [sdc.flag_column(o.name) for o in prep.plan.outputs]
    table = released.drop_columns([sdc.SUPPRESSED, *(f for f in flags if f in released.column_names)])
    return _released(rt, actor, prep, table, started, timings, sets=sets)


def _run_dp(rt: Runtime, actor: User, prep: Prepared, started: float) -> ProductCallOut:
    cal = dp_budget.calibration(rt.bundle, prep.plan_d)
    qhash = dp_budget.query_hash(prep.plan_d)
    key = (prep.template.lineage_id, actor.id, qhash)
    with rt.catalog.session() as s:
        cached = s.get(ProductDpRelease, key)
        if cached is not None:
            table = dp_run.table_from_ipc(cached.table_ipc)
        else:
            table = None
            product_ledger.debit(
                s,
                consumer_id=actor.id,
                product=prep.product,
                lineage_id=prep.template.lineage_id,
                dataset_ids=prep.dataset_ids,
                epsilon=cal.epsilon,
                delta=cal.delta,
                delta_cap=prep.delta_cap,
            )
    if table is not None:
        return _released(rt, actor, prep, table, started, {}, epsilon=0.0, repeat=True)
    result = run_query(rt, f"product:{prep.product.id}:{prep.template.pin}", prep.views, prep.plan.sql)
    if not result.ok or result.table is None:  # the spend stays: the workspace may have read the data
        raise SandboxError(result.error or ErrorCode.query_failed)
    table, _ = dp_run.noisy_table(cal, prep.plan.outputs, result.table)
    timings = {"query_s": round(result.query_s, 4), "workspace_s": round(result.total_s, 4)}
    with rt.catalog.session() as s:  # an identical call that finished first keeps its release
        insert = insert_for(s)
        row = {"lineage_id": key[0], "consumer_id": key[1], "query_hash": key[2]}
        stmt = insert(ProductDpRelease).values(
            **row, table_ipc=dp_run.table_to_ipc(table), created_at=datetime.now(UTC)
        )
        s.execute(stmt.on_conflict_do_nothing(index_elements=list(row)))
    return _released(rt, actor, prep, table, started, timings, epsilon=cal.epsilon)


def _released(
    rt: Runtime,
    actor: User,
    prep: Prepared,
    table: pa.Table,
    started: float,
    timings: dict[str, float],
    *,
    sets: dict[str, list[BitMap]] | None = None,
    epsilon: float | None = None,
    repeat: bool = False,
) -> ProductCallOut:
    p = prep.product
    call_id = new_id("call")
    with rt.catalog.session() as s:
        if sets:
            lineage = prep.template.lineage_id
            product_ledger.keep_sets(s, lineage, sets, rt.product_cache.known_sets(lineage))
        call_row = {
            "id": call_id,
            "product_id": p.id,
            "consumer_id": actor.id,
            "params": prep.values,
            "status": "released",
            "reason_code": None,
            "rows": table.num_rows,
            "created_at": datetime.now(UTC),
        }
        _INSERT_CALL.execute(s, call_row)
        metering.record(
            s,
            scenario_id=prep.scenario_id,
            subject_id=actor.id,
            form=p.form,
            volume=product_ledger.volume_of(p.form, table),
            product_id=p.id,
        )
        audit.record(
            s,
            "product.called",
            actor=actor,
            object_type="product",
            object_id=p.id,
            detail={
                "call_id": call_id,
                "params": prep.values,
                "rows": table.num_rows,
                "epsilon": epsilon,
                "repeat": repeat,
            },
        )
    timings = {**timings, "call_s": round(time.perf_counter() - started, 4)}
    return ProductCallOut(
        call_id=call_id,
        product_id=p.id,
        status="released",
        columns=table.column_names,
        rows=[list(r.values()) for r in table.to_pylist()],
        mode=prep.template.mode,
        epsilon_spent=epsilon,
        repeat=repeat,
        timings=timings,
    )


def _to_review(
    rt: Runtime,
    actor: User,
    prep: Prepared,
    released: pa.Table,
    report: dict[str, Any],
    timings: dict[str, float],
) -> ProductCallOut:
    """Per-output review: the checked output becomes a job pending review, submitted by the consumer."""
    job_id, call_id, now = new_id("job"), new_id("call"), datetime.now(UTC)
    path = rt.settings.jobs_dir / job_id / "candidate.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(released, path)
    with rt.catalog.session() as s:
        s.add(
            Job(
                id=job_id,
                scenario_id=prep.scenario_id,
                submitter_id=actor.id,
                sql=prep.plan_d["sql"],
                mode=prep.template.mode,
                state="pending_review",
                reason_code="product_call",
                plan=prep.plan_d,
                gate_report=[],
                check_report={**report, "product_id": prep.product.id, "timings": timings},
                created_at=now,
                updated_at=now,
            )
        )
        s.add(
            ProductCall(
                id=call_id,
                product_id=prep.product.id,
                consumer_id=actor.id,
                params=prep.values,
                status="pending_review",
                reason_code=None,
                rows=0,
                job_id=job_id,
                created_at=now,
            )
        )
        s.flush()
        audit.record(
            s,
            "job.pending_review",
            actor=actor,
            object_type="job",
            object_id=job_id,
            detail={"from": None, "reason_code": "product_call", "product_id": prep.product.id},
        )
        audit.record(
            s,
            "product.call_pending_review",
            actor=actor,
            object_type="product",
            object_id=prep.product.id,
            detail={"call_id": call_id, "job_id": job_id, "params": prep.values},
        )
    rt.job_changed()
    return ProductCallOut(
        call_id=call_id,
        product_id=prep.product.id,
        status="pending_review",
        columns=[],
        rows=[],
        mode=prep.template.mode,
        job_id=job_id,
        timings=timings,
    )


def _refused(rt: Runtime, actor: User, product_id: str, names: list[str], code: ErrorCode) -> str:
    call_id = new_id("call")
    with rt.catalog.session() as s:
        s.add(
            ProductCall(
                id=call_id,
                product_id=product_id,
                consumer_id=actor.id,
                params={"names": names},
                status="refused",
                reason_code=code.value,
                rows=0,
                created_at=datetime.now(UTC),
            )
        )
        s.flush()
        audit.record(
            s,
            "product.call_refused",
            actor=actor,
            object_type="product",
            object_id=product_id,
            detail={"call_id": call_id, "reason_code": code.value, "params": names},
        )
    return call_id


def run_query(rt: Runtime, key: str, views: tuple[ViewSpec, ...], sql: str) -> WarmResult:
    """The one place a call reaches the workspace: a warm one bound to (product and pin, views), as
    isolated as a job's (no network, locked engine, only the granted columns)."""
    return rt.warm_pool().run(key, views, sql)


def evict(rt: Runtime, product_id: str) -> None:
    """Retire the warm workspaces of a withdrawn product (none if this process never served a call)."""
    rt.evict_warm(f"product:{product_id}:")
