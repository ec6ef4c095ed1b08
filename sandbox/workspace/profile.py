"""Facts about a dataset taken once, at registration, inside the domain.

`max_rows_per_unit` tells the gate whether COUNT(*) may stand in for a count of privacy units
(it may when every unit has one row) and bounds contributions for DP; `sample` feeds PII
classification and synthetic previews, and never leaves the domain itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from sandbox.workspace.views import quote_ident, quote_str


@dataclass(frozen=True)
class Profile:
    rows: int
    max_rows_per_unit: int  # rows of the most frequent privacy unit; NULL units count as one unit
    sample: pa.Table  # uniform random rows (all columns), at most sample_rows


def profile(
    parquet_path: Path,
    privacy_unit: str,
    sample_rows: int,
    seed: int = 0,
    memory_mb: int | None = None,
    temp_dir: Path | None = None,
) -> Profile:
    """Row count, the largest number of rows any one privacy unit has, and a reservoir sample.

    Reservoir sampling gives every row the same chance whatever the file's order; REPEATABLE with a
    seed makes the sample reproducible, so a re-run of classification sees the same rows.
    `memory_mb` caps DuckDB (the GROUP BY over units spills to `temp_dir`), so registering a table
    of any size needs bounded memory.
    """
    source = f"read_parquet({quote_str(str(parquet_path))})"
    unit = quote_ident(privacy_unit)
    with duckdb.connect(":memory:") as con:
        con.execute("SET python_enable_replacements = false")
        con.execute("SET enable_progress_bar = false")
        if memory_mb:
            con.execute(f"SET memory_limit = '{int(memory_mb)}MB'")
            con.execute("SET threads = 1")
        if temp_dir is not None:
            con.execute(f"SET temp_directory = {quote_str(str(temp_dir))}")
        rows = _scalar(con, f"SELECT COUNT(*) FROM {source}")
        max_rows = _scalar(
            con, f"SELECT COALESCE(MAX(n), 0) FROM (SELECT COUNT(*) AS n FROM {source} GROUP BY {unit})"
        )
        size = max(0, int(sample_rows))
        if size:
            query = f"SELECT * FROM {source} USING SAMPLE reservoir({size} ROWS) REPEATABLE ({int(seed)})"
        else:
            query = f"SELECT * FROM {source} LIMIT 0"
        sample = con.sql(query).to_arrow_table()
    return Profile(rows=rows, max_rows_per_unit=max_rows, sample=sample)


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    rows = con.execute(sql).fetchall()  # fetchall: DuckDB 2 keeps an unfinished result busy
    return int(rows[0][0]) if rows else 0
