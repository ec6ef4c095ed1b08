"""Benchmark: registration throughput from a CSV file and from a PostgreSQL table, against baselines
measured in the same run.

(a) CSV: a file of N rows from `sandbox.demo_data.residents`; registration (connector, typing over
    every value, staged Parquet, profile, PII scan of the sample, quality report, units map and
    ranks, encrypted vault file, sha256) in rows/s, and its ratio to DuckDB's own
    `COPY (SELECT * FROM read_csv(...)) TO '...parquet'` of the same file.
(b) PostgreSQL: a table of N rows generated server-side with `generate_series` (two rows per privacy
    unit, so the rank window runs; Chinese text, numeric, timestamptz); registration from the
    database (named cursor, batches) in rows/s and peak RSS, against `COPY (SELECT ...) TO STDOUT`
    streamed through pyarrow's CSV reader into a Parquet file. DuckDB's own PostgreSQL scan is not the
    baseline: its extension cannot be fetched from extensions.duckdb.org here, and the PyPI packages
    (`duckdb-ext-postgres`) stop at DuckDB 1.4.4 while the sandbox runs DuckDB 2.0. The table is
    dropped afterwards.

Each side runs in its own child process, so peak RSS (VmHWM, reset after start-up) is its own; the
registration children load the analyzer before the clock starts, as a running server has it.

    .venv/bin/python bench/ingest.py                  # 10 million rows
    .venv/bin/python bench/ingest.py --rows 200000
    .venv/bin/python bench/ingest.py --rows 200000 --skip-csv --pg-url postgresql://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from sandbox.demo_data import residents

CHUNK = 1_000_000


def _rss(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    return 0


def _chunks(rows: int) -> Any:
    for i, start in enumerate(range(0, rows, CHUNK)):
        yield residents(min(CHUNK, rows - start), seed=100 + i)


def write_csv(rows: int, path: Path) -> None:
    writer: pacsv.CSVWriter | None = None
    for table in _chunks(rows):
        writer = writer or pacsv.CSVWriter(str(path), table.schema)
        writer.write_table(table)
    if writer is not None:
        writer.close()


def make_pg_table(url: str, rows: int) -> str:
    """A table generated inside PostgreSQL: nothing of it crosses the wire before the measured reads."""
    name = f"bench_ingest_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            f"""
            CREATE UNLOGGED TABLE {name} AS SELECT
                g AS id,
                '440304' || lpad((g / 2)::text, 12, '0') AS resident_id,
                (ARRAY['张','王','李','赵','陈'])[1 + g % 5]
                    || (ARRAY['伟','芳','娜','敏','静','强'])[1 + g % 6] AS name,
                '13' || lpad(((g::bigint * 7919) % 1000000000)::text, 9, '0') AS phone,
                (ARRAY['福田区','罗湖区','南山区','宝安区','龙岗区','大鹏新区'])[1 + g % 6] AS district,
                18 + g % 73 AS age,
                ((g::bigint * 37) % 500000)::numeric(12, 2) AS income,
                CASE WHEN g % 2 = 0 THEN '男' ELSE '女' END AS sex,
                timestamptz '2024-01-01 00:00:00+08' + g * interval '1 second' AS updated_at
            FROM generate_series(1, {int(rows)}) AS g
            """
        )
        conn.execute(f"ANALYZE {name}")
    return name


class _CopyStream(io.RawIOBase):
    """`COPY ... TO STDOUT` blocks as a readable byte stream, for pyarrow's streaming CSV reader."""

    def __init__(self, blocks: Any) -> None:
        self._blocks = iter(blocks)
        self._left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._left:
            block = next(self._blocks, None)
            if block is None:
                return 0
            self._left = bytes(block)
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        return n


def _runtime(home: Path) -> tuple[Any, Any]:
    from sandbox.auth import Role, add_user
    from sandbox.runtime import Runtime
    from sandbox.settings import Settings

    rt = Runtime(Settings(home=home, workspace_backend="inprocess"))
    with rt.catalog.session() as s:
        user, _ = add_user(s, f"src-{uuid.uuid4().hex[:6]}", [Role.source_unit], "统计局")
        s.expunge(user)
    rt.analyzer()  # loaded before timing: a running server has it already
    return rt, user


def child(kind: str, arg: str, home: Path) -> dict[str, Any]:
    """One measured side, in this (child) process; prints seconds, rows and peak RSS growth."""
    if kind in ("csv-register", "pg-register"):
        rt, user = _runtime(home)
    Path("/proc/self/clear_refs").write_text("5")
    base = _rss("VmRSS:")
    t0 = time.perf_counter()
    if kind == "csv-register":
        from sandbox import datasets
        from sandbox.api.schemas import DatasetIn

        meta = DatasetIn(name=f"csv_{uuid.uuid4().hex[:6]}", privacy_unit="resident_id")
        rows = datasets.register(rt, user, meta, Path(arg)).rows
    elif kind == "pg-register":
        from sandbox.api.schemas import DatasetFromSourceIn
        from sandbox.sources import register_from_source

        url, table = arg.split("|", 1)
        meta = DatasetFromSourceIn.model_validate(
            {
                "name": f"pg_{uuid.uuid4().hex[:6]}",
                "privacy_unit": "resident_id",
                "connector": {"kind": "postgres", "url": url, "table": table},
            }
        )
        rows = register_from_source(rt, user, meta).rows
    elif kind == "csv-duckdb":
        out = home / "duck.parquet"
        with duckdb.connect() as con:
            con.execute(
                f"COPY (SELECT * FROM read_csv('{arg}')) TO '{out}' (FORMAT parquet, COMPRESSION zstd)"
            )
            rows = con.execute(f"SELECT COUNT(*) FROM read_parquet('{out}')").fetchone()[0]  # type: ignore[index]
    elif kind == "pg-copy":
        url, table = arg.split("|", 1)
        out = home / "copy.parquet"
        sql = f"COPY (SELECT * FROM {table}) TO STDOUT (FORMAT csv, HEADER)"
        rows = 0
        with psycopg.connect(url) as conn, conn.cursor().copy(sql) as copy:
            stream = pa.PythonFile(io.BufferedReader(_CopyStream(copy), 1 << 20), mode="r")
            reader = pacsv.open_csv(stream, read_options=pacsv.ReadOptions(block_size=1 << 22))
            with pq.ParquetWriter(out, reader.schema, compression="zstd") as writer:
                for batch in reader:
                    writer.write_batch(batch)
                    rows += batch.num_rows
    else:
        raise SystemExit(f"unknown child {kind}")
    seconds = time.perf_counter() - t0
    peak = _rss("VmHWM:")
    return {"seconds": seconds, "rows": int(rows), "peak": peak, "peak_growth": peak - base}


def run_child(kind: str, arg: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as home:
        done = subprocess.run(
            [sys.executable, __file__, "--child", kind, "--arg", arg, "--home", home],
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _line(label: str, r: dict[str, Any]) -> str:
    rate, peak, growth = r["rows"] / r["seconds"], r["peak"] / 2**20, r["peak_growth"] / 2**20
    return (
        f"  {label:<36} {r['seconds']:8.2f} s {rate:12,.0f} rows/s"
        f"   peak RSS {peak:7.1f} MiB (+{growth:6.1f} over start-up)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    ap.add_argument("--skip-csv", action="store_true")
    ap.add_argument("--skip-pg", action="store_true")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--arg", help=argparse.SUPPRESS)
    ap.add_argument("--home", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.arg, Path(args.home))))
        return

    print(f"rows: {args.rows:,}")
    with tempfile.TemporaryDirectory(prefix="bench-ingest-data-") as tmp:
        if not args.skip_csv:
            path = Path(tmp) / "residents.csv"
            t0 = time.perf_counter()
            write_csv(args.rows, path)
            size = path.stat().st_size / 2**20
            print(f"(a) CSV  {size:,.0f} MiB, generated in {time.perf_counter() - t0:.1f} s")
            duck = run_child("csv-duckdb", str(path))
            reg = run_child("csv-register", str(path))
            print(_line("DuckDB COPY read_csv -> Parquet", duck))
            print(_line("registration (incl. PII scan)", reg))
            print(f"  ratio registration / DuckDB time: {reg['seconds'] / duck['seconds']:.2f}x")
        if not args.skip_pg:
            t0 = time.perf_counter()
            table = make_pg_table(args.pg_url, args.rows)
            print(f"(b) PostgreSQL table {table}, loaded in {time.perf_counter() - t0:.1f} s")
            try:
                spec = f"{args.pg_url}|{table}"
                copy = run_child("pg-copy", spec)
                reg = run_child("pg-register", spec)
                print(_line("COPY TO STDOUT -> pyarrow -> Parquet", copy))
                print(_line("registration from the database", reg))
                print(f"  ratio registration / COPY time: {reg['seconds'] / copy['seconds']:.2f}x")
            finally:
                with psycopg.connect(args.pg_url, autocommit=True) as conn:
                    conn.execute(f"DROP TABLE IF EXISTS {table}")


if __name__ == "__main__":
    main()
