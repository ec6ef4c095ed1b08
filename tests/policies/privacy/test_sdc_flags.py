"""Per-cell flags of a released SDC table, one small hand-checked table per rule.

Each output `c` has `c__flag`: NULL when the cell is released as computed, else the rule code that
withheld it (the same row and column as the report's entry), or `rounded`.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from policies.bundles import SdcRules
from policies.gate.plan import OutputColumn, OutputKind
from policies.privacy import sdc

KEYS = {"d": ["A", "B", "C", "D"]}
GROUP = OutputColumn("d", OutputKind.group, "d")
COUNT = OutputColumn("n", OutputKind.count)
TOTAL = OutputColumn("s", OutputKind.sum, "x", dominance_total="__dom_total_2", dominance_top="__dom_top_2")


def flags(released: pa.Table, *names: str) -> list[tuple[str | None, ...]]:
    columns = [released.column(sdc.flag_column(n)).to_pylist() for n in names]
    return list(zip(*columns, strict=True))


def assert_flags_are_the_report(released: pa.Table, report: sdc.SdcReport) -> None:
    """Every non-NULL flag other than `rounded` is a report entry, and every entry is flagged."""
    names = [n for n in released.column_names if sdc.flag_column(n) in released.column_names]
    found = {
        (row, name): flag
        for name in names
        for row, flag in enumerate(released.column(sdc.flag_column(name)).to_pylist())
        if flag is not None and flag != sdc.ROUNDED
    }
    assert found == {(c.row, c.column): c.rule for c in report.suppressed}
    for (row, name), _ in found.items():  # a flagged cell is withheld, never a value
        assert released.column(name)[row].as_py() is None


def test_threshold_flags_the_small_cell_and_its_complement() -> None:
    # C has 3 units (min_units); D, the fewest of the rest, is withheld so C + D cannot be split
    t = pa.table({"d": ["A", "B", "C", "D"], "n": [50, 40, 3, 25], "__units": [50, 40, 3, 25]})
    released, report = sdc.apply(t, (GROUP, COUNT), "__units", 10, KEYS)
    assert flags(released, "d", "n") == [
        (None, None),
        (None, None),
        (None, sdc.MIN_UNITS),
        (None, sdc.SECONDARY),
    ]
    assert released.column("d").to_pylist() == ["A", "B", "C", "D"]  # public keys stay, unflagged
    assert_flags_are_the_report(released, report)


def test_a_key_that_is_not_public_is_flagged_with_its_own_code() -> None:
    t = pa.table({"d": ["A", "rare"], "n": [50, 2], "__units": [50, 2]})
    released, report = sdc.apply(t, (GROUP, COUNT), "__units", 10, KEYS)
    assert flags(released, "d", "n") == [(None, sdc.SECONDARY), (sdc.KEY_NOT_PUBLIC, sdc.MIN_UNITS)]
    assert released.column("d").to_pylist() == ["A", None]
    assert_flags_are_the_report(released, report)


@pytest.mark.parametrize(
    ("rules", "tops", "rule"),
    [
        (SdcRules(), [[950, 20], [300, 200]], sdc.DOMINANCE_NK),  # 97% of the total in two units
        (SdcRules(nk_n=2, nk_k=95, p_percent=20), [[800, 130], [300, 200]], sdc.DOMINANCE_P),  # rest 70 < 160
    ],
)
def test_dominance_flags_the_dominated_sum(rules: SdcRules, tops: list, rule: str) -> None:
    t = pa.table(
        {
            "d": ["A", "B"],
            "n": [20, 20],
            "s": [1000, 1000],
            "__units": [20, 20],
            "__dom_total_2": [1000, 1000],
            "__dom_top_2": tops,
        }
    )
    released, report = sdc.apply(t, (GROUP, COUNT, TOTAL), "__units", 10, KEYS, rules)
    # the count of A goes with its sum (same row); B is the complement
    assert flags(released, "d", "n", "s") == [
        (None, sdc.SECONDARY, rule),
        (None, sdc.SECONDARY, sdc.SECONDARY),
    ]
    assert_flags_are_the_report(released, report)


def test_a_zero_cell_is_flagged_zero() -> None:
    f = OutputColumn("f", OutputKind.sum, None, "__units_1")
    t = pa.table({"d": ["A", "B"], "f": [0, 12], "__units": [30, 40], "__units_1": [0, 12]})
    released, report = sdc.apply(t, (GROUP, f), "__units", 10, KEYS)
    assert flags(released, "f") == [(sdc.ZERO,), (sdc.SECONDARY,)]
    assert_flags_are_the_report(released, report)


def test_a_guarded_row_is_flagged_differencing_and_its_complement_secondary() -> None:
    t = pa.table({"d": ["A", "B", "C"], "n": [40, 30, 20], "__units": [40, 30, 20]})
    released, report = sdc.apply(
        t, (GROUP, COUNT), "__units", 10, KEYS, differencing=np.array([True, False, False])
    )
    assert flags(released, "n") == [(sdc.DIFFERENCING,), (None,), (sdc.SECONDARY,)]
    assert_flags_are_the_report(released, report)


def test_rounding_flags_released_counts_only() -> None:
    # n is a count (rounded, flagged even where 15 stays 15); s is a sum: untouched, unflagged;
    # D is withheld (3 units): flagged by its rule, not rounded
    t = pa.table(
        {
            "d": ["A", "B", "C", "D"],
            "n": [12, 15, 40, 3],
            "s": [1001, 1502, 4003, 304],
            "__units": [12, 15, 40, 3],
            "__dom_total_2": [1001, 1502, 4003, 304],
            "__dom_top_2": [[100, 90]] * 4,
        }
    )
    rules = SdcRules(rounding_base=5)
    released, report = sdc.apply(t, (GROUP, COUNT, TOTAL), "__units", 10, KEYS, rules)
    assert released.column("n").to_pylist() == [None, 15, 40, None]
    assert released.column("s").to_pylist() == [None, 1502, 4003, None]
    assert flags(released, "d", "n", "s") == [
        (None, sdc.SECONDARY, sdc.SECONDARY),
        (None, sdc.ROUNDED, None),
        (None, sdc.ROUNDED, None),
        (None, sdc.MIN_UNITS, sdc.MIN_UNITS),
    ]
    assert report.rounded_cells == 2
    assert_flags_are_the_report(released, report)


def test_without_rounding_or_suppression_nothing_is_flagged() -> None:
    t = pa.table({"d": ["A", None], "n": [30, 40], "__units": [30, 40]})
    released, report = sdc.apply(t, (GROUP, COUNT), "__units", 10, KEYS)
    assert flags(released, "d", "n") == [(None, None), (None, None)]  # a real NULL key: no flag
    assert released.column("d").to_pylist() == ["A", None] and report.suppressed == ()


def test_csv_marks_withheld_cells_and_keeps_real_nulls_and_rounded_values() -> None:
    t = pa.table({"d": ["A", None, "rare"], "n": [30, 41, 2], "__units": [30, 41, 2]})
    released, _ = sdc.apply(t, (GROUP, COUNT), "__units", 10, KEYS, SdcRules(rounding_base=5))
    marked = sdc.marked_for_csv(released)
    assert marked.column("d").to_pylist() == ["A", None, sdc.CSV_MARKER]
    # A (30 units, fewer than the NULL group's 41) is the complement of the rare row
    assert marked.column("n").to_pylist() == [sdc.CSV_MARKER, "40", sdc.CSV_MARKER]
    assert marked.column("n__flag").to_pylist() == [sdc.SECONDARY, sdc.ROUNDED, sdc.MIN_UNITS]
    plain = pa.table({"n": [1, None]})  # a dp table has no flags: written as it is
    assert sdc.marked_for_csv(plain).equals(plain)


def test_an_output_named_like_a_flag_is_refused() -> None:
    t = pa.table({"n": [30], "n__flag": [30], "__units": [30]})
    outputs = (COUNT, OutputColumn("n__flag", OutputKind.count))
    with pytest.raises(ValueError, match="does not fit"):
        sdc.apply(t, outputs, "__units", 10)
