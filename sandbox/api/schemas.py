"""Request and response models: each response lists exactly what may leave the domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from policies.levels import Classification, ColumnLevel

T = TypeVar("T")


def _refuse_nul(value: Any) -> Any:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text may not contain NUL characters")
    elif isinstance(value, dict):
        for k, v in value.items():
            _refuse_nul(k)
            _refuse_nul(v)
    elif isinstance(value, list | tuple):
        for v in value:
            _refuse_nul(v)
    return value


class In(BaseModel):
    """Every request body: unknown fields, NaN/Infinity and NUL characters are refused (422)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        return _refuse_nul(data)


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class DatasetIn(In):
    """The `metadata` part of a registration."""

    name: str = Field(
        pattern=r"^[A-Za-z_\u4e00-\u9fff][A-Za-z0-9_\u4e00-\u9fff]{0,62}$", description="Table name in SQL."
    )
    description: str = ""
    classification: Classification = Classification.general
    privacy_unit: str = Field(min_length=1, description="Column naming the person or enterprise of a row.")
    encoding: str | None = Field(default=None, description="utf-8, gb18030 or gbk; detected when absent.")
    format: Literal["csv", "tsv", "jsonl", "parquet", "xlsx"] | None = None
    delimiter: Literal[",", "\t", ";", "|"] | None = Field(
        default=None, description="CSV: sniffed when absent."
    )
    header: bool | None = Field(default=None, description="CSV: whether row 1 names the columns; detected.")
    sheet: str | int | None = Field(default=None, description="xlsx: sheet name or 0-based index.")
    header_rows: int | None = Field(default=None, ge=1, le=4, description="xlsx: header rows; detected.")


class VersionIn(In):
    encoding: str | None = None
    format: Literal["csv", "tsv", "jsonl", "parquet", "xlsx"] | None = None
    delimiter: Literal[",", "\t", ";", "|"] | None = None
    header: bool | None = None
    sheet: str | int | None = None
    header_rows: int | None = Field(default=None, ge=1, le=4)


class ColumnOut(BaseModel):
    name: str
    type: str
    level: ColumnLevel
    proposed_level: ColumnLevel
    proposal_reason: str
    confirmed: bool
    pii: dict[str, float]
    name_hint: str | None
    lower: float | None
    upper: float | None
    public_keys: list[str] | None


class DatasetOut(BaseModel):
    id: str
    name: str
    description: str
    classification: Classification
    privacy_unit: str
    owner_unit: str | None
    version: int
    rows: int
    sha256: str
    max_rows_per_unit: int
    columns: list[ColumnOut]
    created_at: datetime
    source: SourceOut | None = None
    held_version: HeldVersionOut | None = None


class ColumnChange(In):
    level: ColumnLevel | None = None
    lower: float | None = None
    upper: float | None = None
    public_keys: list[str] | None = None


class ColumnsIn(In):
    columns: dict[str, ColumnChange]


class DesensitizeIn(In):
    """One column's desensitization in a grant (sandbox/workspace/desensitize.py)."""

    method: Literal["hash", "mask", "band", "bucket", "month", "year", "province", "city", "district"]
    width: float | None = Field(default=None, gt=0, description="band and bucket: the width")


class ScenarioIn(In):
    name: str = Field(min_length=1, max_length=200)
    purpose: str = Field(min_length=1)
    datasets: dict[str, list[str]] = Field(description="dataset id -> granted columns")
    modes: list[Literal["sdc", "dp"]] = Field(default_factory=lambda: ["sdc"])
    epsilon: float | None = Field(default=None, gt=0)
    delta: float | None = Field(default=None, ge=0, lt=1)
    expires_at: datetime | None = Field(default=None, description="Default: one year from application.")
    public_interest: bool = False
    desensitize: dict[str, dict[str, DesensitizeIn]] | None = Field(
        default=None, description="dataset id -> granted column -> how the workspace view desensitizes it"
    )


class ScenarioOut(BaseModel):
    id: str
    name: str
    purpose: str
    operator_id: str
    datasets: dict[str, list[str]]
    modes: list[str]
    epsilon: float | None
    delta: float | None
    expires_at: datetime
    public_interest: bool
    state: str
    decision_reason: str | None
    created_at: datetime
    epsilon_spent: float = Field(0.0, description="The most any granted dataset has spent for this operator.")
    delta_spent: float = 0.0
    desensitize: dict[str, dict[str, dict[str, Any]]] | None = None


class DecisionIn(In):
    reason: str = ""


class JobIn(In):
    scenario_id: str
    sql: str = Field(min_length=1, max_length=100_000)
    mode: Literal["sdc", "dp"] = "sdc"
    epsilon: float | None = Field(
        default=None, gt=0, description="dp mode: the job's spend (default and maximum from the bundle)."
    )


class ArtifactOut(BaseModel):
    format: str
    sha256: str
    bytes: int


class JobOut(BaseModel):
    id: str
    scenario_id: str
    submitter_id: str
    sql: str
    mode: str
    state: str
    reason_code: str | None
    gate_report: list[dict[str, Any]] | None
    check_report: dict[str, Any] | None
    artifacts: list[ArtifactOut] | None = None
    created_at: datetime
    updated_at: datetime
    appeal_note: str | None = None


class ReviewIn(In):
    decision: Literal["approve", "reject", "changes_requested"]
    reason: str = Field(min_length=1, max_length=10_000)


class ReviewOut(BaseModel):
    job_id: str
    reviewer_id: str
    decision: str
    reason: str
    created_at: datetime
    job_state: str
    approvals: int = Field(1, description="Approvals from distinct reviewers in the current round.")
    approvals_required: int = Field(1, description="Approvals the policy bundle requires for release.")


class AppealIn(In):
    note: str = Field(
        min_length=1, max_length=10_000, description="Why the rejection should be reconsidered."
    )


class CandidateOut(BaseModel):
    """What a reviewer sees: the post-privacy output that would be released."""

    job: JobOut
    columns: list[str]
    rows: list[list[Any]]


class AuditEventOut(BaseModel):
    seq: int
    ts: str
    actor_id: str | None
    actor_roles: str
    event_type: str
    object_type: str
    object_id: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str


class VerificationOut(BaseModel):
    ok: bool
    events: int
    first_broken_seq: int | None
    problem: str | None


class UserOut(BaseModel):
    id: str
    name: str
    roles: list[str]
    unit: str | None


Refresh = Literal["one-off", "daily", "weekly", "monthly", "quarterly", "half-yearly", "yearly"]


class ConnectorIn(In):
    """A database source. The password (here or in the URL) is sealed at rest and never shown again."""

    kind: Literal["postgres", "mysql"]
    url: str = Field(min_length=1, max_length=2000, description="postgresql://user@host:5432/db, mysql://...")
    table: str | None = Field(default=None, min_length=1, max_length=200)
    query: str | None = Field(default=None, min_length=1, max_length=20_000, description="One SELECT.")
    password: str | None = Field(default=None, max_length=1000)

    @model_validator(mode="after")
    def _table_or_query(self) -> ConnectorIn:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of table and query")
        return self


class DatasetFromSourceIn(DatasetIn):
    """The JSON body of a registration from a database source."""

    connector: ConnectorIn
    refresh: Refresh | None = Field(default=None, description="Re-read the source on this schedule.")


class SourceOut(BaseModel):
    kind: str
    url: str  # redacted: no password, no options
    table: str | None
    query: bool  # whether the source is a query (its text is not shown)
    refresh: str | None
    next_refresh_at: datetime | None
    last_refresh_at: datetime | None
    last_error: str | None


class HeldVersionOut(BaseModel):
    """A version whose schema changed: jobs keep using `DatasetOut.version` until it is confirmed."""

    version: int
    rows: int
    sha256: str
    added: dict[str, str]  # column -> type
    removed: list[str]
    retyped: dict[str, dict[str, str]]  # column -> {"from", "to"}
    proposed: dict[str, dict[str, Any]]  # column -> {"level", "reason", "pii"}
    to_confirm: list[str]  # columns whose levels must still be confirmed with PUT .../columns


DatasetOut.model_rebuild()


# ---- data products (issue 10) ----------------------------------------------------------------------


class TemplateIn(In):
    """A parameterized query inside an approved scenario; `params` declares each `:name` it uses."""

    scenario_id: str
    name: str = Field(min_length=1, max_length=200)
    sql: str = Field(min_length=1, max_length=100_000)
    params: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description='name -> {"type": "enum", "column": "table.column"[, "values": [...]]} | '
        '{"type": "int", "min": 2015, "max": 2024} | {"type": "date", "min": "2020-01-01", "max": "..."}',
    )
    mode: Literal["sdc", "dp"] = "sdc"
    epsilon: float | None = Field(default=None, gt=0, description="dp: the spend of one call")
    revises: str | None = Field(default=None, description="The template this one replaces (same lineage).")


class TemplateApprovalIn(In):
    reason: str = ""


class ApprovalOut(BaseModel):
    approver_id: str
    role: str
    dataset_id: str | None
    created_at: datetime


class TemplateOut(BaseModel):
    id: str
    lineage_id: str
    revises_id: str | None
    scenario_id: str
    author_id: str
    name: str
    sql: str
    params: dict[str, Any]
    mode: str
    epsilon: float | None
    dataset_versions: dict[str, int]
    bundle_version: str
    pin: str
    state: str
    approvals: list[ApprovalOut]
    missing_approvals: list[str]  # "reviewer" and "source_unit:<dataset id>" still needed
    created_at: datetime


class ProductIn(In):
    template_id: str
    name: str = Field(min_length=1, max_length=200)
    form: Literal["api_call", "analysis_report", "dataset", "output_label", "alert_push"] = "api_call"
    fee_class: Literal["public_interest", "commercial"] = "commercial"
    price: str | None = Field(
        default=None, description="yuan per native unit (decimal text); commercial only"
    )
    pricing_product: str | None = Field(
        default=None,
        description="The pricing ledger's product whose final cap bounds the price (default: name).",
    )
    consumers: list[str] = Field(default_factory=list, description="user ids licensed to call it")
    period_epsilon: float | None = Field(default=None, gt=0, description="dp: per consumer per month")
    lifetime_epsilon: float | None = Field(default=None, gt=0, description="dp: per consumer, ever")


class ProductOut(BaseModel):
    id: str
    template_id: str
    lineage_id: str
    scenario_id: str
    name: str
    form: str
    fee_class: str
    price: str | None
    price_cap: str | None
    params: dict[str, Any]
    mode: str
    consumers: list[str] | None  # shown to the publisher, admins and auditors only
    period_epsilon: float | None
    lifetime_epsilon: float | None
    state: str
    created_at: datetime


class ProductCallIn(In):
    params: dict[str, Any] = Field(default_factory=dict)


class ProductCallOut(BaseModel):
    """A released call: the checked output (no companion columns), or the job awaiting review."""

    call_id: str
    product_id: str
    status: str  # released | pending_review
    columns: list[str]
    rows: list[list[Any]]
    mode: str
    epsilon_spent: float | None = None
    repeat: bool = False
    job_id: str | None = None  # pending_review: the job a reviewer decides
    timings: dict[str, float] = Field(default_factory=dict)
