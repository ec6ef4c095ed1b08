"""Normalisation coefficients, V, the 1,000,000-call threshold and the negative list (digest §3.4, §3.9)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from policies import metering
from policies.metering import ProductForm, Usage


def test_coefficients_as_written() -> None:
    assert {f.value: str(k) for f, k in metering.K.items()} == {
        "api_call": "1",
        "alert_push": "10",
        "dataset": "0.001",
        "output_label": "1",
        "analysis_report": "10000",
    }


def test_v_of_the_digest_example_is_4_000_000() -> None:
    parts = {
        "api_call": 2_000_000,  # 2,000,000 x 1
        "alert_push": 12 * 1000,  # 120,000
        "dataset": 100_000 * 20 * 200,  # 400,000
        "output_label": 20 * 50_000,  # 1,000,000
        "analysis_report": 4 * 12,  # 480,000
    }
    assert metering.normalised("alert_push", 12_000) == 120_000
    assert metering.normalised("dataset", 400_000_000) == 400_000
    assert metering.normalised("analysis_report", 48) == 480_000
    assert metering.normalised_total(parts) == Decimal(4_000_000)


def test_threshold_is_exclusive() -> None:
    assert not metering.needs_compliance_review(1_000_000)
    assert metering.needs_compliance_review(1_000_001)


def test_unknown_form_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown product form"):
        metering.normalised("fax", 1)


def test_totals_flag_per_subject_and_year() -> None:
    rows = [
        Usage("sc1", "a", ProductForm.api_call, Decimal(1_000_000), 2026),
        Usage("sc1", "b", ProductForm.api_call, Decimal(600_000), 2026),
        Usage("sc2", "b", ProductForm.api_call, Decimal(400_001), 2026),
        Usage("sc2", "c", ProductForm.api_call, Decimal(700_000), 2025),
        Usage("sc2", "c", ProductForm.api_call, Decimal(700_000), 2026),
        Usage("sc2", "c", ProductForm.analysis_report, Decimal(2), 2026),
    ]
    t = metering.totals(rows)
    assert t.flagged_subjects == ("b",)  # a is exactly at the threshold; c's calls are split over two years
    assert t.by_form == {"api_call": Decimal(3_400_001), "analysis_report": Decimal(2)}
    assert t.by_scenario == {"sc1": Decimal(1_600_000), "sc2": Decimal(1_800_001 + 20_000)}
    assert t.v == Decimal(3_400_001 + 20_000)


@pytest.mark.parametrize(
    ("purpose", "term"),
    [
        ("用于商业营销活动", "商业营销"),
        ("投放广告", "广告"),
        ("Targeted MARKETING for shops", "marketing"),
        ("advertising reach", "advertising"),
        ("企业商业分析", "商业分析"),
        ("防汛预警，服务居民", None),
        ("school planning", None),
    ],
)
def test_negative_list(purpose: str, term: str | None) -> None:
    assert metering.commercial_term(purpose) == term


def test_doctests_pass() -> None:
    import doctest

    assert doctest.testmod(metering).failed == 0


def test_product_totals_meter_each_product_in_its_form_per_consumer() -> None:
    t = metering.product_totals(
        [
            Usage("sc1", "a", ProductForm.api_call, Decimal(5), 2026, "p_api", 5),
            Usage("sc1", "b", ProductForm.api_call, Decimal(2), 2025, "p_api", 2),
            Usage("sc1", "b", ProductForm.output_label, Decimal(40), 2026, "p_tag", 4),
            Usage("sc1", "a", ProductForm.dataset, Decimal(9_000), 2026),  # a released job: no product
        ]
    )
    assert set(t) == {"p_api", "p_tag"}
    assert t["p_api"] == metering.ProductTotals({"api_call": Decimal(7)}, Decimal(7), {"a": 5, "b": 2})
    assert t["p_tag"] == metering.ProductTotals({"output_label": Decimal(40)}, Decimal(40), {"b": 4})
