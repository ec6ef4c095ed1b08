"""Each SDC rule on small hand-checked tables: dominance, zeros, secondary suppression, rounding."""

from __future__ import annotations

import pyarrow as pa
import pytest

from policies.bundles import SdcRules, default_text, parse
from policies.gate.plan import OutputColumn, OutputKind
from policies.levels import Classification
from policies.privacy import sdc

KEYS = {"d": ["A", "B", "C", "D"]}
GROUP = OutputColumn("d", OutputKind.group, "d")
COUNT = OutputColumn("n", OutputKind.count)
TOTAL = OutputColumn("s", OutputKind.sum, "x", dominance_total="__dom_total_2", dominance_top="__dom_top_2")
MEAN = OutputColumn("m", OutputKind.avg, "x", dominance_total="__dom_total_2", dominance_top="__dom_top_2")


def table(**columns: list) -> pa.Table:
    return pa.table(columns)


def rules_of(report: sdc.SdcReport) -> dict[tuple[int, str], str]:
    return {(c.row, c.column): c.rule for c in report.suppressed}


def test_nk_rule_withholds_a_sum_two_units_dominate() -> None:
    # A: the two largest are 950 + 20 = 97% of 1000 > 90%; B: 300 + 200 = 50%; C: 60%
    t = table(
        d=["A", "B", "C"],
        n=[20, 20, 20],
        s=[1000, 1000, 1000],
        __units=[20, 20, 20],
        __dom_total_2=[1000, 1000, 1000],
        __dom_top_2=[[950, 20], [300, 200], [400, 200]],
    )
    released, report = sdc.apply(t, (GROUP, COUNT, TOTAL), "__units", 10, KEYS)
    assert [r["s"] for r in released.to_pylist()] == [None, None, 1000]
    assert rules_of(report) == {
        (0, "n"): sdc.SECONDARY,
        (0, "s"): sdc.DOMINANCE_NK,
        (1, "n"): sdc.SECONDARY,  # B and C tie on units: table order decides
        (1, "s"): sdc.SECONDARY,
    }
    assert report.by_rule == {sdc.DOMINANCE_NK: 1, sdc.SECONDARY: 3}


def test_nk_with_n_1_looks_at_the_largest_only() -> None:
    t = table(d=["A"], s=[100], __units=[20], __dom_total_2=[100], __dom_top_2=[[60, 35]])
    _, strict = sdc.apply(t, (GROUP, TOTAL), "__units", 10, KEYS, SdcRules(nk_n=2, nk_k=90, p_percent=0))
    _, loose = sdc.apply(t, (GROUP, TOTAL), "__units", 10, KEYS, SdcRules(nk_n=1, nk_k=90, p_percent=0))
    assert rules_of(strict) == {(0, "s"): sdc.DOMINANCE_NK} and rules_of(loose) == {}


def test_p_percent_rule_withholds_when_the_runner_up_could_estimate_the_largest() -> None:
    # total 1000, largest 800, second 130: the second learns 800 + 70, within 8.75% < 20%
    rules = SdcRules(nk_n=2, nk_k=95, p_percent=20)
    t = table(
        d=["A", "B"],
        m=[50.0, 50.0],
        __units=[20, 20],
        __dom_total_2=[1000, 1000],
        __dom_top_2=[[800, 130], [500, 100]],
    )
    released, report = sdc.apply(t, (GROUP, MEAN), "__units", 10, KEYS, rules)
    assert rules_of(report) == {(0, "m"): sdc.DOMINANCE_P, (1, "m"): sdc.SECONDARY}
    assert released.column("m").to_pylist() == [None, None]


def test_acro_defaults_cannot_fire_p_alone_but_fire_nk() -> None:
    # with n=2, k=90 the rest is at least 10% of the total whenever N-K passes, so p=10% cannot fire
    t = table(d=["A"], s=[1000], __units=[30], __dom_total_2=[1000], __dom_top_2=[[850, 60]])
    _, report = sdc.apply(t, (GROUP, TOTAL), "__units", 10, KEYS)
    assert rules_of(report) == {(0, "s"): sdc.DOMINANCE_NK}


def test_all_zero_contributions_are_not_dominated() -> None:
    t = table(d=["A"], s=[0], __units=[30], __dom_total_2=[0], __dom_top_2=[[0, 0]])
    released, report = sdc.apply(t, (GROUP, TOTAL), "__units", 10, KEYS)
    assert released.column("s").to_pylist() == [0] and report.suppressed == ()


def test_zero_cells_are_disclosive_unless_the_bundle_says_otherwise() -> None:
    count_f = OutputColumn("f", OutputKind.sum, None, "__units_1")
    t = table(d=["A", "B"], f=[0, 12], __units=[30, 40], __units_1=[0, 12])
    released, report = sdc.apply(t, (GROUP, count_f), "__units", 10, KEYS)
    assert rules_of(report) == {(0, "f"): sdc.ZERO, (1, "f"): sdc.SECONDARY}
    assert released.column("f").to_pylist() == [None, None]
    released, report = sdc.apply(t, (GROUP, count_f), "__units", 10, KEYS, SdcRules(zeros_disclosive=False))
    assert released.column("f").to_pylist() == [0, 12] and report.suppressed == ()


def test_secondary_suppression_protects_a_cell_from_the_known_total() -> None:
    # 4 districts, C has 3 residents. Released alone, C = total - (A + B + D): secondary suppression
    # withholds D as well (the fewest units of the others), so the total gives only C + D (28 units).
    t = table(d=["A", "B", "C", "D"], n=[50, 40, 3, 25], __units=[50, 40, 3, 25])
    released, report = sdc.apply(t, (GROUP, COUNT), "__units", 10, KEYS)
    assert released.column("n").to_pylist() == [50, 40, None, None]
    assert released.column("suppressed").to_pylist() == [False, False, True, True]
    assert rules_of(report) == {(2, "n"): sdc.MIN_UNITS, (3, "n"): sdc.SECONDARY}
    total = 50 + 40 + 3 + 25
    assert total - sum(v for v in released.column("n").to_pylist() if v is not None) == 28


def test_secondary_suppression_adds_rows_until_the_withheld_ones_reach_k() -> None:
    # two small districts (2 and 3 units) are withheld, but together they are 5 < 10: add the next
    t = table(d=["A", "B", "C", "D"], n=[2, 3, 30, 18], __units=[2, 3, 30, 18])
    released, report = sdc.apply(t, (GROUP, COUNT), "__units", 10, KEYS)
    assert released.column("n").to_pylist() == [None, None, 30, None]
    assert rules_of(report)[(3, "n")] == sdc.SECONDARY


def test_cells_of_one_row_are_withheld_together() -> None:
    # s is withheld (3 units have an x); releasing m and the count behind it would give s = m * count
    count_x = OutputColumn("c", OutputKind.count_values, "x", "__units_1")
    total = OutputColumn("s", OutputKind.sum, "x", "__units_1")
    mean = OutputColumn("m", OutputKind.avg, "x", "__units_1")
    t = table(d=["A"], c=[3], s=[30], m=[10.0], __units=[50], __units_1=[3])
    released, report = sdc.apply(t, (GROUP, count_x, total, mean), "__units", 10, KEYS)
    assert released.select(["d", "c", "s", "m", "suppressed"]).to_pylist() == [
        {"d": "A", "c": None, "s": None, "m": None, "suppressed": True}
    ]
    flags = released.select(["d__flag", "c__flag", "s__flag", "m__flag"]).to_pylist()
    assert flags == [
        {"d__flag": None, "c__flag": sdc.MIN_UNITS, "s__flag": sdc.MIN_UNITS, "m__flag": sdc.MIN_UNITS}
    ]
    assert {c.rule for c in report.suppressed} == {sdc.MIN_UNITS}


def test_a_single_row_total_has_no_complement() -> None:
    t = table(n=[3], __units=[3])
    released, report = sdc.apply(t, (COUNT,), "__units", 10)
    assert released.to_pylist() == [{"n": None, "n__flag": sdc.MIN_UNITS, "suppressed": True}]
    assert rules_of(report) == {(0, "n"): sdc.MIN_UNITS}


@pytest.mark.parametrize(
    ("rule", "expected"),
    [("nearest", [10, 15, 15, 20]), ("up", [15, 15, 15, 20]), ("down", [10, 10, 15, 15])],
)
def test_released_counts_are_rounded_by_the_bundle_rule(rule: str, expected: list) -> None:
    t = table(d=["A", "B", "C", "D"], n=[12, 13, 15, 19], __units=[12, 13, 15, 19])
    rules = SdcRules(rounding_base=5, rounding_rule=rule)
    released, report = sdc.apply(t, (GROUP, COUNT), "__units", 10, KEYS, rules)
    assert released.column("n").to_pylist() == expected
    # every released count is flagged, changed or not (15 too): unflagged would mean "exact"
    assert released.column("n__flag").to_pylist() == [sdc.ROUNDED] * 4 and report.rounded_cells == 4
    assert released.column("d__flag").to_pylist() == [None] * 4
    assert report.rules is not None and report.rules["rounding_base"] == 5


def test_report_names_cells_and_rules_never_values_or_shares() -> None:
    t = table(d=["A"], s=[987654321], __units=[30], __dom_total_2=[987654321], __dom_top_2=[[987654000, 1]])
    _, report = sdc.apply(t, (GROUP, TOTAL), "__units", 10, KEYS)
    text = repr(report.to_dict())
    assert "987654" not in text
    assert report.to_dict()["suppressed"] == [{"row": 0, "column": "s", "rule": sdc.DOMINANCE_NK}]
    assert report.to_dict()["rules"]["nk_k"] == 90.0


def test_default_bundle_has_acro_values_and_joins_take_the_strictest() -> None:
    bundle = parse(default_text())
    general = bundle.for_level(Classification.general).sdc
    assert (general.nk_n, general.nk_k, general.p_percent, general.zeros_disclosive) == (
        2,
        2 * 45.0,
        10.0,
        True,
    )
    joined = bundle.strictest([Classification.general, Classification.core])
    core = bundle.for_level(Classification.core).sdc
    assert joined.k == 50 and joined.sdc.nk_k == min(general.nk_k, core.nk_k)
    assert joined.sdc.p_percent == max(general.p_percent, core.p_percent)


def test_bundle_refuses_unknown_or_out_of_range_sdc_settings() -> None:
    base = "important: {k: 20}\ncore: {k: 50}\n"
    with pytest.raises(ValueError, match="unknown sdc"):
        parse("general: {k: 10, sdc: {nk: 2}}\n" + base)
    with pytest.raises(ValueError, match="nk_n"):
        parse("general: {k: 10, sdc: {nk_n: 3}}\n" + base)
    with pytest.raises(ValueError, match="rounding"):
        parse("general: {k: 10, sdc: {rounding_base: 5, rounding_rule: sideways}}\n" + base)
    rounded = parse("general: {k: 10, sdc: {rounding_base: 5}}\n" + base)
    assert rounded.strictest([Classification.general, Classification.core]).sdc.rounding_base == 5
