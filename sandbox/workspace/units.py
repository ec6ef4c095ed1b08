"""Reserved columns, materialised once at registration: who each row belongs to, and its rank there.

Every vault file carries, after the dataset's own columns:

- `__unit`: an integer ordinal of the row's privacy unit, assigned once per dataset and kept across
  versions by a units map stored next to the versions (`units-v<n>.parquet`: unit text -> ordinal; a
  new version keeps every earlier ordinal and numbers new units after the largest). NULL where the unit
  is NULL, so NULL-unit rows count as no unit (the conservative reading for thresholds). Threshold
  companions count `COUNT(DISTINCT "__unit")`, far cheaper than distinct counts of a keyed hash, and the
  differencing guard keeps sets of these ordinals as bitmaps.
- `__rank`: the row's 1-based rank within its unit in a seeded pseudo-random order (all NULL-unit rows
  ranked together, as one unit). Bounding each unit's contribution to `c` rows is then the filter
  `"__rank" <= c`, not a window function per query; the order is random so the kept rows are not
  biased by the file's order.

Operators can never name either column: they are not columns of the dataset, so the gate refuses them
like any ungranted name, and registration refuses source columns whose names start with `__`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from sandbox.workspace.views import RESERVED, quote_ident, quote_str

UNIT, RANK = RESERVED
RESERVED_PREFIX = "__"


@dataclass(frozen=True)
class Derived:
    path: Path  # the data file with the reserved columns appended
    units_map: Path  # unit text -> ordinal, every unit this dataset has had up to this version
    units: int  # distinct non-NULL units in this version


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute("SET python_enable_replacements = false")
    con.execute("SET enable_progress_bar = false")
    con.execute("SET preserve_insertion_order = true")
    return con


def derive(
    staged: Path,
    out: Path,
    units_map_out: Path,
    privacy_unit: str,
    *,
    previous_map: Path | None = None,
    one_row_per_unit: bool = False,
    seed: int = 0,
) -> Derived:
    """Write `out` = `staged` + `__unit` + `__rank`, and the dataset's units map as of this version."""
    source = f"read_parquet({quote_str(str(staged))}, file_row_number = true)"
    unit = f"CAST({quote_ident(privacy_unit)} AS VARCHAR)"
    with _connect() as con:
        if previous_map is not None:
            con.execute(
                f"CREATE TABLE prev AS SELECT unit, ordinal FROM read_parquet({quote_str(str(previous_map))})"
            )
        else:
            con.execute("CREATE TABLE prev (unit VARCHAR, ordinal BIGINT)")
        con.execute(
            f"""
            CREATE TABLE units AS
            SELECT unit, ordinal FROM prev
            UNION ALL
            SELECT unit, (SELECT COALESCE(MAX(ordinal), -1) FROM prev) + row_number() OVER (ORDER BY unit)
            FROM (SELECT DISTINCT {unit} AS unit FROM {source} WHERE {quote_ident(privacy_unit)} IS NOT NULL)
            WHERE unit NOT IN (SELECT unit FROM prev)
            """
        )
        con.execute(f"COPY units TO {quote_str(str(units_map_out))} (FORMAT parquet, COMPRESSION zstd)")
        columns = ", ".join(
            f"s.{quote_ident(name)}"
            for name in con.sql(f"SELECT * FROM {source} LIMIT 0").columns
            if name != "file_row_number"
        )
        if one_row_per_unit:
            rank = "1"
        else:
            rank = (
                f"row_number() OVER (PARTITION BY s.{quote_ident(privacy_unit)} "
                f"ORDER BY hash(s.file_row_number + {int(seed)}), s.file_row_number)"
            )
        con.execute(
            f"""
            COPY (
                SELECT {columns}, u.ordinal AS {UNIT}, CAST({rank} AS BIGINT) AS {RANK}
                FROM {source} AS s LEFT JOIN units AS u
                    ON CAST(s.{quote_ident(privacy_unit)} AS VARCHAR) = u.unit
                ORDER BY s.file_row_number
            ) TO {quote_str(str(out))} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 1048576)
            """
        )
        counted = con.execute(
            f"SELECT COUNT(DISTINCT {unit}) FROM {source} WHERE {quote_ident(privacy_unit)} IS NOT NULL"
        ).fetchall()
    return Derived(out, units_map_out, int(counted[0][0]) if counted else 0)


def with_reserved(table: pa.Table, privacy_unit: str) -> pa.Table:
    """`table` with `__unit` (dense ordinals by unit text) and `__rank` (by row order), for fixtures.

    >>> t = with_reserved(pa.table({"pid": ["b", "a", "b", None]}), "pid")
    >>> t.column("__unit").to_pylist(), t.column("__rank").to_pylist()
    ([1, 0, 1, None], [1, 1, 2, 1])
    """
    with _connect() as con:
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
