from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.gate.plan import OutputColumn, OutputKind
from policies.privacy.sdc import (
    KEY_NOT_PUBLIC,
    MIN_UNITS,
    SECONDARY,
    SUPPRESSED,
    SuppressedCell,
    apply,
    flag_column,
)

OUTPUTS = (
    OutputColumn("district", OutputKind.group, "district"),
    OutputColumn("n", OutputKind.count),
    OutputColumn("total", OutputKind.sum, "income", "__units_total"),
    OutputColumn("mean", OutputKind.avg, "income", "__units_mean"),
)
AGGREGATES = [o for o in OUTPUTS if o.kind != OutputKind.group]
DISTRICTS = ["东城", "西城", "朝阳", "海淀"]

units = st.one_of(st.none(), st.integers(0, 20))
row = st.fixed_dictionaries(
    {
        "district": st.one_of(st.none(), st.sampled_from(DISTRICTS)),
        "n": st.one_of(st.none(), st.integers(-(2**40), 2**40)),
        "total": st.one_of(st.none(), st.decimals(-(10**6), 10**6, places=2)),
        "mean": st.one_of(st.none(), st.floats(allow_nan=False)),
        "__units": units,
        "__units_total": units,
        "__units_mean": units,
    }
)
SCHEMA = pa.schema(
    [
        ("district", pa.string()),
        ("n", pa.int64()),
        ("total", pa.decimal128(12, 2)),
        ("mean", pa.float64()),
        ("__units", pa.int64()),
        ("__units_total", pa.int64()),
        ("__units_mean", pa.int64()),
    ]
)


def cell_units(r: dict, output: OutputColumn) -> int:
    return r[output.units_column or "__units"] or 0


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(row, max_size=25),
    k=st.integers(1, 12),
    public=st.one_of(st.none(), st.lists(st.sampled_from(DISTRICTS), unique=True)),
)
def test_release_properties(rows: list[dict], k: int, public: list[str] | None) -> None:
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    released, report = apply(
        table, OUTPUTS, "__units", k, {"district": public} if public is not None else None
    )

    # the operator's columns, a flag per column, then `suppressed`; no companion; no row dropped
    names = [o.name for o in OUTPUTS]
    assert released.column_names == [*names, *(flag_column(n) for n in names), SUPPRESSED]
    assert released.num_rows == table.num_rows
    assert [released.schema.field(o.name).type for o in OUTPUTS] == [
        SCHEMA.field(o.name).type for o in OUTPUTS
    ]

    after_rows = released.to_pylist()
    marked_units = 0
    for i, (before, after) in enumerate(zip(rows, after_rows, strict=True)):
        group_units = before["__units"] or 0
        hit = [o.name for o in AGGREGATES if cell_units(before, o) < k or group_units < k]
        if hit or group_units < k:
            assert after[SUPPRESSED]  # every primary suppression marks its row
        marked = after[SUPPRESSED]
        marked_units += group_units if marked else 0
        for o in AGGREGATES:
            if marked:
                assert after[o.name] is None  # a marked row withholds every aggregate (secondary)
            else:
                assert after[o.name] == before[o.name]  # everything else is untouched
        key_kept = not marked or (before["district"] in (public or []))
        assert after["district"] == (before["district"] if key_kept else None)
        listed = {c.column for c in report.suppressed if c.row == i}
        assert set(hit) <= listed
    n_marked = sum(1 for r in after_rows if r[SUPPRESSED])
    if 0 < n_marked < len(rows):  # complementary suppression: two rows or more, together k units
        assert n_marked >= 2 and marked_units >= k

    assert report.rows == len(rows) and report.cells == len(rows) * len(AGGREGATES)
    assert report.suppressed_rows == n_marked
    assert report.suppressed_cells == sum(1 for c in report.suppressed if c.rule != KEY_NOT_PUBLIC)
    assert report.nulled_keys == sum(1 for c in report.suppressed if c.rule == KEY_NOT_PUBLIC)
    # the file's flags are the report's cells, same row and column, and nothing else
    flagged = {
        (i, n): r[flag_column(n)] for i, r in enumerate(after_rows) for n in names if r[flag_column(n)]
    }
    assert flagged == {(c.row, c.column): c.rule for c in report.suppressed}


def table_of(**columns: list) -> pa.Table:
    return pa.table(columns)


def test_small_group_row_is_blanked_and_marked_not_dropped() -> None:
    t = table_of(district=["东城", "某村"], n=[120, 2], __units=[120, 2])
    released, report = apply(t, OUTPUTS[:2], "__units", k=10, public_keys={"district": ["东城"]})
    # 东城 goes too: else the known total (one query away) minus 120 is 某村's count
    assert released.to_pylist() == [
        {"district": "东城", "n": None, "district__flag": None, "n__flag": SECONDARY, "suppressed": True},
        {
            "district": None,
            "n": None,
            "district__flag": KEY_NOT_PUBLIC,
            "n__flag": MIN_UNITS,
            "suppressed": True,
        },
    ]
    assert report.suppressed == (
        SuppressedCell(0, "n", SECONDARY),
        SuppressedCell(1, "district", KEY_NOT_PUBLIC),
        SuppressedCell(1, "n", MIN_UNITS),
    )
    assert (report.cells, report.suppressed_cells, report.suppressed_rows, report.nulled_keys) == (2, 2, 2, 1)


def test_a_cell_with_few_units_is_suppressed_even_in_a_large_group() -> None:
    t = table_of(
        district=["东城"],
        n=[50],
        total=[Decimal("1234.50")],
        mean=[3.5],
        __units=[50],
        __units_total=[3],
        __units_mean=[50],
    )
    released, report = apply(t, OUTPUTS, "__units", k=10, public_keys={"district": ["东城"]})
    # n and mean go too: total = mean * (the count behind it), and rows are tied by such sums
    assert released.to_pylist() == [
        {
            "district": "东城",
            "n": None,
            "total": None,
            "mean": None,
            "district__flag": None,
            "n__flag": SECONDARY,
            "total__flag": MIN_UNITS,
            "mean__flag": SECONDARY,
            "suppressed": True,
        }
    ]
    assert report.suppressed == (
        SuppressedCell(0, "n", SECONDARY),
        SuppressedCell(0, "total", MIN_UNITS),
        SuppressedCell(0, "mean", SECONDARY),
    )


def test_public_keys_are_compared_as_text() -> None:
    outputs = (OutputColumn("age_band", OutputKind.group), OutputColumn("n", OutputKind.count))
    t = table_of(age_band=[3, 4], n=[1, 1], __units=[1, 1])
    released, _ = apply(t, outputs, "__units", k=5, public_keys={"age_band": ["3"]})
    assert released.column("age_band").to_pylist() == [3, None]
    assert released.schema.field("age_band").type == pa.int64()


def test_missing_unit_count_counts_as_zero_units() -> None:
    t = table_of(district=["东城"], n=[100], __units=pa.array([None], pa.int64()))
    released, _ = apply(t, OUTPUTS[:2], "__units", k=1)
    assert released.column("n").to_pylist() == [None]


def test_rows_without_aggregates_are_still_checked() -> None:
    t = table_of(district=["东城", "某村", "西城"], __units=[30, 1, 40])
    released, report = apply(t, OUTPUTS[:1], "__units", k=10)
    assert released.to_pylist() == [
        {"district": None, "district__flag": KEY_NOT_PUBLIC, "suppressed": True},
        {"district": None, "district__flag": KEY_NOT_PUBLIC, "suppressed": True},
        {"district": "西城", "district__flag": None, "suppressed": False},
    ]
    assert (report.cells, report.suppressed_rows) == (0, 2)


def test_report_never_carries_values_or_unit_counts() -> None:
    t = table_of(district=["秘密村"], n=[987654321], __units=[7777])
    released, report = apply(t, OUTPUTS[:2], "__units", k=10_000)
    text = repr(report) + repr(report.to_dict())
    for secret in ("987654321", "7777", "秘密村"):
        assert secret not in text
    assert report.to_dict()["suppressed"] == [
        {"row": 0, "column": "district", "rule": KEY_NOT_PUBLIC},
        {"row": 0, "column": "n", "rule": MIN_UNITS},
    ]
    assert released.column("n").type == pa.int64()


def test_empty_result_is_released_empty() -> None:
    t = pa.Table.from_pylist([], schema=SCHEMA)
    released, report = apply(t, OUTPUTS, "__units", k=10)
    assert released.num_rows == 0 and released.column_names[-1] == SUPPRESSED
    assert report.suppressed == ()


@pytest.mark.parametrize(
    ("table", "outputs", "k"),
    [
        (table_of(district=["a"], n=[1], __units=[1]), OUTPUTS, 5),  # companions missing
        (table_of(district=["a"], n=[1], __units=[1]), OUTPUTS[:2], 0),  # k below 1
        (table_of(suppressed=[1], __units=[1]), (OutputColumn("suppressed", OutputKind.count),), 5),
    ],
)
def test_inputs_that_do_not_fit_the_plan_are_refused(table: pa.Table, outputs: tuple, k: int) -> None:
    with pytest.raises(ValueError):
        apply(table, outputs, "__units", k)
