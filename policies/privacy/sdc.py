"""Statistical disclosure control for exact tables: the minimum-units threshold rule.

Why the rule is what it is
--------------------------
An aggregate cell computed from the data of very few people tells about those people: a SUM over
one person's rows is that person's amount; over two, either of them learns the other's by
subtraction; in general anyone who knows k-2 contributions narrows the rest to one other person.
A cell is therefore released only if it covers at least `k` distinct privacy units (the person or
enterprise whose data a row is). Units, not rows: one person with many rows must not pass as many.

- Each aggregate cell has its own unit count (`OutputColumn.units_column`, e.g. the units with a
  non-null income behind SUM(income)); without one, the row's group count stands in.
- If the row's group has fewer than k units (`group_units_column`), every aggregate cell of the
  row is suppressed: no cell can cover more units than its group.
- A suppressed cell becomes NULL and its row is marked `suppressed`; rows are never dropped, so the
  reviewer and the operator see that something was withheld rather than a table that looks whole.
- The group keys of a marked row are nulled too unless the value is a declared public key (the
  published list of districts, say): that a rare key value exists at all can identify someone.

The companion `__units*` columns exist only to apply this rule and never leave. The report says
which cells were withheld and by which rule, never their values or their unit counts.

Not here yet: dominance (p% and N-K), secondary suppression where totals would reveal a cell,
rounding. Each will be another rule beside `min_units`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from policies.gate.plan import OutputColumn, OutputKind

SUPPRESSED = "suppressed"  # the boolean column appended to every released table
MIN_UNITS = "min_units"  # an aggregate cell covering fewer than k privacy units
KEY_NOT_PUBLIC = "key_not_public"  # a group key of a suppressed row that is not a declared public key


@dataclass(frozen=True)
class SuppressedCell:
    row: int  # 0-based row index in the released table
    column: str  # output column name
    rule: str  # MIN_UNITS or KEY_NOT_PUBLIC


@dataclass(frozen=True)
class SdcReport:
    k: int
    rows: int
    cells: int  # aggregate cells checked
    suppressed_cells: int  # aggregate cells nulled
    suppressed_rows: int  # rows with at least one suppressed cell (marked)
    suppressed: tuple[SuppressedCell, ...]  # every nulled cell, aggregates and keys, by row then column
    nulled_keys: int = 0  # group key cells nulled because their row was suppressed

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data: counts and cell positions only."""
        return {**asdict(self), "suppressed": [asdict(cell) for cell in self.suppressed]}


def min_units(units: np.ndarray, group_units: np.ndarray, k: int) -> np.ndarray:
    """Cells to suppress: fewer than k units behind the cell, or behind its row's group.

    >>> min_units(np.array([5, 2, 9]), np.array([5, 9, 2]), 3).tolist()
    [False, True, True]
    """
    return (units < k) | (group_units < k)


def apply(
    result: pa.Table,
    outputs: Sequence[OutputColumn],
    group_units_column: str,
    k: int,
    public_keys: Mapping[str, Collection[str]] | None = None,
) -> tuple[pa.Table, SdcReport]:
    """Release `result` under the minimum-units rule: the operator's columns, then `suppressed`.

    >>> from policies.gate.plan import OutputColumn, OutputKind
    >>> t = pa.table({"d": ["A", "B"], "n": [12, 2], "__units": [12, 2]})
    >>> out = [OutputColumn("d", OutputKind.group), OutputColumn("n", OutputKind.count)]
    >>> released, report = apply(t, out, "__units", k=10)
    >>> released.to_pylist()
    [{'d': 'A', 'n': 12, 'suppressed': False}, {'d': None, 'n': None, 'suppressed': True}]
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    names = [o.name for o in outputs]
    needed = [*names, group_units_column, *(o.units_column for o in outputs if o.units_column)]
    missing = sorted({c for c in needed if c not in result.column_names})
    if missing or len(set(names)) != len(names) or SUPPRESSED in names:
        raise ValueError(f"result does not fit the plan's outputs (missing {missing}, names {names})")
    keys = public_keys or {}
    group_units = _units(result, group_units_column)
    masks: dict[str, np.ndarray] = {}
    for o in outputs:
        if o.kind != OutputKind.group:
            units = _units(result, o.units_column) if o.units_column else group_units
            masks[o.name] = min_units(units, group_units, k)
    row_mask = group_units < k  # a row without aggregates is still withheld when its group is small
    for mask in masks.values():
        row_mask = row_mask | mask
    rules: dict[str, str] = {}
    for o in outputs:
        if o.kind == OutputKind.group:
            masks[o.name] = row_mask & ~_is_public(result.column(o.name), keys.get(o.name))
            rules[o.name] = KEY_NOT_PUBLIC
        else:
            rules[o.name] = MIN_UNITS
    fields = [pa.field(n, result.schema.field(n).type, nullable=True) for n in names]
    arrays = [_null_where(result.column(n), masks[n]) for n in names]
    table = pa.Table.from_arrays(
        [*arrays, pa.array(row_mask, pa.bool_())],
        schema=pa.schema([*fields, pa.field(SUPPRESSED, pa.bool_(), nullable=False)]),
    )
    cells = [
        SuppressedCell(int(row), name, rules[name])
        for row in np.flatnonzero(row_mask)
        for name in names
        if masks[name][row]
    ]
    aggregate_names = [o.name for o in outputs if o.kind != OutputKind.group]
    report = SdcReport(
        k=k,
        rows=result.num_rows,
        cells=result.num_rows * len(aggregate_names),
        suppressed_cells=int(sum(int(masks[n].sum()) for n in aggregate_names)),
        suppressed_rows=int(row_mask.sum()),
        suppressed=tuple(cells),
        nulled_keys=sum(1 for c in cells if c.rule == KEY_NOT_PUBLIC),
    )
    return table, report


def _units(result: pa.Table, column: str) -> np.ndarray:
    """Unit counts as int64; a missing (NULL) count is treated as zero units, i.e. suppressed."""
    counts = pc.fill_null(result.column(column).cast(pa.int64()), 0)
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
