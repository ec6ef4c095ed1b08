"""The checks' second round of shortcuts (a table with no marked row skips the secondary rule, the
key check and the masks; a decimal total without NULLs is not filled; the report's dict is built
directly; unit sets are sorted before they become bitmaps) give exactly what the code before them
gave: each is compared here with its previous version, copied verbatim (revision 29f1714), over
random tables with and without NULLs and marked rows."""

from __future__ import annotations

import contextlib
import itertools
from array import array as uint_array
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict
from dataclasses import fields as dataclass_fields
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyroaring import BitMap

from policies.bundles import SdcRules
from policies.gate.plan import OutputColumn, OutputKind
from policies.privacy import differencing, sdc

# --- sdc.apply, as it was --------------------------------------------------------------------------


def old_apply(
    result: pa.Table,
    outputs: Sequence[OutputColumn],
    group_units_column: str,
    k: int,
    public_keys: Mapping[str, Collection[str]] | None = None,
    rules: SdcRules | None = None,
    differencing: np.ndarray | None = None,
) -> tuple[pa.Table, sdc.SdcReport]:
    if k < 1:
        raise ValueError("k must be at least 1")
    rules = rules or SdcRules()
    schema = result.schema
    present = set(schema.names)
    names = [o.name for o in outputs]
    needed = [*names, group_units_column, *(o.units_column for o in outputs if o.units_column)]
    needed += [c for o in outputs for c in (o.dominance_total, o.dominance_top) if c]
    missing = sorted({c for c in needed if c not in present})
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
    counts: dict[str, np.ndarray] = {}  # each units column read once, however many cells it covers

    def units_of(column: str) -> np.ndarray:
        if column not in counts:
            counts[column] = old_units(result, column)
        return counts[column]

    group_units = units_of(group_units_column)
    aggregates = [o for o in outputs if o.kind != OutputKind.group]
    # Primary suppression: the first rule that fires names the cell (a code of `_CODES`, 0: none).
    fired: dict[str, np.ndarray] = {o.name: np.zeros(rows, dtype=np.int8) for o in aggregates}
    for o in aggregates:
        cell = fired[o.name]
        units = units_of(o.units_column) if o.units_column else group_units
        zero = units == 0
        if rules.zeros_disclosive:
            sdc._mark(cell, zero, sdc.ZERO)
            sdc._mark(cell, sdc.min_units(units, group_units, k), sdc.MIN_UNITS)
        else:  # a cell nobody contributes to holds nobody's data, once its group is large enough
            sdc._mark(cell, (group_units < k) | (~zero & (units < k)), sdc.MIN_UNITS)
        if o.dominance_total and o.dominance_top:
            total, top1, top2 = old_contributions(result, o.dominance_total, o.dominance_top)
            sdc._mark(cell, sdc.nk_dominated(total, top1, top2, rules.nk_n, rules.nk_k), sdc.DOMINANCE_NK)
            sdc._mark(cell, sdc.p_dominated(total, top1, top2, rules.p_percent), sdc.DOMINANCE_P)
    row_mask = group_units < k  # a row without aggregates is still withheld when its group is small
    for cell in fired.values():
        row_mask = row_mask | (cell != 0)
    if differencing is not None:
        guarded = np.asarray(differencing, dtype=bool) & ~row_mask
        for cell in fired.values():
            sdc._mark(cell, guarded, sdc.DIFFERENCING)
        row_mask = row_mask | guarded
    row_mask = row_mask | sdc._complementary(row_mask, group_units, k)
    for cell in fired.values():
        sdc._mark(cell, row_mask, sdc.SECONDARY)
    masks: dict[str, np.ndarray] = {name: cell != 0 for name, cell in fired.items()}
    any_marked = bool(row_mask.any())
    for o in outputs:
        if o.kind == OutputKind.group:
            # no marked row: no key is nulled, public or not (and `_is_public` never raises)
            public = sdc._is_public(result.column(o.name), keys.get(o.name)) if any_marked else None
            masks[o.name] = row_mask & ~public if public is not None else np.zeros(rows, dtype=bool)
            fired[o.name] = np.where(masks[o.name], sdc._CODES[sdc.KEY_NOT_PUBLIC], 0).astype(np.int8)
    fields = [pa.field(n, schema.field(n).type, nullable=True) for n in names]
    arrays = [sdc._null_where(result.column(n), masks[n]) for n in names]
    flags = dict(fired)  # the same codes: a cell is flagged exactly where it is masked
    rounded = 0
    if rules.rounding_base and rules.rounding_base > 1:
        for position, o in enumerate(outputs):
            if o.kind in sdc.COUNT_KINDS:
                arrays[position], done = sdc._rounded(
                    arrays[position], rules.rounding_base, rules.rounding_rule
                )
                flags[o.name] = flags[o.name].copy()
                flags[o.name][done] = sdc._CODES[sdc.ROUNDED]
                rounded += int(done.sum())
    table = pa.Table.from_arrays(
        [*arrays, *(sdc._flag_array(flags[n]) for n in names), pa.array(row_mask, pa.bool_())],
        schema=pa.schema(
            [
                *fields,
                *(pa.field(sdc.flag_column(n), pa.string(), nullable=True) for n in names),
                pa.field(sdc.SUPPRESSED, pa.bool_(), nullable=False),
            ]
        ),
    )
    cells = [
        sdc.SuppressedCell(int(row), name, sdc._LABELS[fired[name][row]])
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
        rules={"k": k, **old_parameters(rules)},
        rounded_cells=rounded,
    )
    return table, report


def old_contributions(result: pa.Table, total_column: str, top_column: str) -> tuple[np.ndarray, ...]:
    """Absolute total and the two largest absolute per-unit contributions, as floats (NULL: 0)."""
    totals = result.column(total_column)
    if totals.type == pa.float64() and totals.null_count == 0:
        total = np.asarray(totals.to_numpy(), float)  # the usual case: nothing to fill or cast
    else:
        total = np.asarray(pc.fill_null(totals.cast(pa.float64()), 0.0).to_numpy(), float)
    column = result.column(top_column)
    # Many rows: slice the list column's values by its offsets. Few: Python lists cost less than the
    # fixed cost of the arrays (about 40 µs; they break even near 100 rows).
    if (
        len(column) > sdc._FEW_ROWS
        and pa.types.is_list(column.type)
        and column.type.value_type == pa.float64()
    ):
        array = column.combine_chunks()
        starts = np.asarray(array.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
        values = array.values
        if array.null_count == 0 and values.null_count == 0 and bool(np.all(np.diff(starts) >= 2)):
            numbers = np.asarray(values.to_numpy(zero_copy_only=False), dtype=float)
            return total, numbers[starts[:-1]], numbers[starts[:-1] + 1]  # no NULL, two per row
    tops = column.to_pylist()
    top1 = np.array([float(t[0]) if t and t[0] is not None else 0.0 for t in tops], dtype=float)
    top2 = np.array(
        [float(t[1]) if t and len(t) > 1 and t[1] is not None else 0.0 for t in tops], dtype=float
    )
    return total, top1, top2


def old_units(result: pa.Table, column: str) -> np.ndarray:
    """Unit counts as int64; a missing (NULL) count is treated as zero units, i.e. suppressed."""
    counts = result.column(column)
    if counts.type == pa.int64() and counts.null_count == 0:
        return np.asarray(counts.to_numpy(), dtype=np.int64)  # the usual case: nothing to fill or cast
    counts = pc.fill_null(counts.cast(pa.int64()), 0)
    return np.asarray(counts.to_numpy(), dtype=np.int64)


def old_parameters(rules: SdcRules) -> dict[str, Any]:
    """`asdict(rules)` without its deep copies when every field is a plain scalar (it is, today)."""
    values = {f.name: getattr(rules, f.name) for f in dataclass_fields(rules)}
    if all(v is None or type(v) in (int, float, str, bool) for v in values.values()):
        return values
    return asdict(rules)


def old_to_dict(report: sdc.SdcReport) -> dict[str, Any]:
    d = asdict(report)
    d["suppressed"] = [asdict(cell) for cell in report.suppressed]
    d["by_rule"] = dict(report.by_rule or {})
    d["rules"] = dict(report.rules or {})
    return d


def old_unit_sets(column: pa.ChunkedArray | pa.Array) -> list[BitMap]:
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    child = array.values
    offsets = np.asarray(array.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
    if pa.types.is_integer(child.type) and child.null_count == 0 and array.null_count == 0:
        values = np.asarray(child.to_numpy(zero_copy_only=False), dtype=np.int64)
        if values.size and int(values.max()) >= 2**32:
            raise ValueError("unit ordinals above 2**32 - 1")
        bounds = offsets.tolist()
        return [
            BitMap(uint_array("I", values[start:end].astype(np.uint32).tobytes()))
            if start != end
            else BitMap()
            for start, end in itertools.pairwise(bounds)
        ]
    valid = np.asarray(pc.is_valid(child).to_numpy(zero_copy_only=False), dtype=bool)
    values = np.asarray(pc.fill_null(child, 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    if values.size and int(values.max()) >= 2**32:
        raise ValueError("unit ordinals above 2**32 - 1")
    present = np.asarray(array.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    sets = []
    for row in range(len(array)):
        start, end = int(offsets[row]), int(offsets[row + 1])
        if not present[row] or start == end:
            sets.append(BitMap())
            continue
        members = values[start:end][valid[start:end]].astype(np.uint32)
        sets.append(BitMap(uint_array("I", members.tobytes())))
    return sets


# --- the comparisons -------------------------------------------------------------------------------

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
    """A product call's result as the workspace gives it (decimal totals, integer tops), or with
    NULLs; units often all above k, so that the no-marked-row shortcut and the full path both run."""
    rows = draw(st.integers(0, 12))
    released = draw(st.booleans())  # no NULL, many units, tops far below the totals: most calls
    nulls = not released and draw(st.booleans())

    def cells(values: st.SearchStrategy[Any]) -> list[Any]:
        return draw(st.lists(st.one_of(st.none(), values) if nulls else values, min_size=rows, max_size=rows))

    amounts = st.integers(10**5, 10**6) if released else st.integers(-(10**6), 10**6)
    small = st.integers(0, 1000) if released else amounts
    top = st.one_of(st.none(), small) if nulls else small
    tops = st.lists(top, min_size=0 if nulls else 2, max_size=3)
    units = st.integers(30, 2000) if released or draw(st.booleans()) else st.integers(0, 40)
    top_type = draw(st.sampled_from([pa.list_(pa.int64()), pa.list_(pa.float64())]))
    total_type = draw(st.sampled_from([pa.decimal128(38, 2), pa.float64(), pa.int64()]))
    totals = [None if t is None else Decimal(t) * 40 for t in cells(amounts)]
    return pa.table(
        {
            "district": pa.array(cells(st.sampled_from([*DISTRICTS, "rare"])), pa.string()),
            "n": pa.array(cells(st.integers(0, 4000)), pa.int64()),
            "total": pa.array(totals, pa.decimal128(38, 2)),
            "mean": pa.array(cells(st.floats(-1e6, 1e6, allow_nan=False)), pa.float64()),
            "__units": pa.array(cells(units), pa.int64()),
            "__units_total": pa.array(cells(units), pa.int64()),
            "__dom_total_2": pa.array(totals, pa.decimal128(38, 2)).cast(total_type),
            "__dom_top_2": pa.array(cells(tops), top_type),
            "__dom_total_3": pa.array(cells(st.floats(1e5 if released else 0, 2e6)), pa.float64()),
            "__dom_top_3": pa.array(cells(tops), top_type),
        }
    )


@settings(max_examples=300, deadline=None)
@given(
    table=sdc_tables(),
    k=st.integers(1, 12),
    public=st.one_of(st.none(), st.lists(st.sampled_from(DISTRICTS), unique=True)),
    zeros=st.booleans(),
    base=st.sampled_from([None, 1, 5, 10]),
    rule=st.sampled_from(["nearest", "up", "down"]),
    guard=st.one_of(st.none(), st.lists(st.booleans(), min_size=12, max_size=12)),
    chunks=st.integers(1, 3),
)
def test_sdc_apply_is_as_before(
    table: pa.Table,
    k: int,
    public: list[str] | None,
    zeros: bool,
    base: int | None,
    rule: str,
    guard: list[bool] | None,
    chunks: int,
) -> None:
    if chunks > 1 and table.num_rows > 1:
        cut = table.num_rows // chunks
        table = pa.concat_tables([table.slice(0, cut), table.slice(cut)])
    rules = SdcRules(zeros_disclosive=zeros, rounding_base=base, rounding_rule=rule)
    keys = {"district": public} if public is not None else None
    mask = np.array(guard[: table.num_rows], dtype=bool) if guard is not None else None
    released, report = sdc.apply(table, OUTPUTS, "__units", k, keys, rules, mask)
    expected, expected_report = old_apply(table, OUTPUTS, "__units", k, keys, rules, mask)
    assert released.schema == expected.schema
    assert released.equals(expected)
    assert released.to_pylist() == expected.to_pylist()
    assert report == expected_report
    assert report.to_dict() == old_to_dict(expected_report)
    assert list(report.to_dict()) == list(old_to_dict(expected_report))  # the same keys, in order


def test_the_report_dict_names_every_field() -> None:
    """`to_dict` lists the fields itself: one added to `SdcReport` must be added there too."""
    report = sdc.apply(
        pa.table({"n": [5], "__units": [5]}), (OutputColumn("n", OutputKind.count),), "__units", 3
    )[1]
    assert list(report.to_dict()) == [f.name for f in dataclass_fields(sdc.SdcReport)]
    assert report.to_dict() == old_to_dict(report)


ordinals = st.integers(0, 2**32 - 1) | st.integers(0, 5000) | st.integers(-3, 70_000)


@st.composite
def unit_columns(draw: st.DrawFn) -> pa.ChunkedArray:
    """Unit sets in any order (LIST(DISTINCT) gives hash order), repeats, NULLs, runs, dense rows."""
    nulls = draw(st.booleans())
    member = st.one_of(st.none(), ordinals) if nulls else ordinals
    rows: list[list[int | None] | None] = []
    for _ in range(draw(st.integers(0, 8))):
        if draw(st.booleans()):
            row: list[int | None] | None = draw(st.lists(member, max_size=60))
        else:  # long and dense: bitset and run containers
            start, size = draw(st.integers(0, 2**20)), draw(st.integers(0, 9000))
            row = list(range(start, start + size))
            draw(st.randoms()).shuffle(row)
        rows.append(None if nulls and draw(st.booleans()) else row)
    array = pa.array(rows, pa.list_(pa.int64()))
    with contextlib.suppress(pa.ArrowInvalid):  # a narrower type when the ordinals fit it
        array = array.cast(pa.list_(draw(st.sampled_from([pa.int64(), pa.uint32(), pa.int32()]))))
    cut = draw(st.integers(0, len(rows)))
    pieces = [array.slice(0, cut), array.slice(cut)]
    return pa.chunked_array([p for p in pieces if len(p)] or [array], type=array.type)


@settings(max_examples=300, deadline=None)
@given(column=unit_columns())
def test_unit_sets_are_as_before_to_the_serialized_byte(column: pa.ChunkedArray) -> None:
    """The same sets, and the same bytes (so the same digests `keep_sets` stores and looks up)."""
    try:
        expected = old_unit_sets(column)
    except (ValueError, OverflowError) as e:
        with pytest.raises(type(e), match=str(e)):
            differencing.unit_sets(column)
        return
    got = differencing.unit_sets(column)
    assert got == expected
    assert [b.serialize() for b in got] == [b.serialize() for b in expected]
