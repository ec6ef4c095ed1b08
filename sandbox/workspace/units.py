"""Reserved columns, materialised once at registration: who each row belongs to, and its rank there.

Every vault file carries, after the dataset's own columns:

- `__unit`: an integer ordinal of the row's privacy unit, assigned once per dataset and kept across
  versions by a units map stored next to the versions (`units.parquet`: unit text -> ordinal; a new
  version keeps every earlier ordinal and numbers new units after the largest, in unit-text order).
  NULL where the unit is NULL, so NULL-unit rows count as no unit (the conservative reading for
  thresholds). Threshold companions count `COUNT(DISTINCT "__unit")`, far cheaper than distinct counts
  of a keyed hash, and the differencing guard keeps sets of these ordinals as bitmaps.
- `__rank`: the row's 1-based rank within its unit (all NULL-unit rows ranked together, as one unit),
  in an order drawn afresh for each version: rows sort by `hash(row position + K)` with `K` a random
  62-bit key that is never stored (the ranks are materialised, so the version keeps its order without
  it). Bounding each unit's contribution to `c` rows is then the filter `"__rank" <= c`, not a window
  per query; neither the source unit (who orders the file) nor an operator can choose or predict which
  rows are kept. DuckDB's `hash` is a 64-bit mixing bijection, not a cryptographic PRF: the order is
  as unpredictable as `K` is secret, and a unit's rows never tie.

Operators can never name either column: they are not columns of the dataset, so the gate refuses them
like any ungranted name, and registration refuses source columns whose names start with `__`.

Memory is bounded, whatever the table's size (`derive`): DuckDB works in a scratch database file with a
fixed `memory_limit` and spills to `temp_dir` beyond it (the per-unit counts, the units map, the rank
window, the join to the map and the sort back into file order are all out-of-core operators), and
writes only the narrow `(__unit, __rank)` columns, in the staged file's row order. `batches` then
zips the staged file and that narrow file batch by batch. What grows with the data is disk, not memory:
the units map and the scratch database grow with the distinct units, the narrow file with the rows.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from sandbox.workspace.views import RESERVED, quote_ident, quote_str

UNIT, RANK = RESERVED
RESERVED_PREFIX = "__"
BATCH_ROWS = 65_536


@dataclass(frozen=True)
class Derived:
    staged: Path  # the dataset's own columns, as read from the source
    ranks: Path  # `__unit`, `__rank`, one row per staged row, in the same order
    units_map: Path  # unit text -> ordinal, every unit this dataset has had up to this version
    units: int  # distinct non-NULL units in this version
    max_rows_per_unit: int  # rows of the largest unit (NULL-unit rows count as one unit)

    @property
    def schema(self) -> pa.Schema:
        own = pq.read_schema(self.staged)
        return own.append(pa.field(UNIT, pa.int64())).append(pa.field(RANK, pa.int64()))

    def batches(self, batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """The staged rows with `__unit` and `__rank` appended, `batch_rows` at a time.

        Files are opened without pre-buffering: pyarrow's default reads every row group's column
        chunks ahead, which holds the whole compressed file in memory.
        """
        schema = self.schema
        own = pq.ParquetFile(self.staged, pre_buffer=False)
        reserved = pq.ParquetFile(self.ranks, pre_buffer=False).iter_batches(batch_size=batch_rows)
        carry = pa.record_batch([pa.array([], pa.int64())] * 2, names=[UNIT, RANK])
        for batch in own.iter_batches(batch_size=batch_rows):
            parts = []
            while (need := batch.num_rows - sum(p.num_rows for p in parts)) > 0:
                if carry.num_rows == 0:
                    carry = next(reserved)
                parts.append(carry.slice(0, need))
                carry = carry.slice(parts[-1].num_rows)
            extra = pa.Table.from_batches(parts, schema=carry.schema).combine_chunks()
            columns = [*batch.columns, *(column.combine_chunks() for column in extra.columns)]
            yield pa.RecordBatch.from_arrays(columns, schema=schema)
        if carry.num_rows or next(reserved, None) is not None:
            raise RuntimeError("the ranks file does not match the staged file's rows")


def _connect(database: str, memory_mb: int | None, temp_dir: Path | None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(database)
    con.execute("SET python_enable_replacements = false")
    con.execute("SET enable_progress_bar = false")
    con.execute("SET preserve_insertion_order = true")
    if memory_mb:
        con.execute(f"SET memory_limit = '{int(memory_mb)}MB'")
        con.execute("SET threads = 2")
    if temp_dir is not None:
        con.execute(f"SET temp_directory = {quote_str(str(temp_dir))}")
    return con


def derive(
    staged: Path,
    ranks_out: Path,
    units_map_out: Path,
    privacy_unit: str,
    *,
    previous_map: Path | None = None,
    key: int | None = None,
    memory_mb: int | None = 256,
    temp_dir: Path | None = None,
) -> Derived:
    """Write the units map as of this version and the `(__unit, __rank)` columns of `staged`.

    `key` fixes the rank order (tests); by default each call draws a fresh one. The scratch database
    lives in `temp_dir` (default: beside `ranks_out`) and is removed afterwards.
    """
    scratch_dir = temp_dir or ranks_out.parent
    scratch = scratch_dir / f"derive-{uuid.uuid4().hex}.duckdb"
    source = f"read_parquet({quote_str(str(staged))}, file_row_number = true)"
    unit = f"CAST({quote_ident(privacy_unit)} AS VARCHAR)"
    k = secrets.randbits(62) if key is None else int(key) % (1 << 62)
    try:
        with _connect(str(scratch), memory_mb, scratch_dir) as con:
            con.execute(
                f"CREATE TABLE here AS SELECT {unit} AS unit, COUNT(*) AS n FROM {source} GROUP BY ALL"
            )
            if previous_map is not None:
                prev = f"read_parquet({quote_str(str(previous_map))})"
            else:
                con.execute("CREATE TABLE prev (unit VARCHAR, ordinal BIGINT)")
                prev = "prev"
            con.execute(
                f"""
                CREATE TABLE units AS
                SELECT unit, ordinal FROM {prev}
                UNION ALL
                SELECT unit, (SELECT COALESCE(MAX(ordinal), -1) FROM {prev})
                    + row_number() OVER (ORDER BY unit)
                FROM here WHERE unit IS NOT NULL AND unit NOT IN (SELECT unit FROM {prev})
                """
            )
            con.execute(f"COPY units TO {quote_str(str(units_map_out))} (FORMAT parquet, COMPRESSION zstd)")
            units, max_rows = con.execute("SELECT COUNT(unit), COALESCE(MAX(n), 0) FROM here").fetchall()[0]
            if max_rows <= 1:
                rank, window = "1", ""
            else:
                rank = "s.rank"
                window = (
                    f", row_number() OVER (PARTITION BY {unit} "
                    f"ORDER BY hash(file_row_number + {k}), file_row_number) AS rank"
                )
            # Join, then sort, in two statements: as one (join feeding an ORDER BY) DuckDB ran out of
            # its memory limit instead of spilling at 10 million distinct units and 256 MB.
            con.execute(
                f"""
                CREATE TABLE ranked AS
                SELECT s.r, u.ordinal AS {UNIT}, CAST({rank} AS BIGINT) AS {RANK}
                FROM (SELECT file_row_number AS r, {unit} AS unit{window} FROM {source}) AS s
                LEFT JOIN units AS u ON s.unit = u.unit
                """
            )
            con.execute(
                f"COPY (SELECT {UNIT}, {RANK} FROM ranked ORDER BY r) "
                f"TO {quote_str(str(ranks_out))} (FORMAT parquet, COMPRESSION zstd)"
            )
    finally:
        scratch.unlink(missing_ok=True)
        scratch.with_name(scratch.name + ".wal").unlink(missing_ok=True)
    return Derived(staged, ranks_out, units_map_out, int(units), int(max_rows))


def write(derived: Derived, out: Path) -> Path:
    """`derived`'s rows as one plain Parquet file (fixtures and tests; the vault writes its own)."""
    with pq.ParquetWriter(out, derived.schema, compression="zstd") as w:
        for batch in derived.batches():
            w.write_batch(batch)
    return out


def with_reserved(table: pa.Table, privacy_unit: str) -> pa.Table:
    """`table` with `__unit` (dense ordinals by unit text) and `__rank` (by row order), for fixtures.

    >>> t = with_reserved(pa.table({"pid": ["b", "a", "b", None]}), "pid")
    >>> t.column("__unit").to_pylist(), t.column("__rank").to_pylist()
    ([1, 0, 1, None], [1, 1, 2, 1])
    """
    with _connect(":memory:", None, None) as con:
        con.register("t", table)
        unit = quote_ident(privacy_unit)
        return con.sql(
            f"""
            SELECT * EXCLUDE (__row),
                   CASE WHEN {unit} IS NOT NULL THEN CAST(
                       dense_rank() OVER (ORDER BY CAST({unit} AS VARCHAR) NULLS LAST) - 1 AS BIGINT) END
                       AS {UNIT},
                   CAST(row_number() OVER (PARTITION BY {unit} ORDER BY __row) AS BIGINT) AS {RANK}
            FROM (SELECT *, row_number() OVER () AS __row FROM t)
            ORDER BY __row
            """
        ).to_arrow_table()
