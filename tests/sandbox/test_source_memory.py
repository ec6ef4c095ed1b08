"""Reading a database source streams: peak memory is bounded by the batch, not by the table.

A 1.2M-row PostgreSQL table goes through the source half of registration (connector -> staged
Parquet in the vault's temp dir -> capped profile -> PII scan of the sample) in a child process. Its
peak RSS growth over a warmed-up baseline (analyzer loaded) must stay under a bound the table itself
exceeds: the rows as Arrow take ~190 MB, as Python tuples several times that.

Not covered: `sandbox.workspace.units.derive` (the reserved columns, run after this), whose DuckDB
sort currently needs memory that grows with the table.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

PG = "postgresql://postgres@127.0.0.1:5432/test"
ROWS = 1_200_000
BOUND_MB = 160

CHILD = """
import json, sys
from pathlib import Path
from policies.classify import classify
from sandbox.api.schemas import DatasetIn
from sandbox.datasets import _bounded
from sandbox.runtime import Runtime
from sandbox.settings import Settings
from sandbox.sources import ingest
from sandbox.workspace.profile import profile

def rss(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    raise RuntimeError(field)

home, table = sys.argv[1], sys.argv[2]
rt = Runtime(Settings(home=Path(home), source_batch_rows=16384, registration_memory_mb=64))
rt.analyzer()
Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
base = rss("VmRSS:")
spec = {"kind": "postgres", "url": "postgresql://postgres@127.0.0.1:5432/test", "table": table}
staged, _ = ingest(rt, spec, DatasetIn(name="big", privacy_unit="resident_id"))
prof = profile(staged, "resident_id", rt.settings.classify_sample_rows, **_bounded(rt))
classify(prof.sample, rt.analyzer(), privacy_unit="resident_id")
print(json.dumps({"base": base, "peak": rss("VmHWM:"), "rows": prof.rows}))
rt.close()
"""


@pytest.fixture
def big_table() -> Iterator[str]:
    name = f"big_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(
            f"CREATE UNLOGGED TABLE {name} AS SELECT g AS id, lpad(g::text, 18, '0') AS resident_id,"
            " (ARRAY['福田区','罗湖区','南山区','宝安区'])[1 + g % 4] AS district,"
            " (g % 100000)::numeric(12, 2) AS income, repeat(md5(g::text), 3) AS note"
            f" FROM generate_series(1, {ROWS}) g"
        )
    yield name
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {name}")


@pytest.mark.timeout(180)
def test_registration_memory_is_bounded_by_the_batch(tmp_path: Path, big_table: str) -> None:
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "home"), big_table],
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert child.returncode == 0, child.stderr[-2000:]
    got = json.loads(child.stdout.strip().splitlines()[-1])
    assert got["rows"] == ROWS
    growth_mb = (got["peak"] - got["base"]) / 2**20
    assert growth_mb < BOUND_MB, growth_mb
