"""Usage records in the catalog, per scenario / subject / product form / month (seeds 002 §六(四), O23, O33).

Products call `record(...)` (an API call is form `api_call`, volume 1 per call). A released job counts
as usage of its scenario in form `dataset`, volume = rows x fields of the released table x 1 day
(the form's unit is 条·项·天, rows x fields x days of use; a release is used once, on the day it is
released). Totals, per-product totals (each call in its product's form, per consumer; issue 10) and the
yearly compliance-review flag (> 1,000,000 calls by one subject) come from `policies.metering`, over
the catalog's sums.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from policies import metering as rules
from policies.metering import ProductForm
from sandbox.auth import Role, require
from sandbox.catalog import DriverStatement
from sandbox.catalog.models import Job, UsageRecord, User
from sandbox.errors import ErrorCode, SandboxError
from sandbox.runtime import Runtime


def period_of(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m")


_KEYS = ("scenario_id", "subject_id", "form", "volume", "period", "job_id", "product_id", "created_at")
_INSERT = DriverStatement(UsageRecord.__table__.insert(), _KEYS)  # one per product call: on the driver


def record(
    s: Session,
    *,
    scenario_id: str,
    subject_id: str,
    form: ProductForm | str,
    volume: int,
    when: datetime | None = None,
    job_id: str | None = None,
    product_id: str | None = None,
) -> None:
    """Add one usage record in the caller's transaction."""
    try:
        f = rules.form_of(str(form))
    except ValueError:
        raise SandboxError(ErrorCode.invalid_request, reason="unknown product form") from None
    if volume < 0:
        raise SandboxError(ErrorCode.invalid_request, reason="a usage volume cannot be negative")
    now = when or datetime.now(UTC)
    values = {
        "scenario_id": scenario_id,
        "subject_id": subject_id,
        "form": f.value,
        "volume": int(volume),
        "period": period_of(now),
        "job_id": job_id,
        "product_id": product_id,
        "created_at": now,
    }
    _INSERT.execute(s, values)


def record_release(s: Session, job: Job, rows: int, fields: int) -> None:
    """A released job: `dataset` usage of rows x fields x 1 day by the submitter, in its scenario."""
    record(
        s,
        scenario_id=job.scenario_id,
        subject_id=job.submitter_id,
        form=ProductForm.dataset,
        volume=rows * fields,
        job_id=job.id,
    )


@dataclass(frozen=True)
class Summary:
    year: int | None
    totals: rules.Totals
    calls_by_subject: dict[str, int]
    by_product: dict[str, rules.ProductTotals]

    def to_dict(self) -> dict[str, Any]:
        def s(d: Decimal) -> str:
            return f"{d.normalize():f}"

        return {
            "year": self.year,
            "v": s(self.totals.v),
            "by_scenario": {k: s(v) for k, v in sorted(self.totals.by_scenario.items())},
            "by_form": {k: s(v) for k, v in sorted(self.totals.by_form.items())},
            "normalised_by_form": {k: s(v) for k, v in sorted(self.totals.normalised_by_form.items())},
            "calls_by_subject": dict(sorted(self.calls_by_subject.items())),
            "by_product": {
                p: {
                    "by_form": {k: s(v) for k, v in sorted(t.by_form.items())},
                    "normalised": s(t.normalised),
                    "calls_by_subject": dict(sorted(t.calls_by_subject.items())),
                }
                for p, t in sorted(self.by_product.items())
            },
            "review_threshold": rules.CALLS_REVIEW_THRESHOLD,
            "flagged_subjects": list(self.totals.flagged_subjects),
        }


def summarize(
    s: Session, year: int | None = None, scenario_id: str | None = None, product_id: str | None = None
) -> Summary:
    """Totals per scenario, form and product and the subjects flagged for a compliance review (per year)."""
    year_col = func.substr(UsageRecord.period, 1, 4)
    keys = (
        UsageRecord.scenario_id,
        UsageRecord.subject_id,
        UsageRecord.form,
        year_col,
        UsageRecord.product_id,
    )
    q = select(*keys, func.sum(UsageRecord.volume), func.count()).group_by(*keys)
    if year is not None:
        q = q.where(UsageRecord.period.like(f"{int(year):04d}-%"))
    if scenario_id is not None:
        q = q.where(UsageRecord.scenario_id == scenario_id)
    if product_id is not None:
        q = q.where(UsageRecord.product_id == product_id)
    usages = [
        rules.Usage(sc, subject, ProductForm(form), Decimal(int(total)), int(y), product, int(n))
        for sc, subject, form, y, product, total, n in s.execute(q)
    ]
    calls: dict[str, int] = {}
    for u in usages:
        if u.form is ProductForm.api_call:
            calls[u.subject_id] = calls.get(u.subject_id, 0) + int(u.volume)
    return Summary(year, rules.totals(usages), calls, rules.product_totals(usages))


def summary(
    rt: Runtime,
    actor: User,
    year: int | None = None,
    scenario_id: str | None = None,
    product_id: str | None = None,
) -> Summary:
    """For admins and auditors: the metering totals and flags."""
    require(actor, Role.admin, Role.auditor)
    with rt.catalog.session() as s:
        return summarize(s, year, scenario_id, product_id)
