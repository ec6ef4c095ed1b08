"""Catalog tables (SQLAlchemy 2). Migrations live beside, in `migrations/` (Alembic)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    roles: Mapped[list[str]] = mapped_column(JSON)
    unit: Mapped[str | None] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Dataset(Base):
    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    classification: Mapped[str] = mapped_column(String(20))
    privacy_unit: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    owner_unit: Mapped[str | None] = mapped_column(String(200))
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DatasetVersion(Base):
    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("dataset_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(Text)  # relative to the vault directory
    sha256: Mapped[str] = mapped_column(String(64))
    bytes: Mapped[int] = mapped_column(BigInteger)
    rows: Mapped[int] = mapped_column(BigInteger)
    max_rows_per_unit: Mapped[int] = mapped_column(Integer)
    null_columns: Mapped[list[str]] = mapped_column(JSON)
    source_format: Mapped[str] = mapped_column(String(20))
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # confirmed (jobs may use it) | held (schema changed, awaiting the source unit) | superseded
    status: Mapped[str] = mapped_column(String(20), default="confirmed", server_default="confirmed")
    # for a held version: added/removed/retyped columns, proposals and levels confirmed so far
    schema_change: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    quality: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # sandbox.quality (0009)


class Column(Base):
    __tablename__ = "columns"

    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(60))
    level: Mapped[str] = mapped_column(String(20))
    proposed_level: Mapped[str] = mapped_column(String(20))
    proposal_reason: Mapped[str] = mapped_column(Text, default="")
    pii: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    name_hint: Mapped[str | None] = mapped_column(String(60))
    lower: Mapped[float | None] = mapped_column(Float)
    upper: Mapped[float | None] = mapped_column(Float)
    public_keys: Mapped[list[str] | None] = mapped_column(JSON)
    confirmed: Mapped[bool] = mapped_column(Boolean, default=False)


class Scenario(Base):
    __tablename__ = "scenarios"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(Text)
    operator_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    grants: Mapped[dict[str, list[str]]] = mapped_column(JSON)  # dataset id -> granted columns
    modes: Mapped[list[str]] = mapped_column(JSON)
    epsilon: Mapped[float | None] = mapped_column(Float)
    delta: Mapped[float | None] = mapped_column(Float)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    public_interest: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(20))
    decided_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    join_key_secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # dataset id -> column -> {"method": ...}: desensitization in the views (sandbox.workspace.desensitize)
    desensitize: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # 0009


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    scenario_id: Mapped[str] = mapped_column(ForeignKey("scenarios.id"), index=True)
    submitter_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    sql: Mapped[str] = mapped_column(Text)
    mode: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(20), index=True)
    reason_code: Mapped[str | None] = mapped_column(String(60))
    plan: Mapped[dict | None] = mapped_column(JSON)
    gate_report: Mapped[list | None] = mapped_column(JSON)
    check_report: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    appeal_note: Mapped[str | None] = mapped_column(Text)  # the operator's note on its latest appeal


class Review(Base):
    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    reviewer_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    decision: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Release(Base):
    __tablename__ = "releases"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), primary_key=True)
    artifacts: Mapped[dict[str, dict]] = mapped_column(JSON)  # format -> {path, sha256, bytes}
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PrivacyTotal(Base):
    """What an operator has spent on a dataset, over every scenario: the row a debit locks."""

    __tablename__ = "privacy_totals"

    operator_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), primary_key=True)
    epsilon_units: Mapped[int] = mapped_column(BigInteger)  # 1e-9 epsilon
    delta_units: Mapped[int] = mapped_column(BigInteger)  # 1e-18 delta


class PrivacySpend(Base):
    """One job's debit, kept for the record (the totals are what is checked)."""

    __tablename__ = "privacy_spends"

    job_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    scenario_id: Mapped[str] = mapped_column(ForeignKey("scenarios.id"), index=True)
    operator_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    dataset_ids: Mapped[list[str]] = mapped_column(JSON)
    epsilon_units: Mapped[int] = mapped_column(BigInteger)
    delta_units: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditEvent(Base):
    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ts: Mapped[str] = mapped_column(String(40))  # ISO text, hashed as stored
    actor_id: Mapped[str | None] = mapped_column(String(40))
    actor_roles: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(60), index=True)
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(80), index=True)
    detail: Mapped[str] = mapped_column(Text)  # canonical JSON text, hashed as stored
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """One row: the chain's last seq and hash. Locked to serialise appends across workers."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    # the seq of the newest event in sandbox.audit.CHANGE_EVENTS (sandbox/product_cache.py)
    changed_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class DatasetSource(Base):
    """Where a dataset's versions are read from. The connector spec (URL, password) is sealed at rest."""

    __tablename__ = "dataset_sources"

    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    display: Mapped[dict[str, Any]] = mapped_column(JSON)  # kind, redacted URL, table: safe to show
    sealed_spec: Mapped[bytes] = mapped_column(LargeBinary)  # Keyring.seal(spec JSON, "dataset_source:<id>")
    refresh: Mapped[str | None] = mapped_column(String(20))
    next_refresh_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    last_refresh_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String(60))  # an ErrorCode, never a message


class DpRelease(Base):
    """A dp job's noisy output, kept per (scenario, query hash) so an identical query gets it back
    without a second debit (post-processing costs no budget). `table_ipc` is NULL while the first job
    runs; it holds only noisy cells, never an exact value."""

    __tablename__ = "dp_releases"

    scenario_id: Mapped[str] = mapped_column(ForeignKey("scenarios.id"), primary_key=True)
    query_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    job_id: Mapped[str] = mapped_column(String(40))
    table_ipc: Mapped[bytes | None] = mapped_column(LargeBinary)
    report: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ConsoleSession(Base):
    """A signed-in web console session. Only the sha256 of the cookie's random id is stored, so a
    copy of the catalog cannot be replayed as a cookie; the CSRF token is checked on every form."""

    __tablename__ = "console_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class UsageRecord(Base):
    """Metered usage (seeds 002 §六(四)): one product form's native volume for a scenario and subject."""

    __tablename__ = "usage_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scenario_id: Mapped[str] = mapped_column(ForeignKey("scenarios.id"), index=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    form: Mapped[str] = mapped_column(String(30))
    volume: Mapped[int] = mapped_column(BigInteger)
    period: Mapped[str] = mapped_column(String(7), index=True)  # YYYY-MM
    job_id: Mapped[str | None] = mapped_column(String(40))
    product_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditAnchor(Base):
    """Where the chain starts after a purge: the last purged event's seq and hash."""

    __tablename__ = "audit_anchors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    purged_before: Mapped[str] = mapped_column(String(40))  # ISO ts cut-off
    purged_events: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DatasetKey(Base):
    """A dataset version's data key, sealed by the keyring; deleting the row shreds the data."""

    __tablename__ = "dataset_keys"

    dataset_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    sealed: Mapped[str] = mapped_column(Text)  # hex of nonce || ciphertext
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Destruction(Base):
    """An object destroyed for good (a dataset: keys and files); its records stay for the logs."""

    __tablename__ = "destructions"

    object_type: Mapped[str] = mapped_column(String(40), primary_key=True)
    object_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    destroyed_by: Mapped[str | None] = mapped_column(String(40))
    destroyed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Template(Base):
    """An operator's parameterized SQL inside an approved scenario (issue 10); immutable once written.

    An edit is a new row with the same `lineage_id` (the first revision's id), so budgets keyed on the
    lineage survive it. `pin` is the sha256 of (SQL, parameter schema, dataset versions, bundle version).
    """

    __tablename__ = "templates"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    lineage_id: Mapped[str] = mapped_column(String(40), index=True)
    revises_id: Mapped[str | None] = mapped_column(String(40))
    scenario_id: Mapped[str] = mapped_column(ForeignKey("scenarios.id"), index=True)
    author_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(200))
    sql: Mapped[str] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)  # policies.gate.params.ParamSchema.to_dict
    mode: Mapped[str] = mapped_column(String(10))
    epsilon: Mapped[float | None] = mapped_column(Float)  # dp: the spend of one call
    dataset_versions: Mapped[dict[str, int]] = mapped_column(JSON)
    bundle_version: Mapped[str] = mapped_column(String(64))
    pin: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(20))  # pending | approved | superseded
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TemplateApproval(Base):
    """One approval of a template at its pin: a reviewer's, or a dataset's source unit's."""

    __tablename__ = "template_approvals"
    __table_args__ = (UniqueConstraint("template_id", "role", "dataset_id", "approver_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    template_id: Mapped[str] = mapped_column(ForeignKey("templates.id"), index=True)
    approver_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    role: Mapped[str] = mapped_column(String(20))  # reviewer | source_unit
    dataset_id: Mapped[str] = mapped_column(String(40), default="")  # source unit: the dataset approved
    pin: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Product(Base):
    """An approved template published with a form, a fee class and its licensed consumers."""

    __tablename__ = "products"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    template_id: Mapped[str] = mapped_column(ForeignKey("templates.id"), index=True)
    lineage_id: Mapped[str] = mapped_column(String(40), index=True)
    name: Mapped[str] = mapped_column(String(200))
    form: Mapped[str] = mapped_column(String(30))  # a policies.metering.ProductForm
    fee_class: Mapped[str] = mapped_column(String(20))  # public_interest | commercial
    price: Mapped[str | None] = mapped_column(String(40))  # yuan per native unit, exact decimal text
    price_cap: Mapped[str | None] = mapped_column(String(40))
    consumers: Mapped[list[str]] = mapped_column(JSON)  # licensed user ids
    period_epsilon: Mapped[float | None] = mapped_column(Float)  # dp: per consumer per month
    lifetime_epsilon: Mapped[float | None] = mapped_column(Float)  # dp: per consumer, ever
    state: Mapped[str] = mapped_column(String(20))  # published | withdrawn
    publisher_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ProductBudget(Base):
    """A consumer's dp spend on a template lineage and dataset, per month and (period "lifetime") ever.

    Keyed on the lineage, never on a product row: republishing, editing or re-approving finds it."""

    __tablename__ = "product_budgets"

    consumer_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    lineage_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    period: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM | lifetime
    epsilon_units: Mapped[int] = mapped_column(BigInteger)  # 1e-9 epsilon (sandbox.ledger units)
    delta_units: Mapped[int] = mapped_column(BigInteger)


class ProductDpRelease(Base):
    """A dp call's noisy output per (lineage, consumer, query hash): a repeat gets it back for free."""

    __tablename__ = "product_dp_releases"

    lineage_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    consumer_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    query_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    table_ipc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ProductUnitSet(Base):
    """A released row's unit set (roaring bitmap of unit ordinals), per lineage: the differencing
    guard's memory across calls. Distinct sets only; ordinals, never identifiers."""

    __tablename__ = "product_unit_sets"

    lineage_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    units: Mapped[bytes] = mapped_column(LargeBinary)


class ProductCall(Base):
    """One call of a product, released or refused (with its stable reason code)."""

    __tablename__ = "product_calls"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), index=True)
    consumer_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)  # admissible values only (refused: names only)
    status: Mapped[str] = mapped_column(String(20))  # released | refused | pending_review
    reason_code: Mapped[str | None] = mapped_column(String(60))
    rows: Mapped[int] = mapped_column(Integer, default=0)
    job_id: Mapped[str | None] = mapped_column(String(40))  # pending_review: the review's job
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
