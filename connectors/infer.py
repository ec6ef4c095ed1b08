"""Give text columns types, looking at every value, so a dataset has one stable schema.

Engines infer from the first block, so a column typed int64 by row 1,000 breaks at row 90,000, and
`00123` becomes 123. Here every value of a text source is read as a string first; then each column
takes the narrowest type that all its non-null values convert to, tried in order: int64, float64,
date32 (YYYY-MM-DD), timestamp (ISO 8601, naive, or UTC when every value has an offset),
bool (true/false), else string.

Identifier-looking columns stay strings whatever they parse as: a value with a leading zero
(`007`, a district code) or an all-digit value of 11+ digits (phone numbers, 18-digit resident IDs,
bank cards). Arithmetic on those is meaningless, and int64 would drop the zeros.

>>> import pyarrow as pa
>>> infer_column(pa.chunked_array([["13800138000", "2"]])).type
DataType(string)
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc

BATCH_ROWS = 65_536
_SAMPLE_ROWS = 4_096

_IDENTIFIER = r"^(0[0-9]+|[0-9]{11,})$"
_CANDIDATES: tuple[pa.DataType, ...] = (
    pa.int64(),
    pa.float64(),
    pa.date32(),
    pa.timestamp("us"),
    pa.timestamp("us", tz="UTC"),
)


def infer_column(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """`values` (strings, nulls for empty cells) cast to the narrowest type that fits them all."""
    if values.null_count == len(values):
        return values
    if pc.any(pc.match_substring_regex(values, _IDENTIFIER)).as_py():
        return values
    for candidate in _CANDIDATES:
        cast = _try_cast(values, candidate)
        if cast is not None:
            return cast
    lowered = pc.utf8_lower(values)
    if pc.all(pc.is_in(lowered.drop_null(), pa.array(["true", "false"]))).as_py():
        return pc.equal(lowered, "true")
    return values


def _try_cast(values: pa.ChunkedArray, type_: pa.DataType) -> pa.ChunkedArray | None:
    """The cast, or None. A failing cast costs a whole chunk, so a sample goes first."""
    # The engine's message quotes the failing value; it is dropped here and never re-raised.
    try:
        pc.cast(values.slice(0, _SAMPLE_ROWS), type_)
        return pc.cast(values, type_)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


class Inference:
    """The same decision as `infer_column`, narrowed batch by batch, so a text file of any size is
    typed in one streaming pass (and cast in a second) instead of being held whole.

    >>> inf = Inference(["a"])
    >>> inf.update(pa.record_batch([pa.array(["1", None])], names=["a"]))
    >>> inf.update(pa.record_batch([pa.array(["2.5"])], names=["a"]))
    >>> inf.cast(pa.record_batch([pa.array(["3"])], names=["a"])).column(0).to_pylist()
    [3.0]
    """

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self._seen = [False] * len(names)  # any non-null value
        self._identifier = [False] * len(names)
        self._viable = [list(_CANDIDATES) for _ in names]
        self._boolean = [True] * len(names)

    def update(self, batch: pa.RecordBatch) -> None:
        for i, values in enumerate(batch.columns):
            if values.null_count == len(values) or self._identifier[i]:
                continue
            self._seen[i] = True
            if pc.any(pc.match_substring_regex(values, _IDENTIFIER)).as_py():
                self._identifier[i] = True
                continue
            self._viable[i] = [t for t in self._viable[i] if _castable(values, t)]
            if self._boolean[i]:
                lowered = pc.utf8_lower(values).drop_null()
                self._boolean[i] = bool(pc.all(pc.is_in(lowered, pa.array(["true", "false"]))).as_py())

    def types(self) -> list[pa.DataType]:
        out = []
        for i in range(len(self.names)):
            if not self._seen[i] or self._identifier[i]:
                out.append(pa.string())
            elif self._viable[i]:
                out.append(self._viable[i][0])
            else:
                out.append(pa.bool_() if self._boolean[i] else pa.string())
        return out

    def schema(self) -> pa.Schema:
        return pa.schema(list(zip(self.names, self.types(), strict=True)))

    def cast(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        columns = []
        for values, type_ in zip(batch.columns, self.types(), strict=True):
            if pa.types.is_string(type_):
                columns.append(values)
            elif pa.types.is_boolean(type_):
                columns.append(pc.equal(pc.utf8_lower(values), "true"))
            else:
                columns.append(pc.cast(values, type_))
        return pa.RecordBatch.from_arrays(columns, schema=self.schema())


def _castable(values: pa.Array, type_: pa.DataType) -> bool:
    try:  # the engine's message quotes the failing value; it is dropped here
        pc.cast(values, type_)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def infer_table(table: pa.Table) -> pa.Table:
    """Every column of an all-string table given its inferred type."""
    return pa.table([infer_column(column) for column in table.columns], names=table.column_names)


def reader(table: pa.Table) -> pa.RecordBatchReader:
    """Stream `table` in batches of BATCH_ROWS rows, whatever chunks the parser produced."""
    return pa.RecordBatchReader.from_batches(table.schema, _batches(table))


def _batches(table: pa.Table) -> Iterator[pa.RecordBatch]:
    for offset in range(0, table.num_rows, BATCH_ROWS):
        yield from table.slice(offset, BATCH_ROWS).combine_chunks().to_batches()
