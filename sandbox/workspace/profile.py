"""Facts about a dataset taken once, at registration, inside the domain.

`sample` feeds PII classification and synthetic previews, and never leaves the domain itself. (The
most rows any one privacy unit has, which the gate and DP truncation rely on, is counted where the
units are: `sandbox.workspace.units.derive`.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from sandbox.workspace.views import quote_str


@dataclass(frozen=True)
class Profile:
    rows: int
    sample: pa.Table  # uniform random rows (all columns), at most sample_rows


def profile(
    parquet_path: Path,
    sample_rows: int,
    seed: int = 0,
    memory_mb: int | None = None,
    temp_dir: Path | None = None,
) -> Profile:
    """Row count and a reservoir sample.

    Reservoir sampling gives every row the same chance whatever the file's order, in one streaming
    pass holding only `sample_rows` rows; REPEATABLE with a seed makes the sample reproducible, so a
    re-run of classification sees the same rows. `memory_mb` caps DuckDB (spilling to `temp_dir`).
    """
    source = f"read_parquet({quote_str(str(parquet_path))})"
    with duckdb.connect(":memory:") as con:
        con.execute("SET python_enable_replacements = false")
        con.execute("SET enable_progress_bar = false")
        if memory_mb:
            con.execute(f"SET memory_limit = '{int(memory_mb)}MB'")
            con.execute("SET threads = 1")
        if temp_dir is not None:
            con.execute(f"SET temp_directory = {quote_str(str(temp_dir))}")
        rows = _scalar(con, f"SELECT COUNT(*) FROM {source}")
        size = max(0, int(sample_rows))
        if size:
            query = f"SELECT * FROM {source} USING SAMPLE reservoir({size} ROWS) REPEATABLE ({int(seed)})"
        else:
            query = f"SELECT * FROM {source} LIMIT 0"
        sample = con.sql(query).to_arrow_table()
    return Profile(rows=rows, sample=sample)


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    rows = con.execute(sql).fetchall()  # fetchall: DuckDB 2 keeps an unfinished result busy
    return int(rows[0][0]) if rows else 0
