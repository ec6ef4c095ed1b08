"""Statistical disclosure control for exact tables: thresholds, dominance, secondary suppression.

Why the rules are what they are
-------------------------------
An aggregate cell computed from the data of very few people tells about those people: a SUM over
one person's rows is that person's amount; over two, either of them learns the other's by
subtraction; in general anyone who knows k-2 contributions narrows the rest to one other person.
The rules run in this order; the first that fires names the cell in the report (stable codes):

- `min_units`: a cell is released only if it covers at least `k` distinct privacy units (the person
  or enterprise whose data a row is). Units, not rows: one person with many rows must not pass as
  many. Each aggregate cell has its own unit count (`OutputColumn.units_column`); without one, the
  row's group count stands in; a row whose group has fewer than k units is withheld whole.
- `zero` (bundle `zeros_disclosive`, default on as in ACRO): a cell no unit contributes to is
  withheld; a structural zero says that nobody in the group has the property. Off, such a cell is
  released when its row's group reaches k (it holds nobody's data).
- `dominance_nk` (N-K rule, ACRO n=2, k=90%): a SUM or AVG cell whose n largest per-unit
  contributions exceed k% of the total of all contributions: the cell is mostly one or two units'
  amount. `dominance_p` (p% rule, ACRO p=10%): the rest of the total after the two largest is less
  than p% of the largest, so the second largest contributor, subtracting its own amount, would know
  the largest within p%. Both use absolute per-unit contributions (`OutputColumn.dominance_total`,
  `dominance_top`, computed by `policies.gate.companions`): a large loss dominates like a gain.
- `differencing`: the scenario's guard (`DifferencingGuard`) found a cell whose set of units differs
  from an already released cell's by fewer than k units but more than none (see `policies.privacy.
  differencing`).
- `secondary` (suppression of cells that would give a withheld cell away by subtraction):
  1. within a row, every aggregate cell of a row with a withheld cell is withheld too: cells of one
     row are tied by arithmetic (SUM = AVG * COUNT; COUNT(*) = the CASE counts of its parts);
  2. within the table, a table with any withheld row withholds at least two rows whose groups
     together reach k units, adding the rows with the fewest units first. Totals are never part of
     one output (the gate refuses ROLLUP, CUBE, GROUPING SETS and UNION), but the column total of a
     table is always one query away, so it must be assumed known: subtracting the released rows from
     it gives only the sum of the withheld ones, which then covers at least k units.
  We suppress further rather than refuse totals: a total is a legitimate query, and refusing it would
  leave the grouped table just as open to a total from elsewhere.

A suppressed cell becomes NULL and its row is marked `suppressed`; rows are never dropped, so the
reviewer and the operator see that something was withheld rather than a table that looks whole. The
group keys of a marked row are nulled too unless the value is a declared public key (the published
list of districts, say): that a rare key value exists at all can identify someone (`key_not_public`).
Counts of released cells are then rounded if the bundle asks (`rounding_base`, `rounding_rule`).

Every output `c` has a status column `c__flag` beside it (after the outputs, before `suppressed`):
NULL for a cell released as computed, else the code of what was done to it: the rule that withheld
it (one of `RULES`; the same row and column as the report's entry), or `rounded` for every released
count under a rounding base (all of them, changed or not: a flag on changed ones only would tell
that the others were exact multiples). So a withheld cell is never mistaken for a real NULL, and the
file says which cell and why without any value. `marked_for_csv` writes `[c]` (confidential, as
the ONS marks it) in place of a withheld cell, where CSV could not tell NULL from empty.

The companion `__units*` and `__dom*` columns exist only to apply these rules and never leave. The
report says which cells were withheld and by which rule, never their values, unit counts or shares.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from dataclasses import fields as dataclass_fields
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from policies.bundles import SdcRules
from policies.gate.plan import FLAG_SUFFIX, SUPPRESSED_COLUMN, OutputColumn, OutputKind

SUPPRESSED = SUPPRESSED_COLUMN  # the boolean column appended to every released table
# Rule codes (API: a released code never changes meaning), in the order they are tried.
MIN_UNITS = "min_units"  # an aggregate cell covering fewer than k privacy units
ZERO = "zero"  # an aggregate cell no unit contributes to (zeros_disclosive)
DOMINANCE_NK = "dominance_nk"  # the n largest contributions exceed k% of a sum or mean
DOMINANCE_P = "dominance_p"  # the rest of a sum is within p% of its largest contribution
DIFFERENCING = "differencing"  # the row's unit set is within k units of an already released cell's
SECONDARY = "secondary"  # withheld so that a withheld cell cannot be recovered by subtraction
KEY_NOT_PUBLIC = "key_not_public"  # a group key of a suppressed row that is not a declared public key
RULES: tuple[str, ...] = (MIN_UNITS, ZERO, DOMINANCE_NK, DOMINANCE_P, DIFFERENCING, SECONDARY, KEY_NOT_PUBLIC)
ROUNDED = "rounded"  # a released count rounded to the bundle's base: a cell flag, not a suppression
FLAGS: tuple[str, ...] = (*RULES, ROUNDED)  # every value a `<output>__flag` cell can hold besides NULL
CSV_MARKER = "[c]"  # what a CSV release shows in place of a withheld cell
COUNT_KINDS = frozenset({OutputKind.count, OutputKind.count_units, OutputKind.count_values})
# `apply` keeps each cell's flag as a small integer code (0: none) rather than an array of strings:
# comparing and assigning int8 costs a fraction of object arrays, and a table's flags are few.
_LABELS: tuple[str | None, ...] = (None, *FLAGS)
_CODES: Mapping[str, int] = {flag: code for code, flag in enumerate(_LABELS) if flag is not None}
_LABEL_ARRAY = np.array(_LABELS, dtype=object)
_FEW_ROWS = 64  # up to this many rows, the dominance tops are read as Python lists


@dataclass(frozen=True)
class SuppressedCell:
    row: int  # 0-based row index in the released table
    column: str  # output column name
    rule: str  # one of RULES


@dataclass(frozen=True)
class SdcReport:
    k: int
    rows: int
    cells: int  # aggregate cells checked
    suppressed_cells: int  # aggregate cells nulled, by any rule
    suppressed_rows: int  # rows with at least one suppressed cell (marked)
    suppressed: tuple[SuppressedCell, ...]  # every nulled cell, aggregates and keys, by row then column
    nulled_keys: int = 0  # group key cells nulled because their row was suppressed
    by_rule: Mapping[str, int] | None = None  # suppressed cells per rule code
    rules: Mapping[str, Any] | None = None  # the parameters applied (bundle values, never data)
    rounded_cells: int = 0  # released count cells rounded to `rules["rounding_base"]` (flag `rounded`)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data: counts, parameters and cell positions only."""
        # what `asdict` gave, built directly: its deep copies of every field cost more than the rest
        # of a call's report (the fields are ints, the cells three plain values, the maps replaced)
        return {
            "k": self.k,
            "rows": self.rows,
            "cells": self.cells,
            "suppressed_cells": self.suppressed_cells,
            "suppressed_rows": self.suppressed_rows,
            "suppressed": [{"row": c.row, "column": c.column, "rule": c.rule} for c in self.suppressed],
            "nulled_keys": self.nulled_keys,
            "by_rule": dict(self.by_rule or {}),
            "rules": dict(self.rules or {}),
            "rounded_cells": self.rounded_cells,
        }


def min_units(units: np.ndarray, group_units: np.ndarray, k: int) -> np.ndarray:
    """Cells to suppress: fewer than k units behind the cell, or behind its row's group.

    >>> min_units(np.array([5, 2, 9]), np.array([5, 9, 2]), 3).tolist()
    [False, True, True]
    """
    return (units < k) | (group_units < k)


def nk_dominated(
    total: np.ndarray, top1: np.ndarray, top2: np.ndarray, n: int, k_percent: float
) -> np.ndarray:
    """N-K rule: the n largest absolute contributions are more than k% of the absolute total.

    >>> nk_dominated(np.array([100.0, 100.0]), np.array([80.0, 50.0]), np.array([15.0, 20.0]), 2, 90).tolist()
    [True, False]
    """
    largest = top1 + (top2 if n >= 2 else 0.0)
    return (total > 0) & (largest > total * (k_percent / 100.0))


def p_dominated(total: np.ndarray, top1: np.ndarray, top2: np.ndarray, p_percent: float) -> np.ndarray:
    """p% rule: what is left after the two largest is less than p% of the largest.

    The second largest contributor knows its own amount: subtracting it from the total leaves the
    largest plus the rest, so the rest is its error in estimating the largest.

    >>> p_dominated(np.array([100.0, 100.0]), np.array([60.0, 50.0]), np.array([35.0, 20.0]), 10).tolist()
    [True, False]
    """
    rest = np.maximum(total - top1 - top2, 0.0)
    return (top1 > 0) & (rest < top1 * (p_percent / 100.0))


def apply(
    result: pa.Table,
    outputs: Sequence[OutputColumn],
    group_units_column: str,
    k: int,
    public_keys: Mapping[str, Collection[str]] | None = None,
    rules: SdcRules | None = None,
    differencing: np.ndarray | None = None,
) -> tuple[pa.Table, SdcReport]:
    """Release `result` under the SDC rules: the operator's columns, a `__flag` per column, `suppressed`.

    `differencing` marks rows the scenario's differencing guard refuses (None: no guard).

    >>> from policies.gate.plan import OutputColumn, OutputKind
    >>> t = pa.table({"d": ["A", "B", "C"], "n": [12, 2, 30], "__units": [12, 2, 30]})
    >>> out = [OutputColumn("d", OutputKind.group), OutputColumn("n", OutputKind.count)]
    >>> released, report = apply(t, out, "__units", k=10)
    >>> [(row["d"], row["n"]) for row in released.to_pylist()]
    [(None, None), (None, None), ('C', 30)]
    >>> [(c.row, c.column, c.rule) for c in report.suppressed if c.column == "n"]
    [(0, 'n', 'secondary'), (1, 'n', 'min_units')]
    >>> released.column("n__flag").to_pylist()
    ['secondary', 'min_units', None]
    """
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
        or SUPPRESSED in names
        or set(names) & set(map(flag_column, names))
    ):
        raise ValueError(f"result does not fit the plan's outputs (missing {missing}, names {names})")
    rows = result.num_rows
    if differencing is not None and len(differencing) != rows:
        raise ValueError("the differencing mask does not fit the result")
    keys = public_keys or {}
    counts: dict[str, np.ndarray] = {}  # each units column read once, however many cells it covers

    def units_of(column: str) -> np.ndarray:
        if column not in counts:
            counts[column] = _units(result, column)
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
            _mark(cell, zero, ZERO)
            _mark(cell, min_units(units, group_units, k), MIN_UNITS)
        else:  # a cell nobody contributes to holds nobody's data, once its group is large enough
            _mark(cell, (group_units < k) | (~zero & (units < k)), MIN_UNITS)
        if o.dominance_total and o.dominance_top:
            total, top1, top2 = _contributions(result, o.dominance_total, o.dominance_top)
            _mark(cell, nk_dominated(total, top1, top2, rules.nk_n, rules.nk_k), DOMINANCE_NK)
            _mark(cell, p_dominated(total, top1, top2, rules.p_percent), DOMINANCE_P)
    row_mask = group_units < k  # a row without aggregates is still withheld when its group is small
    for cell in fired.values():
        row_mask = row_mask | (cell != 0)
    if differencing is not None:
        guarded = np.asarray(differencing, dtype=bool) & ~row_mask
        if guarded.any():
            for cell in fired.values():
                _mark(cell, guarded, DIFFERENCING)
            row_mask = row_mask | guarded
    # Every flagged cell lies in a marked row, so with none marked (the usual released call) nothing
    # is masked, nulled or flagged: the secondary rule, the key check and the masks are skipped.
    any_marked = bool(row_mask.any())
    if any_marked:
        row_mask = row_mask | _complementary(row_mask, group_units, k)
        for cell in fired.values():
            _mark(cell, row_mask, SECONDARY)
    masks: dict[str, np.ndarray] = {name: cell != 0 for name, cell in fired.items()} if any_marked else {}
    for o in outputs:
        if o.kind == OutputKind.group:
            if not any_marked:
                fired[o.name] = np.zeros(rows, dtype=np.int8)
                continue
            public = _is_public(result.column(o.name), keys.get(o.name))
            masks[o.name] = row_mask & ~public
            fired[o.name] = np.where(masks[o.name], _CODES[KEY_NOT_PUBLIC], 0).astype(np.int8)
    fields = [pa.field(n, schema.field(n).type, nullable=True) for n in names]
    if any_marked:
        arrays = [_null_where(result.column(n), masks[n]) for n in names]
    else:
        arrays = [result.column(n) for n in names]
    flags = dict(fired)  # the same codes: a cell is flagged exactly where it is masked
    rounded = 0
    if rules.rounding_base and rules.rounding_base > 1:
        for position, o in enumerate(outputs):
            if o.kind in COUNT_KINDS:
                arrays[position], done = _rounded(arrays[position], rules.rounding_base, rules.rounding_rule)
                flags[o.name] = flags[o.name].copy()
                flags[o.name][done] = _CODES[ROUNDED]
                rounded += int(done.sum())
    none = pa.nulls(rows, pa.string()) if not any_marked else None
    flag_arrays = [
        none if none is not None and flags[n] is fired[n] else _flag_array(flags[n]) for n in names
    ]
    table = pa.Table.from_arrays(
        [*arrays, *flag_arrays, pa.array(row_mask, pa.bool_())],
        schema=pa.schema(
            [
                *fields,
                *(pa.field(flag_column(n), pa.string(), nullable=True) for n in names),
                pa.field(SUPPRESSED, pa.bool_(), nullable=False),
            ]
        ),
    )
    cells = (
        [
            SuppressedCell(int(row), name, _LABELS[fired[name][row]])
            for row in np.flatnonzero(row_mask)
            for name in names
            if masks[name][row]
        ]
        if any_marked
        else []
    )
    by_rule: dict[str, int] = {}
    for c in cells:
        by_rule[c.rule] = by_rule.get(c.rule, 0) + 1
    report = SdcReport(
        k=k,
        rows=rows,
        cells=rows * len(aggregates),
        suppressed_cells=sum(1 for c in cells if c.rule != KEY_NOT_PUBLIC),
        suppressed_rows=int(row_mask.sum()) if any_marked else 0,
        suppressed=tuple(cells),
        nulled_keys=by_rule.get(KEY_NOT_PUBLIC, 0),
        by_rule=by_rule,
        rules={"k": k, **_parameters(rules)},
        rounded_cells=rounded,
    )
    return table, report


def flag_column(name: str) -> str:
    """The status column of output `name` in a released SDC table.

    >>> flag_column("avg_income")
    'avg_income__flag'
    """
    return name + FLAG_SUFFIX


def marked_for_csv(table: pa.Table) -> pa.Table:
    """`table` as a CSV release writes it: a withheld cell reads `CSV_MARKER` instead of empty (a
    rounded one keeps its value); columns without a withheld cell, and tables without flags (dp),
    are unchanged.

    >>> t = pa.table({"n": [None, None, 30], "n__flag": ["min_units", None, "rounded"]})
    >>> marked_for_csv(t).column("n").to_pylist()
    ['[c]', None, '30']
    """
    columns = []
    for name in table.column_names:
        column = table.column(name)
        flag = flag_column(name)
        if flag in table.column_names:
            flags = table.column(flag)
            withheld = pc.fill_null(pc.and_(pc.is_valid(flags), pc.not_equal(flags, ROUNDED)), False)
            if pc.any(withheld).as_py():
                # a type with no text form stays as it is: empty, and its flag names the rule
                with contextlib.suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    column = pc.if_else(withheld, pa.scalar(CSV_MARKER), column.cast(pa.string()))
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def _mark(cell: np.ndarray, where: np.ndarray, rule: str) -> None:
    """Name `rule` (its code) for the cells in `where` that no earlier rule named."""
    cell[(cell == 0) & np.asarray(where, dtype=bool)] = _CODES[rule]


def _flag_array(codes: np.ndarray) -> pa.Array:
    """A flag column as strings from its codes: NULL for 0, else the flag's name."""
    if not codes.any():
        return pa.nulls(len(codes), pa.string())
    return pa.array(_LABEL_ARRAY[codes], pa.string())


def _parameters(rules: SdcRules) -> dict[str, Any]:
    """`asdict(rules)` without its deep copies when every field is a plain scalar (it is, today)."""
    values = {name: getattr(rules, name) for name in _field_names(type(rules))}
    if all(v is None or type(v) in (int, float, str, bool) for v in values.values()):
        return values
    return asdict(rules)


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    """A dataclass's field names, in order: `fields()` walks them anew on every call."""
    return tuple(f.name for f in dataclass_fields(cls))


def _complementary(row_mask: np.ndarray, group_units: np.ndarray, k: int) -> np.ndarray:
    """Rows to withhold as well, so the withheld rows are at least two and together reach k units.

    Rows with the fewest units go first (the least information lost); ties keep table order.

    >>> _complementary(np.array([True, False, False]), np.array([3, 40, 20]), 10).tolist()
    [False, False, True]
    """
    extra = np.zeros(len(row_mask), dtype=bool)
    if not row_mask.any() or row_mask.all():
        return extra
    withheld = int(row_mask.sum())
    covered = int(group_units[row_mask].sum())
    for row in np.argsort(np.where(row_mask, np.iinfo(np.int64).max, group_units), kind="stable"):
        if row_mask[row] or (withheld >= 2 and covered >= k):
            break
        extra[row] = True
        withheld += 1
        covered += int(group_units[row])
    return extra


def _contributions(result: pa.Table, total_column: str, top_column: str) -> tuple[np.ndarray, ...]:
    """Absolute total and the two largest absolute per-unit contributions, as floats (NULL: 0)."""
    totals = result.column(total_column)
    if totals.type == pa.float64() and totals.null_count == 0:
        total = np.asarray(totals.to_numpy(), float)  # the usual case: nothing to fill or cast
    else:  # a decimal SUM, say: cast (the cast keeps NULLs, so a table without any needs no fill)
        cast = totals.cast(pa.float64())
        total = np.asarray((pc.fill_null(cast, 0.0) if cast.null_count else cast).to_numpy(), float)
    column = result.column(top_column)
    # Many rows: slice the list column's values by its offsets. Few: Python lists cost less than the
    # fixed cost of the arrays (about 40 µs; they break even near 100 rows).
    if len(column) > _FEW_ROWS and pa.types.is_list(column.type) and column.type.value_type == pa.float64():
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


def _rounded(column: pa.ChunkedArray | pa.Array, base: int, rule: str) -> tuple[pa.Array, np.ndarray]:
    """Counts rounded to a multiple of `base` (nearest rounds halves up), and which cells were (every
    non-NULL one); NULL stays NULL."""
    values = column.to_pylist()
    out: list[int | None] = []
    for v in values:
        if v is None:
            out.append(None)
        elif rule == "up":
            out.append(math.ceil(v / base) * base)
        elif rule == "down":
            out.append(math.floor(v / base) * base)
        else:
            out.append(math.floor(v / base + 0.5) * base)
    return pa.array(out, type=column.type), np.array([v is not None for v in values], dtype=bool)


def _units(result: pa.Table, column: str) -> np.ndarray:
    """Unit counts as int64; a missing (NULL) count is treated as zero units, i.e. suppressed."""
    counts = result.column(column)
    if counts.type == pa.int64() and counts.null_count == 0:
        return np.asarray(counts.to_numpy(), dtype=np.int64)  # the usual case: nothing to fill or cast
    counts = pc.fill_null(counts.cast(pa.int64()), 0)
    return np.asarray(counts.to_numpy(), dtype=np.int64)


def _is_public(column: pa.ChunkedArray, public: Collection[str] | None) -> np.ndarray:
    """Which key values are declared public, compared as text ('3' is public key 3)."""
    if not public or len(column) == 0:
        return np.zeros(len(column), dtype=bool)
    try:
        text = column.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return np.zeros(len(column), dtype=bool)  # a key we cannot compare is not public
    found = pc.fill_null(pc.is_in(text, value_set=pa.array([str(v) for v in public], pa.string())), False)
    return np.asarray(found.to_numpy(), dtype=bool)


def _null_where(column: pa.ChunkedArray, mask: np.ndarray) -> pa.ChunkedArray | pa.Array:
    """`column` with the masked cells set to NULL, type unchanged."""
    if not mask.any():
        return column
    return pc.if_else(pa.array(mask, pa.bool_()), pa.scalar(None, type=column.type), column)
