"""Cost-plus fee caps (seeds 002 §六, 004 §五; digest §3). Pure: Decimal arithmetic, no I/O.

- R_allow: 10-year treasury yield + at most 6 points. 002 reads it as a ceiling (a requested rate above
  y10 + 6% is refused), 004 as the fixed value y10 + 6 points: `RateRule` picks the reading.
- Rmax = C_total x (1 + R_allow) + Tax, Tax = VAT (6%) on the pre-tax amount (surcharges excluded).
- Unit cost per product (per native unit of its form), §六(五): pushed data shared by normalised
  volume among the products that use it; query-API data charged directly; product-specific costs
  (development, compliance review) / the product's volume; circulation and common operations shared
  by normalised volume V over all products. Shared cost per native unit = cost per normalised unit x K.
  Subsidies are deducted from the cost they covered; an item may be amortised (platform build: 8 yrs).
- P_cost = unit cost x (1 + R_allow) + Tax; lambda = f1 x f2; self-assessed cap = lambda x P_cost;
  final cap = max(self-assessed, third-party) ("就高").
- Cap relation Σ p_i q_i <= Rmax; annual review when |R_actual - Rmax| / Rmax >= 10%; the 3-year
  excess = Σ max(0, R_actual - Rmax) (netting shortfalls is an option: the text does not say).

>>> rmax(Decimal("10000000"), r_allow(Decimal("0.017")))
Decimal('11416200.00000')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from policies.metering import K, ProductForm, form_of

VAT = Decimal("0.06")
MAX_MARKUP = Decimal("0.06")
REVIEW_THRESHOLD = Decimal("0.10")
# f1: general / important / core (locates an enterprise 1.2, an individual 1.5)
F1_VALUES = (Decimal("1"), Decimal("1.2"), Decimal("1.5"))
F2_VALUES = (Decimal("1"), Decimal("1.5"), Decimal("2"))  # base / higher value / high value
AMORTISE_BUILD_YEARS = 8


class PricingError(ValueError):
    """A ledger or parameter the formulas cannot take; the message names the field, never a secret."""


class RateRule(StrEnum):
    ceiling = "ceiling"  # 002 §六(二)1: R_allow <= y10 + 6%
    fixed = "fixed"  # 004 §五(一): R_allow = average y10 + 6 points


def dec(value: Any, name: str = "value") -> Decimal:
    """A Decimal from a number or numeric string (floats go through str, so 0.017 stays 0.017)."""
    try:
        d = Decimal(str(value))
    except ArithmeticError:
        raise PricingError(f"{name} must be a number") from None
    if not d.is_finite():
        raise PricingError(f"{name} must be a finite number")
    return d


def r_allow(
    treasury_yield_10y: Decimal, rule: RateRule = RateRule.ceiling, requested: Decimal | None = None
) -> Decimal:
    """The permitted profit rate. Ceiling: `requested` (default the ceiling itself) up to y10 + 6%."""
    ceiling = treasury_yield_10y + MAX_MARKUP
    if rule is RateRule.fixed:
        if requested is not None and requested != ceiling:
            raise PricingError("profit_rate: under the fixed rule (004) it is y10 + 6 points exactly")
        return ceiling
    if requested is None:
        return ceiling
    if requested < 0 or requested > ceiling:
        raise PricingError("profit_rate: must lie between 0 and the 10-year yield + 6 points")
    return requested


def with_tax(pre_tax: Decimal, vat: Decimal = VAT) -> Decimal:
    """pre-tax + VAT on the pre-tax amount (the digest's reading; the source names no base)."""
    return pre_tax + pre_tax * vat


def rmax(c_total: Decimal, rate: Decimal, vat: Decimal = VAT) -> Decimal:
    """Maximum permitted revenue per year: C_total x (1 + R_allow) + Tax."""
    return with_tax(c_total * (1 + rate), vat)


def p_cost(unit_cost: Decimal, rate: Decimal, vat: Decimal = VAT) -> Decimal:
    """Base price per unit: the Rmax formula over the unit cost (§六(六))."""
    return with_tax(unit_cost * (1 + rate), vat)


def scenario_factor(f1: Decimal, f2: Decimal) -> Decimal:
    """lambda = f1 x f2, with f1 in {1, 1.2, 1.5} and f2 in {1, 1.5, 2}; any other value is refused."""
    if f1 not in F1_VALUES:
        raise PricingError("f1 must be 1, 1.2 or 1.5")
    if f2 not in F2_VALUES:
        raise PricingError("f2 must be 1, 1.5 or 2")
    return f1 * f2


def final_cap(self_assessed: Decimal, third_party: Decimal | None) -> Decimal:
    """就高: the higher of the self-assessed and the third-party cap."""
    return self_assessed if third_party is None else max(self_assessed, third_party)


@dataclass(frozen=True)
class CapCheck:
    total: Decimal  # Σ p_i q_i
    rmax: Decimal
    ok: bool


def cap_relation(prices_and_volumes: Iterable[tuple[Decimal, Decimal]], limit: Decimal) -> CapCheck:
    """Σ p_i q_i <= Rmax (the blank §六(二)2 as the digest reconstructs it)."""
    total = sum((p * q for p, q in prices_and_volumes), Decimal(0))
    return CapCheck(total, limit, total <= limit)


@dataclass(frozen=True)
class Deviation:
    actual: Decimal
    rmax: Decimal
    ratio: Decimal  # (actual - Rmax) / Rmax, signed
    adjust: bool  # |ratio| >= 10%


def review(actual: Decimal, limit: Decimal, threshold: Decimal = REVIEW_THRESHOLD) -> Deviation:
    """The annual review trigger: fees are adjusted when revenue deviates from Rmax by 10% or more."""
    ratio = (actual - limit) / limit
    return Deviation(actual, limit, ratio, abs(ratio) >= threshold)


def excess(limit: Decimal, actuals: Sequence[Decimal], net: bool = False) -> Decimal:
    """Revenue above Rmax over a cycle (deducted from the next one). `net` offsets shortfalls too."""
    if net:
        return max(Decimal(0), sum((a - limit for a in actuals), Decimal(0)))
    return sum((max(Decimal(0), a - limit) for a in actuals), Decimal(0))


# ---- the cost ledger and unit costs --------------------------------------------------------------


@dataclass(frozen=True)
class CostItem:
    name: str
    amount: Decimal  # yuan (per year unless amortised)
    amortise_years: int = 1
    subsidy: Decimal = Decimal(0)  # yuan per year deducted from this item
    shared_by: tuple[str, ...] | None = None  # pushed data: the products using it (None: all)

    @property
    def annual(self) -> Decimal:
        return self.amount / self.amortise_years - self.subsidy


@dataclass(frozen=True)
class Product:
    name: str
    form: ProductForm
    volume: Decimal  # forecast annual volume in the form's native unit (q_i)
    query_api_unit: Decimal = Decimal(0)  # yuan per native unit paid to the source department
    specific: tuple[CostItem, ...] = ()  # development, compliance review, ... (÷ own volume)
    f1: Decimal = Decimal(1)
    f2: Decimal = Decimal(1)
    third_party_cap: Decimal | None = None
    price: Decimal | None = None  # negotiated price (<= final cap); the cap relation uses it if given

    @property
    def normalised(self) -> Decimal:
        return K[self.form] * self.volume


@dataclass(frozen=True)
class Ledger:
    treasury_yield_10y: Decimal
    products: tuple[Product, ...]
    rule: RateRule = RateRule.ceiling
    profit_rate: Decimal | None = None
    vat: Decimal = VAT
    pushed: tuple[CostItem, ...] = ()
    circulation: tuple[CostItem, ...] = ()
    common: tuple[CostItem, ...] = ()
    c_total: Decimal | None = None  # approved total cost; default: the sum of the ledger's costs
    revenue: Mapping[int, Decimal] = field(default_factory=dict)  # year -> actual revenue


@dataclass(frozen=True)
class ProductCap:
    name: str
    form: str
    volume: Decimal
    k: Decimal
    unit_cost: Decimal
    breakdown: dict[str, Decimal]  # cost item -> yuan per native unit
    p_cost: Decimal
    lam: Decimal
    self_cap: Decimal
    third_party_cap: Decimal | None
    final_cap: Decimal
    price: Decimal  # what the cap relation counts: the negotiated price, else the final cap


@dataclass(frozen=True)
class Pricing:
    rule: str
    r_allow: Decimal
    vat: Decimal
    c_total: Decimal
    rmax: Decimal
    v: Decimal
    products: tuple[ProductCap, ...]
    caps: CapCheck
    reviews: dict[int, Deviation]
    excess: Decimal


def unit_costs(ledger: Ledger) -> dict[str, dict[str, Decimal]]:
    """Each product's cost per native unit, item by item (§六(五))."""
    names = [p.name for p in ledger.products]
    if len(set(names)) != len(names):
        raise PricingError("products: names must be unique")
    v = sum((p.normalised for p in ledger.products), Decimal(0))
    out: dict[str, dict[str, Decimal]] = {}
    for p in ledger.products:
        if p.volume <= 0:
            raise PricingError(f"products.{p.name}.volume must be positive")
        k = K[p.form]
        items: dict[str, Decimal] = {}
        for c in ledger.pushed:
            users = [q for q in ledger.products if c.shared_by is None or q.name in c.shared_by]
            if p.name in {q.name for q in users}:
                items[c.name] = c.annual / sum((q.normalised for q in users), Decimal(0)) * k
        if p.query_api_unit:
            items["query_api"] = p.query_api_unit
        for c in p.specific:
            items[c.name] = c.annual / p.volume
        for c in (*ledger.circulation, *ledger.common):
            items[c.name] = c.annual / v * k
        out[p.name] = items
    return out


def total_cost(ledger: Ledger) -> Decimal:
    """C_total: the ledger's override, else every annual cost plus the query-API payments."""
    if ledger.c_total is not None:
        return ledger.c_total
    shared = sum((c.annual for c in (*ledger.pushed, *ledger.circulation, *ledger.common)), Decimal(0))
    own = Decimal(0)
    for p in ledger.products:
        own += p.query_api_unit * p.volume + sum((c.annual for c in p.specific), Decimal(0))
    return shared + own


def price(ledger: Ledger) -> Pricing:
    """Every cap of a ledger, the cap relation, the yearly reviews and the excess over the years given."""
    rate = r_allow(ledger.treasury_yield_10y, ledger.rule, ledger.profit_rate)
    c_total = total_cost(ledger)
    limit = rmax(c_total, rate, ledger.vat)
    costs = unit_costs(ledger)
    caps: list[ProductCap] = []
    for p in ledger.products:
        unit = sum(costs[p.name].values(), Decimal(0))
        base = p_cost(unit, rate, ledger.vat)
        lam = scenario_factor(p.f1, p.f2)
        own = lam * base
        final = final_cap(own, p.third_party_cap)
        if p.price is not None and p.price > final:
            raise PricingError(f"products.{p.name}.price is above its final cap")
        caps.append(
            ProductCap(
                p.name, p.form.value, p.volume, K[p.form], unit, costs[p.name], base, lam, own,
                p.third_party_cap, final, p.price if p.price is not None else final,
            )
        )  # fmt: skip
    check = cap_relation(((c.price, c.volume) for c in caps), limit)
    reviews = {year: review(actual, limit) for year, actual in sorted(ledger.revenue.items())}
    return Pricing(
        rule=ledger.rule.value,
        r_allow=rate,
        vat=ledger.vat,
        c_total=c_total,
        rmax=limit,
        v=sum((p.normalised for p in ledger.products), Decimal(0)),
        products=tuple(caps),
        caps=check,
        reviews=reviews,
        excess=excess(limit, [ledger.revenue[y] for y in sorted(ledger.revenue)]),
    )


# ---- parsing a ledger handed in as plain data (YAML / JSON already loaded by the caller) ---------


def _item(raw: Mapping[str, Any], where: str) -> CostItem:
    if "name" not in raw or "amount" not in raw:
        raise PricingError(f"{where}: each cost item needs name and amount")
    years = int(raw.get("amortise_years", 1))
    if years < 1:
        raise PricingError(f"{where}.{raw['name']}.amortise_years must be at least 1")
    shared = raw.get("shared_by")
    return CostItem(
        name=str(raw["name"]),
        amount=dec(raw["amount"], f"{where}.amount"),
        amortise_years=years,
        subsidy=dec(raw.get("subsidy", 0), f"{where}.subsidy"),
        shared_by=tuple(str(s) for s in shared) if shared is not None else None,
    )


def _items(raw: Any, where: str) -> tuple[CostItem, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise PricingError(f"{where} must be a list of cost items")
    return tuple(_item(r, where) for r in raw)


def _optional(raw: Mapping[str, Any], key: str, where: str) -> Decimal | None:
    return dec(raw[key], f"{where}.{key}") if raw.get(key) is not None else None


def parse_ledger(raw: Mapping[str, Any]) -> Ledger:
    """A Ledger from loaded YAML/JSON; every problem is a PricingError naming the field."""
    if not isinstance(raw, Mapping) or "treasury_yield_10y" not in raw:
        raise PricingError("the ledger needs treasury_yield_10y")
    products = []
    for p in raw.get("products") or []:
        where = f"products.{p.get('name', '?')}"
        try:
            form = form_of(str(p.get("form", "")))
        except ValueError as e:
            raise PricingError(f"{where}.form: {e}") from None
        products.append(
            Product(
                name=str(p["name"]),
                form=form,
                volume=dec(p.get("volume"), f"{where}.volume"),
                query_api_unit=dec(p.get("query_api_unit", 0), f"{where}.query_api_unit"),
                specific=_items(p.get("specific"), f"{where}.specific"),
                f1=dec(p.get("f1", 1), f"{where}.f1"),
                f2=dec(p.get("f2", 1), f"{where}.f2"),
                third_party_cap=_optional(p, "third_party_cap", where),
                price=_optional(p, "price", where),
            )
        )
    if not products:
        raise PricingError("the ledger lists no products")
    try:
        rule = RateRule(raw.get("rate_rule", RateRule.ceiling.value))
    except ValueError:
        raise PricingError("rate_rule must be ceiling (002) or fixed (004)") from None
    return Ledger(
        treasury_yield_10y=dec(raw["treasury_yield_10y"], "treasury_yield_10y"),
        products=tuple(products),
        rule=rule,
        profit_rate=_optional(raw, "profit_rate", "ledger"),
        vat=dec(raw.get("vat", VAT), "vat"),
        pushed=_items(raw.get("pushed"), "pushed"),
        circulation=_items(raw.get("circulation"), "circulation"),
        common=_items(raw.get("common"), "common"),
        c_total=_optional(raw, "c_total", "ledger"),
        revenue={int(y): dec(v, f"revenue.{y}") for y, v in (raw.get("revenue") or {}).items()},
    )


def to_dict(p: Pricing) -> dict[str, Any]:
    """Plain JSON-ready data; Decimals as exact strings (trailing zeros dropped), never rounded."""

    def s(d: Decimal | None) -> str | None:
        return None if d is None else f"{d.normalize():f}"

    return {
        "rule": p.rule,
        "r_allow": s(p.r_allow),
        "vat": s(p.vat),
        "c_total": s(p.c_total),
        "rmax": s(p.rmax),
        "v": s(p.v),
        "products": [
            {
                "name": c.name,
                "form": c.form,
                "volume": s(c.volume),
                "k": s(c.k),
                "unit_cost": s(c.unit_cost),
                "breakdown": {k: s(v) for k, v in c.breakdown.items()},
                "p_cost": s(c.p_cost),
                "lambda": s(c.lam),
                "self_cap": s(c.self_cap),
                "third_party_cap": s(c.third_party_cap),
                "final_cap": s(c.final_cap),
                "price": s(c.price),
            }
            for c in p.products
        ],
        "cap_relation": {"total": s(p.caps.total), "rmax": s(p.caps.rmax), "ok": p.caps.ok},
        "reviews": {
            str(y): {"actual": s(d.actual), "ratio": s(d.ratio), "adjust": d.adjust}
            for y, d in p.reviews.items()
        },
        "excess": s(p.excess),
    }
