"""The checks' fast paths (no NULL, small tables, a warm scan memo) give exactly what the general
path gives: each check is compared, over random small tables with and without NULLs, with a plain
reference kept here (the implementation before the fast paths: object arrays of rule names, a
fill_null and cast for every column, Python lists for the dominance tops, bitmaps row by row)."""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from presidio_analyzer import AnalyzerEngine
from pyroaring import BitMap

from policies.bundles import SdcRules
from policies.classify.recognizers import DETECTED_ENTITIES
from policies.gate.plan import OutputColumn, OutputKind
from policies.privacy import differencing, sdc
from policies.privacy.scan import Memo, PiiHit, scan
from sandbox.pii import build_analyzer

# --- sdc.apply -------------------------------------------------------------------------------------


def ref_units(result: pa.Table, column: str) -> np.ndarray:
    counts = pc.fill_null(result.column(column).cast(pa.int64()), 0)
    return np.asarray(counts.to_numpy(), dtype=np.int64)


def ref_contributions(result: pa.Table, total_column: str, top_column: str) -> tuple[np.ndarray, ...]:
    total = np.asarray(pc.fill_null(result.column(total_column).cast(pa.float64()), 0.0).to_numpy(), float)
    tops = result.column(top_column).to_pylist()
    top1 = np.array([float(t[0]) if t and t[0] is not None else 0.0 for t in tops], dtype=float)
    top2 = np.array(
        [float(t[1]) if t and len(t) > 1 and t[1] is not None else 0.0 for t in tops], dtype=float
    )
    return total, top1, top2


def ref_mark(cell: np.ndarray, where: np.ndarray, rule: str) -> None:
    cell[(cell == "") & np.asarray(where, dtype=bool)] = rule


def ref_apply(
    result: pa.Table,
    outputs: tuple[OutputColumn, ...],
    group_units_column: str,
    k: int,
    public_keys: dict[str, list[str]] | None = None,
    rules: SdcRules | None = None,
    differencing: np.ndarray | None = None,
) -> tuple[pa.Table, sdc.SdcReport]:
    if k < 1:
        raise ValueError("k must be at least 1")
    rules = rules or SdcRules()
    names = [o.name for o in outputs]
    needed = [*names, group_units_column, *(o.units_column for o in outputs if o.units_column)]
    needed += [c for o in outputs for c in (o.dominance_total, o.dominance_top) if c]
    missing = sorted({c for c in needed if c not in result.column_names})
    if (
        missing
        or len(set(names)) != len(names)
        or sdc.SUPPRESSED in names
        or set(names) & set(map(sdc.flag_column, names))
    ):
        raise ValueError(f"result does not fit the plan's outputs (missing {missing}, names {names})")
    rows = result.num_rows
    if differencing is not None and len(differencing) != rows:
        raise ValueError("the differencing mask does not fit the result")
    keys = public_keys or {}
    group_units = ref_units(result, group_units_column)
    aggregates = [o for o in outputs if o.kind != OutputKind.group]
    # Primary suppression: the first rule that fires names the cell.
    fired: dict[str, np.ndarray] = {o.name: np.full(rows, "", dtype=object) for o in aggregates}
    for o in aggregates:
        cell = fired[o.name]
        units = ref_units(result, o.units_column) if o.units_column else group_units
        zero = units == 0
        if rules.zeros_disclosive:
            ref_mark(cell, zero, sdc.ZERO)
            ref_mark(cell, sdc.min_units(units, group_units, k), sdc.MIN_UNITS)
        else:  # a cell nobody contributes to holds nobody's data, once its group is large enough
            ref_mark(cell, (group_units < k) | (~zero & (units < k)), sdc.MIN_UNITS)
        if o.dominance_total and o.dominance_top:
            total, top1, top2 = ref_contributions(result, o.dominance_total, o.dominance_top)
            ref_mark(cell, sdc.nk_dominated(total, top1, top2, rules.nk_n, rules.nk_k), sdc.DOMINANCE_NK)
            ref_mark(cell, sdc.p_dominated(total, top1, top2, rules.p_percent), sdc.DOMINANCE_P)
    row_mask = group_units < k  # a row without aggregates is still withheld when its group is small
    for cell in fired.values():
        row_mask = row_mask | (cell != "")
    if differencing is not None:
        guarded = np.asarray(differencing, dtype=bool) & ~row_mask
        for cell in fired.values():
            ref_mark(cell, guarded, sdc.DIFFERENCING)
        row_mask = row_mask | guarded
    row_mask = row_mask | sdc._complementary(row_mask, group_units, k)
    for cell in fired.values():
        ref_mark(cell, row_mask, sdc.SECONDARY)
    masks: dict[str, np.ndarray] = {name: cell != "" for name, cell in fired.items()}
    for o in outputs:
        if o.kind == OutputKind.group:
            masks[o.name] = row_mask & ~sdc._is_public(result.column(o.name), keys.get(o.name))
            fired[o.name] = np.where(masks[o.name], sdc.KEY_NOT_PUBLIC, "")
    fields = [pa.field(n, result.schema.field(n).type, nullable=True) for n in names]
    arrays = [sdc._null_where(result.column(n), masks[n]) for n in names]
    flags = {n: np.where(masks[n], fired[n], None) for n in names}
    rounded = 0
    if rules.rounding_base and rules.rounding_base > 1:
        for position, o in enumerate(outputs):
            if o.kind in sdc.COUNT_KINDS:
                arrays[position], done = sdc._rounded(
                    arrays[position], rules.rounding_base, rules.rounding_rule
                )
                flags[o.name][done] = sdc.ROUNDED
                rounded += int(done.sum())
    table = pa.Table.from_arrays(
        [*arrays, *(pa.array(flags[n], pa.string()) for n in names), pa.array(row_mask, pa.bool_())],
        schema=pa.schema(
            [
                *fields,
                *(pa.field(sdc.flag_column(n), pa.string(), nullable=True) for n in names),
                pa.field(sdc.SUPPRESSED, pa.bool_(), nullable=False),
            ]
        ),
    )
    cells = [
        sdc.SuppressedCell(int(row), name, str(fired[name][row]))
        for row in np.flatnonzero(row_mask)
        for name in names
        if masks[name][row]
    ]
    by_rule: dict[str, int] = {}
    for c in cells:
        by_rule[c.rule] = by_rule.get(c.rule, 0) + 1
    report = sdc.SdcReport(
        k=k,
        rows=rows,
        cells=rows * len(aggregates),
        suppressed_cells=sum(1 for c in cells if c.rule != sdc.KEY_NOT_PUBLIC),
        suppressed_rows=int(row_mask.sum()),
        suppressed=tuple(cells),
        nulled_keys=by_rule.get(sdc.KEY_NOT_PUBLIC, 0),
        by_rule=by_rule,
        rules={"k": k, **asdict(rules)},
        rounded_cells=rounded,
    )
    return table, report


DISTRICTS = ["东城", "西城", "朝阳", "海淀"]
OUTPUTS = (
    OutputColumn("district", OutputKind.group, "district"),
    OutputColumn("n", OutputKind.count),
    OutputColumn(
        "total",
        OutputKind.sum,
        "income",
        "__units_total",
        dominance_total="__dom_total_2",
        dominance_top="__dom_top_2",
    ),
    OutputColumn(
        "mean", OutputKind.avg, "income", dominance_total="__dom_total_3", dominance_top="__dom_top_3"
    ),
)


@st.composite
def sdc_tables(draw: st.DrawFn) -> pa.Table:
    """A small product-call result; NULLs only in some draws, so the no-NULL fast paths run often."""
    rows = draw(st.integers(0, 20))
    nulls = draw(st.booleans())

    def cells(values: st.SearchStrategy[Any]) -> list[Any]:
        return draw(st.lists(st.one_of(st.none(), values) if nulls else values, min_size=rows, max_size=rows))

    amounts = st.floats(-1e6, 1e6, allow_nan=False)
    tops = st.lists(
        st.one_of(st.none(), amounts) if nulls else amounts, min_size=2 if not nulls else 0, max_size=3
    )
    units_type = draw(st.sampled_from([pa.int64(), pa.int32()]))  # int32: the cast path without NULLs
    total_type = draw(st.sampled_from([pa.float64(), pa.decimal128(12, 2)]))
    totals = [None if t is None else Decimal(f"{t:.2f}") for t in cells(amounts)]
    return pa.table(
        {
            "district": pa.array(cells(st.sampled_from([*DISTRICTS, "rare"])), pa.string()),
            "n": pa.array(cells(st.integers(0, 40)), pa.int64()),
            "total": pa.array(totals, pa.decimal128(12, 2)),
            "mean": pa.array(cells(amounts), pa.float64()),
            "__units": pa.array(cells(st.integers(0, 30)), units_type),
            "__units_total": pa.array(cells(st.integers(0, 30)), units_type),
            "__dom_total_2": pa.array(totals, pa.decimal128(12, 2)).cast(total_type),
            "__dom_top_2": pa.array(cells(tops), pa.list_(pa.float64())),
            "__dom_total_3": pa.array(cells(st.floats(0, 2e6)), pa.float64()),
            "__dom_top_3": pa.array(cells(tops), pa.list_(pa.float64())),
        }
    )


@settings(max_examples=400, deadline=None)
@given(
    table=sdc_tables(),
    k=st.integers(1, 12),
    public=st.one_of(st.none(), st.lists(st.sampled_from(DISTRICTS), unique=True)),
    zeros=st.booleans(),
    base=st.sampled_from([None, 1, 5, 10]),
    rule=st.sampled_from(["nearest", "up", "down"]),
    guard=st.one_of(st.none(), st.lists(st.booleans(), min_size=20, max_size=20)),
    chunks=st.integers(1, 3),
)
def test_sdc_apply_is_the_reference(
    table: pa.Table,
    k: int,
    public: list[str] | None,
    zeros: bool,
    base: int | None,
    rule: str,
    guard: list[bool] | None,
    chunks: int,
) -> None:
    if chunks > 1 and table.num_rows > 1:  # several chunks, as a workspace result may come
        cut = table.num_rows // chunks
        table = pa.concat_tables([table.slice(0, cut), table.slice(cut)])
    rules = SdcRules(zeros_disclosive=zeros, rounding_base=base, rounding_rule=rule)
    keys = {"district": public} if public is not None else None
    mask = np.array(guard[: table.num_rows], dtype=bool) if guard is not None else None
    released, report = sdc.apply(table, OUTPUTS, "__units", k, keys, rules, mask)
    expected, expected_report = ref_apply(table, OUTPUTS, "__units", k, keys, rules, mask)
    assert released.schema == expected.schema
    assert released.equals(expected)
    assert released.to_pylist() == expected.to_pylist()
    assert report == expected_report
    assert report.to_dict() == expected_report.to_dict()


@st.composite
def dominance_tops(draw: st.DrawFn) -> list[list[float | None] | None]:
    """Up to 150 rows (past `_FEW_ROWS` half the time): two numbers a row, or anything with NULLs."""
    rows = draw(st.integers(0, 150))
    if draw(st.booleans()):  # the shape the companions give
        pair = st.lists(st.floats(0, 1e6), min_size=2, max_size=2)
        return draw(st.lists(pair, min_size=rows, max_size=rows))
    row = st.one_of(st.none(), st.lists(st.one_of(st.none(), st.floats(-1e6, 1e6)), max_size=3))
    return draw(st.lists(row, min_size=rows, max_size=rows))


@settings(max_examples=200, deadline=None)
@given(tops=dominance_tops())
def test_dominance_tops_of_many_rows_are_the_reference(tops: list[list[float | None] | None]) -> None:
    """Past `_FEW_ROWS` the tops are sliced from the list column's values; below, read as lists."""
    table = pa.table(
        {"total": pa.array([1000.0] * len(tops), pa.float64()), "top": pa.array(tops, pa.list_(pa.float64()))}
    )
    got = sdc._contributions(table, "total", "top")
    expected = ref_contributions(table, "total", "top")
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype


def test_sdc_apply_keeps_its_errors() -> None:
    t = pa.table({"n": [5], "__units": [5]})
    outputs = (OutputColumn("n", OutputKind.count),)
    for call in (
        lambda: sdc.apply(t, outputs, "__units", 0),
        lambda: sdc.apply(t, outputs, "__missing", 3),
        lambda: sdc.apply(t, outputs, "__units", 3, differencing=np.array([True, False])),
    ):
        with pytest.raises(ValueError) as new:
            call()
        assert str(new.value)


# --- differencing ----------------------------------------------------------------------------------


def ref_unit_sets(column: pa.ChunkedArray | pa.Array) -> list[BitMap]:
    return [BitMap(v for v in row if v is not None) if row else BitMap() for row in column.to_pylist()]


def ref_guard(
    rows: list[BitMap], released: dict[str, list[BitMap]], datasets: list[str], k: int
) -> list[bool]:
    return [
        any(0 < units.symmetric_difference_cardinality(e) < k for e in released.get(d, ()))
        for units, d in zip(rows, datasets, strict=True)
    ]


ordinals = st.integers(0, 2**32 - 1) | st.integers(0, 60)


@st.composite
def unit_columns(draw: st.DrawFn) -> pa.ChunkedArray:
    nulls = draw(st.booleans())
    member = st.one_of(st.none(), ordinals) if nulls else ordinals
    row = st.lists(member, max_size=40)
    rows = draw(st.lists(st.one_of(st.none(), row) if nulls else row, max_size=12))
    array = pa.array(rows, pa.list_(draw(st.sampled_from([pa.int64(), pa.uint32()]))))
    start = draw(st.integers(0, len(rows)))
    pieces = [array.slice(0, start), array.slice(start)]  # a slice's offsets point into shared values
    return pa.chunked_array([p for p in pieces if len(p)] or [array], type=array.type)


@settings(max_examples=300, deadline=None)
@given(column=unit_columns(), k=st.integers(1, 8), earlier=st.lists(st.lists(st.integers(0, 60)), max_size=6))
def test_unit_sets_and_guard_are_the_reference(
    column: pa.ChunkedArray, k: int, earlier: list[list[int]]
) -> None:
    sets = differencing.unit_sets(column)
    assert sets == ref_unit_sets(column)
    released = {"ds": [BitMap(e) for e in earlier]}
    assert differencing.guard(sets, released, ["ds"] * len(sets), k).tolist() == ref_guard(
        sets, released, ["ds"] * len(sets), k
    )
    table = pa.table({"__unitset:ds": column})
    got, guarded = differencing.guard_result(
        table, [("ds", "__unitset:ds"), ("ref", "__unitset:ref")], released, k
    )
    assert got == {"ds": sets}
    assert guarded.tolist() == ref_guard(sets, released, ["ds"] * len(sets), k)


def test_unit_ordinals_above_32_bits_are_refused_on_both_paths() -> None:
    for rows in ([[1, 2**32]], [[None, 2**32]]):
        with pytest.raises(ValueError, match="above 2"):
            differencing.unit_sets(pa.array(rows, pa.list_(pa.int64())))


# --- scan ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def analyzer(tmp_path_factory: pytest.TempPathFactory) -> AnalyzerEngine:
    return build_analyzer(Path(tmp_path_factory.mktemp("nlp")))


def ref_scan(table: pa.Table, analyzer: AnalyzerEngine, numeric_columns: list[str]) -> tuple[PiiHit, ...]:
    """Every distinct value analyzed, no memo, no shortcut."""
    wanted = [e for e in DETECTED_ENTITIES if e in set(analyzer.get_supported_entities("en"))]
    hits = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        text = pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
        if not (text or (name in numeric_columns and pa.types.is_integer(column.type))):
            continue
        found: dict[str, int] = {}
        for value in column.to_pylist():
            if value is not None:
                for r in analyzer.analyze(str(value), language="en", entities=wanted):
                    found[r.entity_type] = found.get(r.entity_type, 0) + 1
        hits.extend(PiiHit(name, e, c) for e, c in sorted(found.items()))
    return tuple(hits)


TEXTS = ["东城", "西城", "13812345678", "11010519491231002X", "11010519491231003X", "zhang@example.com", ""]


@st.composite
def scan_tables(draw: st.DrawFn) -> pa.Table:
    rows = draw(st.integers(0, 40))  # across SMALL_COLUMN: both ways of counting
    texts = st.lists(st.one_of(st.none(), st.sampled_from(TEXTS)), min_size=rows, max_size=rows)
    phones = st.lists(st.one_of(st.none(), st.sampled_from([13812345678, 42])), min_size=rows, max_size=rows)
    return pa.table(
        {
            "a": pa.array(draw(texts), pa.string()),
            "b": pa.array(draw(texts), pa.large_string()),
            "c": pa.array(draw(texts), pa.string()).dictionary_encode(),
            "flag": pa.nulls(rows, pa.string()),
            "phone": pa.array(draw(phones), pa.int64()),
            "n": pa.array(range(rows), pa.int64()),
        }
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=scan_tables(), numeric=st.sampled_from([[], ["phone"]]))
def test_scan_with_and_without_a_warm_memo_is_the_reference(
    analyzer: AnalyzerEngine, table: pa.Table, numeric: list[str]
) -> None:
    expected = ref_scan(table, analyzer, numeric)
    memo = Memo()
    assert scan(table, analyzer, numeric_columns=numeric) == expected
    assert scan(table, analyzer, numeric_columns=numeric, memo=memo) == expected  # cold
    assert scan(table, analyzer, numeric_columns=numeric, memo=memo) == expected  # every text known


def test_the_memo_sees_a_recognizer_removed(tmp_path: Path) -> None:
    analyzer = build_analyzer(tmp_path / "nlp")
    memo = Memo()
    before = memo.wanted(analyzer, "en")
    assert before == [e for e in DETECTED_ENTITIES if e in set(analyzer.get_supported_entities("en"))]
    gone = next(r for r in analyzer.registry.recognizers if "CN_MOBILE" in r.supported_entities)
    analyzer.registry.remove_recognizer(gone.name)
    assert "CN_MOBILE" not in memo.wanted(analyzer, "en")
    assert memo.wanted(analyzer, "en") == [
        e for e in DETECTED_ENTITIES if e in set(analyzer.get_supported_entities("en"))
    ]
