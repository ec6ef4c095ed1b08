"""Pricing against every worked example of the seeds digest §3 (hand-computed there)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from policies import pricing
from policies.pricing import PricingError, RateRule

D = Decimal
LEDGER = Path(__file__).parent / "data" / "digest_ledger.yaml"


def q(d: Decimal, places: str = "0.0001") -> Decimal:
    return d.quantize(D(places))


def ledger() -> pricing.Ledger:
    return pricing.parse_ledger(yaml.safe_load(LEDGER.read_text(encoding="utf-8")))


def test_r_allow_both_readings() -> None:
    # 3.1: y10 = 1.70% -> ceiling 7.70% (002), fixed 7.70% (004)
    assert pricing.r_allow(D("0.017")) == D("0.077")
    assert pricing.r_allow(D("0.017"), RateRule.fixed) == D("0.077")
    assert pricing.r_allow(D("0.017"), RateRule.ceiling, D("0.05")) == D("0.05")
    with pytest.raises(PricingError):
        pricing.r_allow(D("0.017"), RateRule.ceiling, D("0.0771"))
    with pytest.raises(PricingError):
        pricing.r_allow(D("0.017"), RateRule.fixed, D("0.05"))


def test_rmax_example() -> None:
    # 3.2: 10,000,000 x 1.077 = 10,770,000; VAT 646,200; Rmax 11,416,200
    assert pricing.rmax(D(10_000_000), D("0.077")) == D("11416200")
    assert pricing.rmax(D(10_000_000), D("0.077"), vat=D(0)) == D("10770000")


def test_cap_relation_example() -> None:
    # 3.3: 2.95 x 2,000,000 + 60,000 x 48 = 8,780,000 <= 11,416,200
    check = pricing.cap_relation([(D("2.95"), D(2_000_000)), (D(60_000), D(48))], D(11_416_200))
    assert check.total == D(8_780_000) and check.ok
    assert not pricing.cap_relation([(D(3), D(4_000_000))], D(11_416_200)).ok


def test_unit_cost_of_api_product_is_1_15() -> None:
    # 3.5: 0.10 + 0.05 + 0.20 + 0.55 + 0.20 + 0.05
    costs = pricing.unit_costs(ledger())
    api = costs["api_a"]
    assert api["pushed_data"] == D("0.1")
    assert api["query_api"] == D("0.05")
    assert api["development"] == D("0.2")
    assert api["compliance_review"] == D("0.05")
    circulation = sum(api[k] for k in ("platform_build", "cloud", "network", "labour"))
    assert circulation == D("0.55")
    assert api["common_operations"] == D("0.2")
    assert sum(api.values()) == D("1.15")
    # K != 1: report circulation = 0.55 x 10000 = 5,500 per dimension-report
    rep = costs["reports"]
    assert sum(rep[k] for k in ("platform_build", "cloud", "network", "labour")) == D(5500)
    assert "pushed_data" not in rep  # pushed data is shared only by the products using it


def test_subsidy_is_deducted() -> None:
    # 3.5: a 100,000 subsidy takes development to 300,000 / 2,000,000 = 0.15
    raw = yaml.safe_load(LEDGER.read_text(encoding="utf-8"))
    raw["products"][0]["specific"][0]["subsidy"] = 100_000
    assert pricing.unit_costs(pricing.parse_ledger(raw))["api_a"]["development"] == D("0.15")


def test_p_cost_and_caps() -> None:
    # 3.6: 1.15 x 1.077 = 1.23855; + 0.074313 = 1.312863; 3.7: 2.25 x 1.312863 = 2.9539 > 2.80
    assert pricing.p_cost(D("1.15"), D("0.077")) == D("1.312863")
    lam = pricing.scenario_factor(D("1.5"), D("1.5"))
    assert lam == D("2.25")
    own = lam * D("1.312863")
    assert q(own) == D("2.9539")
    assert q(pricing.final_cap(own, D("2.80"))) == D("2.9539")
    assert pricing.final_cap(D("2.5"), D("2.8")) == D("2.8")
    assert pricing.final_cap(D("2.5"), None) == D("2.5")


@pytest.mark.parametrize(("f1", "f2"), [("1.3", "1"), ("1", "3"), ("0", "1"), ("1.5", "2.5")])
def test_scenario_factor_rejects_other_values(f1: str, f2: str) -> None:
    with pytest.raises(PricingError):
        pricing.scenario_factor(D(f1), D(f2))


def test_all_lambdas() -> None:
    got = {pricing.scenario_factor(a, b) for a in pricing.F1_VALUES for b in pricing.F2_VALUES}
    assert got == {D(x) for x in ("1", "1.2", "1.5", "1.8", "2", "2.25", "2.4", "3")}


def test_review_trigger_examples() -> None:
    # 3.8: +11.25% -> adjust; -8.03% -> no adjustment; exactly 10% adjusts
    up = pricing.review(D(12_700_000), D(11_416_200))
    assert q(up.ratio * 100, "0.01") == D("11.25") and up.adjust
    down = pricing.review(D(10_500_000), D(11_416_200))
    assert q(down.ratio * 100, "0.01") == D("-8.03") and not down.adjust
    assert pricing.review(D(110), D(100)).adjust and not pricing.review(D("109.99"), D(100)).adjust


def test_three_year_excess() -> None:
    # 3.8: 583,800 + 383,800 = 967,600; netting the 416,200 shortfall gives 551,400
    years = [D(12_000_000), D(11_800_000), D(11_000_000)]
    assert pricing.excess(D(11_416_200), years) == D(967_600)
    assert pricing.excess(D(11_416_200), years, net=True) == D(551_400)


def test_whole_ledger() -> None:
    result = pricing.price(ledger())
    assert result.rmax == D(11_416_200)
    assert result.v == D(4_000_000)
    api = next(c for c in result.products if c.name == "api_a")
    assert api.unit_cost == D("1.15") and api.p_cost == D("1.312863")
    assert q(api.final_cap) == D("2.9539") and api.lam == D("2.25")
    assert result.reviews[2026].adjust and not result.reviews[2027].adjust
    assert result.excess == D(12_700_000) - D(11_416_200)
    data = pricing.to_dict(result)
    assert data["rmax"] == "11416200" and data["products"][0]["name"] == "api_a"


def test_total_cost_defaults_to_the_ledger_sum() -> None:
    raw = yaml.safe_load(LEDGER.read_text(encoding="utf-8"))
    del raw["c_total"]
    # pushed 300k + circulation 2.2M + common 800k + development 400k + compliance 100k + query 100k
    assert pricing.total_cost(pricing.parse_ledger(raw)) == D(3_900_000)


@pytest.mark.parametrize(
    "change",
    [
        {"rate_rule": "sometimes"},
        {"treasury_yield_10y": "abc"},
        {"products": []},
        {"products": [{"name": "x", "form": "fax", "volume": 1}]},
        {"products": [{"name": "x", "form": "api_call", "volume": 0}]},
        {"products": [{"name": "x", "form": "api_call", "volume": 1, "f2": 1.2}]},
        {"products": [{"name": "x", "form": "api_call", "volume": 1, "price": 10**12}]},
    ],
)
def test_bad_ledgers_are_refused(change: dict) -> None:
    raw = yaml.safe_load(LEDGER.read_text(encoding="utf-8"))
    raw.update(change)
    with pytest.raises(PricingError):
        pricing.price(pricing.parse_ledger(raw))
