"""Public disclosure (seeds O29, 003 Art.20/23/35): what is authorized, to whom, for what, until when.

Listed: approved, unexpired scenarios with the grantee's unit, the content (name and purpose), the
scope (datasets and granted columns: names, never values) and the term; published data products
(name, form, fee class, price and cap, the scenario they serve, and their metered usage to date: O29's
"periodic usage", totals only, never who called) and the fee caps computed from the cost ledger at
`Settings.pricing_ledger_path`, when one is configured.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select

from policies.metering import ProductTotals
from sandbox import metering
from sandbox.catalog.models import Dataset, Product, Scenario, Template, User
from sandbox.runtime import Runtime
from sandbox.scenarios import aware


class ScopeOut(BaseModel):
    dataset_id: str
    dataset: str
    source_unit: str | None
    columns: list[str]


class DisclosedScenario(BaseModel):
    id: str
    grantee_unit: str | None
    content: str  # the scenario's name
    purpose: str
    public_interest: bool
    scope: list[ScopeOut]
    term_from: datetime
    term_until: datetime


class FeeCap(BaseModel):
    product: str
    form: str
    final_cap: str  # yuan per native unit, exact decimal text
    self_cap: str
    third_party_cap: str | None


class DisclosureOut(BaseModel):
    generated_at: datetime
    scenarios: list[DisclosedScenario]
    # published data products: id, name, form, fee_class, price, cap, scenario, metered volume and normalised
    products: list[dict[str, str]]
    fee_caps: list[FeeCap]
    rmax: str | None  # maximum permitted revenue per year from the ledger, if configured
    profit_rate: str | None


def build(rt: Runtime) -> DisclosureOut:
    now = datetime.now(UTC)
    with rt.catalog.session() as s:
        scenarios: list[DisclosedScenario] = []
        for sc in s.execute(
            select(Scenario).where(Scenario.state == "approved").order_by(Scenario.id)
        ).scalars():
            if aware(sc.expires_at) <= now:
                continue
            operator = s.get(User, sc.operator_id)
            scope = []
            for dataset_id, cols in sc.grants.items():
                ds = s.get(Dataset, dataset_id)
                if ds is not None:
                    scope.append(
                        ScopeOut(dataset_id=ds.id, dataset=ds.name, source_unit=ds.owner_unit, columns=cols)
                    )
            scenarios.append(
                DisclosedScenario(
                    id=sc.id,
                    grantee_unit=operator.unit if operator else None,
                    content=sc.name,
                    purpose=sc.purpose,
                    public_interest=sc.public_interest,
                    scope=scope,
                    term_from=aware(sc.created_at),
                    term_until=aware(sc.expires_at),
                )
            )
        used = metering.summarize(s).by_product
        listed = [
            _product(s, p, used.get(p.id))
            for p in s.execute(
                select(Product).where(Product.state == "published").order_by(Product.id)
            ).scalars()
        ]
    caps, rmax, rate = fee_caps(rt)
    return DisclosureOut(
        generated_at=now, scenarios=scenarios, products=listed, fee_caps=caps, rmax=rmax, profit_rate=rate
    )


def _product(s: Any, p: Product, used: ProductTotals | None) -> dict[str, str]:
    t = s.get(Template, p.template_id)
    volume = used.by_form.get(p.form, Decimal(0)) if used else Decimal(0)
    normalised = used.normalised if used else Decimal(0)
    return {
        "id": p.id,
        "name": p.name,
        "form": p.form,
        "fee_class": p.fee_class,
        "price": p.price or "0",
        "price_cap": p.price_cap or "",
        "scenario_id": t.scenario_id if t is not None else "",
        "metered_volume": f"{volume.normalize():f}",  # in the form's native unit, every year so far
        "metered_normalised": f"{normalised.normalize():f}",
    }


def fee_caps(rt: Runtime) -> tuple[list[FeeCap], str | None, str | None]:
    """The caps of the configured cost ledger; none when no ledger is configured."""
    path = rt.settings.pricing_ledger_path
    if path is None:
        return [], None, None
    import yaml

    from policies import pricing

    data = pricing.to_dict(
        pricing.price(pricing.parse_ledger(yaml.safe_load(path.read_text(encoding="utf-8"))))
    )
    caps = [
        FeeCap(
            product=p["name"],
            form=p["form"],
            final_cap=p["final_cap"],
            self_cap=p["self_cap"],
            third_party_cap=p["third_party_cap"],
        )
        for p in data["products"]
    ]
    return caps, data["rmax"], data["r_allow"]
