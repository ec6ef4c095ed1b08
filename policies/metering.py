"""Product forms, their units and the normalisation coefficients K (seeds 002 §六(四), digest §3.4).

Each product form is metered in its own native unit; `normalised` turns a native volume into the
common unit so costs shared "by normalised volume" can be split. V = Σ K × annual volume is the
digest's reconstruction of the blank formula. Pure: no I/O.

>>> normalised_total({"api_call": 2_000_000, "alert_push": 12_000, "dataset": 400_000_000,
...                   "output_label": 1_000_000, "analysis_report": 48})
Decimal('4000000.000')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class ProductForm(StrEnum):
    api_call = "api_call"
    alert_push = "alert_push"
    dataset = "dataset"
    output_label = "output_label"
    analysis_report = "analysis_report"


# K per form, as written in 002 §六(四); Decimal so 0.001 is exact.
K: dict[ProductForm, Decimal] = {
    ProductForm.api_call: Decimal("1"),
    ProductForm.alert_push: Decimal("10"),
    ProductForm.dataset: Decimal("0.001"),
    ProductForm.output_label: Decimal("1"),
    ProductForm.analysis_report: Decimal("10000"),
}

# The native unit of each form (what `volume` counts).
UNITS: dict[ProductForm, str] = {
    ProductForm.api_call: "calls",
    ProductForm.alert_push: "months monitored x items monitored",
    ProductForm.dataset: "rows x fields x days of use",
    ProductForm.output_label: "tag dimensions x tags",
    ProductForm.analysis_report: "analysis dimensions x reports",
}

# 002 §六(八)5: a subject whose calls in one year *exceed* this starts a compliance review.
CALLS_REVIEW_THRESHOLD = 1_000_000


def form_of(name: str) -> ProductForm:
    """The form named `name`; a ValueError names the allowed forms otherwise."""
    try:
        return ProductForm(name)
    except ValueError:
        allowed = ", ".join(f.value for f in ProductForm)
        raise ValueError(f"unknown product form {name!r}; choose from {allowed}") from None


def normalised(form: ProductForm | str, volume: Decimal | int | float | str) -> Decimal:
    """K x volume: one form's native volume in the common unit."""
    return K[form_of(str(form))] * Decimal(str(volume))


def normalised_total(volumes: Mapping[str, Decimal | int | float | str]) -> Decimal:
    """V = Σ K x volume over the forms given (form -> native annual volume)."""
    return sum((normalised(f, v) for f, v in volumes.items()), Decimal(0))


def needs_compliance_review(calls_in_year: int) -> bool:
    """True when a subject's calls in a year exceed 1,000,000 (1,000,000 itself does not)."""
    return calls_in_year > CALLS_REVIEW_THRESHOLD


@dataclass(frozen=True)
class Usage:
    """One usage record as the pure totals see it."""

    scenario_id: str
    subject_id: str
    form: ProductForm
    volume: Decimal
    year: int
    product_id: str | None = None  # the data product called; None for a released job
    records: int = 1  # usage records summed here (a product writes one per released call)


@dataclass(frozen=True)
class Totals:
    by_scenario: dict[str, Decimal]  # normalised volume per scenario
    by_form: dict[str, Decimal]  # native volume per form
    normalised_by_form: dict[str, Decimal]
    v: Decimal  # Σ K x volume
    flagged_subjects: tuple[str, ...]  # calls in one year > 1,000,000


def totals(records: Iterable[Usage]) -> Totals:
    """Totals per scenario (normalised) and per form (native and normalised), and the flagged subjects."""
    by_scenario: dict[str, Decimal] = {}
    by_form: dict[str, Decimal] = {}
    calls: dict[tuple[str, int], Decimal] = {}
    for r in records:
        n = normalised(r.form, r.volume)
        by_scenario[r.scenario_id] = by_scenario.get(r.scenario_id, Decimal(0)) + n
        by_form[r.form.value] = by_form.get(r.form.value, Decimal(0)) + r.volume
        if r.form is ProductForm.api_call:
            key = (r.subject_id, r.year)
            calls[key] = calls.get(key, Decimal(0)) + r.volume
    norm = {f: normalised(f, v) for f, v in by_form.items()}
    flagged = sorted({s for (s, _), c in calls.items() if needs_compliance_review(int(c))})
    return Totals(by_scenario, by_form, norm, sum(norm.values(), Decimal(0)), tuple(flagged))


@dataclass(frozen=True)
class ProductTotals:
    """One data product's usage: its normalised volume shares costs (§六(五)), its calls go per consumer."""

    by_form: dict[str, Decimal]  # native volume per form
    normalised: Decimal  # Σ K x volume
    calls_by_subject: dict[str, int]


def calls_of(usage: Usage) -> int:
    """The calls a usage stands for: an `api_call` volume counts calls (a batch records several at
    once); any other form's volume is rows, fields or tags, so each record (one per call) is a call."""
    return int(usage.volume) if usage.form is ProductForm.api_call else usage.records


def product_totals(records: Iterable[Usage]) -> dict[str, ProductTotals]:
    """Per data product, its native and normalised volume and calls per consumer (seeds 002 §六(四):
    every call metered in its product's form); usage without a product (released jobs) is left out.

    >>> t = product_totals([
    ...     Usage("sc", "ann", ProductForm.api_call, Decimal(3), 2026, "prd_a", 3),
    ...     Usage("sc", "bob", ProductForm.dataset, Decimal(500), 2026, "prd_b", 2),
    ...     Usage("sc", "bob", ProductForm.dataset, Decimal(90), 2026)])
    >>> t["prd_a"].normalised, t["prd_b"].normalised, t["prd_b"].calls_by_subject, sorted(t)
    (Decimal('3'), Decimal('0.500'), {'bob': 2}, ['prd_a', 'prd_b'])
    """
    forms: dict[str, dict[str, Decimal]] = {}
    calls: dict[str, dict[str, int]] = {}
    for r in records:
        if r.product_id is None:
            continue
        by_form = forms.setdefault(r.product_id, {})
        by_form[r.form.value] = by_form.get(r.form.value, Decimal(0)) + r.volume
        per_subject = calls.setdefault(r.product_id, {})
        per_subject[r.subject_id] = per_subject.get(r.subject_id, 0) + calls_of(r)
    return {p: ProductTotals(by_form, normalised_total(by_form), calls[p]) for p, by_form in forms.items()}


# 002 §六(一)1, §六(八)5: free public-interest data may not serve commercial analysis or marketing. The
# purpose of a public-interest application is checked against this list (case-insensitive substrings).
NEGATIVE_LIST: tuple[str, ...] = (
    "商业营销",
    "精准营销",
    "营销",
    "广告",
    "商业分析",
    "商业用途",
    "盈利",
    "marketing",
    "advertising",
    "advertisement",
    "commercial analysis",
    "commercial use",
    "ad targeting",
)


def commercial_term(text: str) -> str | None:
    """The first negative-list term found in `text`, or None.

    >>> commercial_term("为商户提供精准营销"), commercial_term("flood warnings for residents")
    ('精准营销', None)
    """
    low = text.lower()
    return next((t for t in NEGATIVE_LIST if t in low), None)
