"""The yearly operation report (seeds O31: 003 Art.37, 004 §七(二)2, 002 §六(八)2).

Usage by product form and by data product (metering), releases, revenue against the caps when a
cost/revenue ledger is given (policies/pricing.py), and security events from the audit log: failed
authentications, forbidden attempts, revocations, exits and destructions. Counts and ids only, never
values.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from sandbox import metering
from sandbox.catalog.models import AuditEvent, Job, Release, Scenario
from sandbox.runtime import Runtime

SECURITY_EVENTS = (
    "user.revoked",
    "scenario.revoked",
    "operator.exited",
    "dataset.destroyed",
    "audit.purged",
    "user.token_rotated",
)


def _year_bounds(year: int) -> tuple[datetime, datetime]:
    return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)


def annual(rt: Runtime, year: int, costs: Path | None = None) -> dict[str, Any]:
    start, end = _year_bounds(year)
    prefix = f"{year:04d}-"
    with rt.catalog.session() as s:
        usage = metering.summarize(s, year).to_dict()
        releases = list(
            s.execute(
                select(Job.scenario_id, func.count())
                .join(Release, Release.job_id == Job.id)
                .where(Release.created_at >= start, Release.created_at < end)
                .group_by(Job.scenario_id)
            )
        )
        jobs_by_state = dict(
            s.execute(
                select(Job.state, func.count())
                .where(Job.created_at >= start, Job.created_at < end)
                .group_by(Job.state)
            ).all()
        )
        scenarios_approved = int(
            s.execute(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.event_type == "scenario.approved", AuditEvent.ts.like(prefix + "%"))
            ).scalar_one()
        )
        active_scenarios = int(
            s.execute(
                select(func.count()).select_from(Scenario).where(Scenario.state == "approved")
            ).scalar_one()
        )
        by_type = dict(
            s.execute(
                select(AuditEvent.event_type, func.count())
                .where(AuditEvent.ts.like(prefix + "%"))
                .where(AuditEvent.event_type.in_(("access.denied", *SECURITY_EVENTS)))
                .group_by(AuditEvent.event_type)
            ).all()
        )
        failed_auth = sum(
            1
            for (detail,) in s.execute(
                select(AuditEvent.detail).where(
                    AuditEvent.event_type == "access.denied", AuditEvent.ts.like(prefix + "%")
                )
            )
            if '"outcome":"unauthenticated"' in detail
        )
    report: dict[str, Any] = {
        "year": year,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "usage": usage,
        "releases": {
            "total": sum(int(n) for _, n in releases),
            "by_scenario": {sc: int(n) for sc, n in sorted(releases)},
        },
        "jobs_by_state": {k: int(v) for k, v in sorted(jobs_by_state.items())},
        "scenarios": {"approved_in_year": scenarios_approved, "active_now": active_scenarios},
        "security": {
            "failed_authentications": failed_auth,
            "forbidden_attempts": int(by_type.get("access.denied", 0)) - failed_auth,
            **{t: int(by_type.get(t, 0)) for t in SECURITY_EVENTS},
        },
        "revenue": revenue(costs, year) if costs is not None else None,
    }
    return report


def revenue(costs: Path, year: int) -> dict[str, Any]:
    """Rmax and the caps of the ledger, and this year's revenue against Rmax (the review trigger)."""
    import yaml

    from policies import pricing

    result = pricing.price(pricing.parse_ledger(yaml.safe_load(costs.read_text(encoding="utf-8"))))
    data = pricing.to_dict(result)
    return {
        "rmax": data["rmax"],
        "r_allow": data["r_allow"],
        "caps": {p["name"]: p["final_cap"] for p in data["products"]},
        "cap_relation_ok": data["cap_relation"]["ok"],
        "actual": data["reviews"].get(str(year)),
    }


def markdown(r: dict[str, Any]) -> str:
    """The report as Markdown: the same numbers as the JSON."""
    u, sec = r["usage"], r["security"]
    lines = [
        f"# Annual operation report {r['year']}",
        "",
        f"Generated {r['generated_at']}.",
        "",
        "## Usage by product form",
        "",
        "| form | native volume | normalised |",
        "|---|---|---|",
        *(f"| {f} | {v} | {u['normalised_by_form'][f]} |" for f, v in u["by_form"].items()),
        "",
        f"V (Σ K x volume) = {u['v']}. Subjects over {u['review_threshold']:,} calls (compliance review): "
        f"{', '.join(u['flagged_subjects']) or 'none'}.",
        "",
        "## Usage by data product",
        "",
        "| product | native volume | normalised | calls by consumer |",
        "|---|---|---|---|",
        *(
            f"| {p} | {', '.join(f'{f} {v}' for f, v in t['by_form'].items())} | {t['normalised']} | "
            f"{', '.join(f'{c} {n}' for c, n in t['calls_by_subject'].items())} |"
            for p, t in u["by_product"].items()
        ),
        "",
        "## Releases and jobs",
        "",
        f"Releases: {r['releases']['total']} over {len(r['releases']['by_scenario'])} scenario(s). "
        f"Scenarios approved in the year: {r['scenarios']['approved_in_year']}; active now: "
        f"{r['scenarios']['active_now']}.",
        "",
        "| job state | jobs |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in r["jobs_by_state"].items()),
        "",
        "## Revenue against caps",
        "",
    ]
    rev = r["revenue"]
    if rev is None:
        lines.append("No cost/revenue ledger given.")
    else:
        lines.append(
            f"Rmax {rev['rmax']} (R_allow {rev['r_allow']}); caps within Rmax: {rev['cap_relation_ok']}."
        )
        if rev["actual"]:
            a = rev["actual"]
            lines.append(f"Revenue {a['actual']}, deviation {a['ratio']} -> adjust fees: {a['adjust']}.")
    lines += [
        "",
        "## Security events",
        "",
        "| event | count |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in sec.items()),
        "",
    ]
    return "\n".join(lines)
