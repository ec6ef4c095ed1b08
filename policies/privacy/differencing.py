"""The differencing guard: no two released cells of a scenario may differ by fewer than k units.

Every cell passes the threshold on its own, yet two exact tables from overlapping queries can isolate
a person by subtraction: the income total of everyone, then of everyone but one resident, differ by
exactly that resident's income. So the set of privacy units behind every released row is kept
(inside the domain, as a compressed bitmap of `__unit` ordinals, the reserved per-dataset integer
of each unit), and a new row whose unit set differs from an already released row's of the same
dataset by more than zero but fewer than k units is withheld (`differencing`).

The difference is the symmetric one, |A - B| + |B - A|: a subset (the total minus one person), a
superset (the group plus one) and a swap (one out, one in: two units of difference) are all caught.
Equal sets are not a difference: the same units give nothing new by subtraction.

Limits, stated: pairs only (a cell is not compared to unions of several released cells, which the
table-level secondary suppression of `sdc` addresses for totals of grouped tables); the set is the
row's group (the units behind `__units`), not each aggregate's own subset; jobs checked at the same
moment do not see each other (each compares with rows released or pending review when it is checked).

>>> from pyroaring import BitMap
>>> everyone, all_but_one = BitMap(range(100)), BitMap(range(1, 100))
>>> guard([all_but_one, everyone], {"ds": [everyone]}, ["ds", "ds"], k=10).tolist()
[True, False]
"""

from __future__ import annotations

import itertools
from array import array as uint_array
from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyroaring import BitMap

UNIT_SET_PREFIX = "__unitset:"  # companion column "__unitset:<table>": LIST(DISTINCT "__unit") per row


def unit_sets(column: pa.ChunkedArray | pa.Array) -> list[BitMap]:
    """One bitmap per row of a list<integer> column of unit ordinals (NULL list or NULL unit: none).

    >>> [list(b) for b in unit_sets(pa.array([[3, 1], None, [], [None, 2]]))]
    [[1, 3], [], [], [2]]
    """
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    child = array.values
    offsets = np.asarray(array.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
    if pa.types.is_integer(child.type) and child.null_count == 0 and array.null_count == 0:
        # the usual case: no mask to build or apply, and each row a slice of one array
        values = np.asarray(child.to_numpy(zero_copy_only=False), dtype=np.int64)
        if values.size and int(values.max()) >= 2**32:
            raise ValueError("unit ordinals above 2**32 - 1")
        members = values.astype(np.uint32)  # once for all rows (as each row's slice would be)
        return [
            _bitmap(members[start:end]) if start != end else BitMap()
            for start, end in itertools.pairwise(offsets.tolist())
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
        sets.append(_bitmap(values[start:end][valid[start:end]].astype(np.uint32)))
    return sets


def _bitmap(members: np.ndarray) -> BitMap:
    """A bitmap of uint32 `members`, sorted first: LIST(DISTINCT) comes in hash order, and pyroaring
    adds sorted values several times faster (the same set, so the same serialized bitmap), from a
    buffer (its fast path)."""
    return BitMap(uint_array("I", np.sort(members).tobytes()))


def guard(
    rows: Sequence[BitMap], released: Mapping[str, Sequence[BitMap]], datasets: Sequence[str], k: int
) -> np.ndarray:
    """Rows whose unit set differs from a released set of the same dataset by 1 to k-1 units.

    `datasets[i]` names the dataset whose units `rows[i]` holds (a join gives one set per table: pass
    each table's sets as their own rows and combine the masks).
    """
    out = np.zeros(len(rows), dtype=bool)
    sizes = {d: [len(b) for b in released.get(d, ())] for d in set(datasets)}  # once, not per row
    for i, (units, dataset) in enumerate(zip(rows, datasets, strict=True)):
        size = len(units)
        for earlier, length in zip(released.get(dataset, ()), sizes.get(dataset, ()), strict=False):
            if abs(size - length) >= k:
                continue  # cheap bound: the difference is at least the gap in sizes
            difference = units.symmetric_difference_cardinality(earlier)
            if 0 < difference < k:
                out[i] = True
                break
    return out


def guard_result(
    result: pa.Table,
    unit_columns: Sequence[tuple[str, str]],
    released: Mapping[str, Sequence[BitMap]],
    k: int,
) -> tuple[dict[str, list[BitMap]], np.ndarray]:
    """Each contributing table's unit set per row of `result`, and the rows `guard` withholds.

    `unit_columns` pairs each dataset with its unit-set column; a table without one in the result (a
    reference table: its rows are nobody's) contributes no sets.
    """
    present = set(result.schema.names)
    sets = {dataset: unit_sets(result.column(name)) for dataset, name in unit_columns if name in present}
    guarded = np.zeros(result.num_rows, dtype=bool)
    for dataset, rows in sets.items():
        guarded |= guard(rows, released, [dataset] * len(rows), k)
    return sets, guarded
