"""Registering from a database streams: peak memory is bounded by the batch, not by the table.

A PostgreSQL table goes through the whole of registration (connector -> staged Parquet in the
vault's temp dir -> capped profile -> PII scan of the sample -> quality report -> units map and
ranks in a spilling DuckDB -> encrypted vault file -> sha256 -> catalog) in a child process, once
for its first 400k rows and once for all 1.2M. Peak RSS (VmHWM, reset after a warmed-up start: the
analyzer loaded) is measured over each. Both stay under a fixed ceiling, and the second grows by
much less than the 800k extra rows take even as Arrow (~130 MB; as Python tuples several times
that): what grows with the table is on disk (staged file, ranks, units map, spill files).
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
ROWS, SMALL = 1_200_000, 400_000
CEILING_MB = 320  # growth over the warmed-up start, for any size
EXTRA_ROWS_MB = 40  # growth the extra 800k rows may add (they are ~130 MB as Arrow)

CHILD = """
import json, sys
from pathlib import Path
from sandbox.api.schemas import DatasetFromSourceIn
from sandbox.auth import Role, add_user
from sandbox.runtime import Runtime
from sandbox.settings import Settings
from sandbox.sources import register_from_source

def rss(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    raise RuntimeError(field)

home, query = sys.argv[1], sys.argv[2]
rt = Runtime(Settings(home=Path(home), source_batch_rows=16384, registration_memory_mb=64))
with rt.catalog.session() as s:
    user, _ = add_user(s, "src", [Role.source_unit], "统计局")
    s.expunge(user)
rt.analyzer()
Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
base = rss("VmRSS:")
meta = DatasetFromSourceIn.model_validate({
    "name": "big",
    "privacy_unit": "resident_id",
    "connector": {"kind": "postgres", "url": "postgresql://postgres@127.0.0.1:5432/test", "query": query},
})
out = register_from_source(rt, user, meta)
print(json.dumps({"base": base, "peak": rss("VmHWM:"), "rows": out.rows, "max": out.max_rows_per_unit}))
rt.close()
"""


@pytest.fixture
def big_table() -> Iterator[str]:
    name = f"big_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(
            f"CREATE UNLOGGED TABLE {name} AS SELECT g AS id, lpad((g / 2)::text, 18, '0') AS resident_id,"
            " (ARRAY['福田区','罗湖区','南山区','宝安区'])[1 + g % 4] AS district,"
            " (g % 100000)::numeric(12, 2) AS income, repeat(md5(g::text), 3) AS note"
            f" FROM generate_series(1, {ROWS}) g"
        )
    yield name
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {name}")


def _register(home: Path, query: str) -> dict[str, int]:
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(home), query],
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert child.returncode == 0, child.stderr[-2000:]
    got: dict[str, int] = json.loads(child.stdout.strip().splitlines()[-1])
    return got


@pytest.mark.timeout(360)
def test_registration_memory_is_bounded_by_the_batch(tmp_path: Path, big_table: str) -> None:
    small = _register(tmp_path / "small", f"SELECT * FROM {big_table} WHERE id <= {SMALL}")
    big = _register(tmp_path / "big", f"SELECT * FROM {big_table}")
    assert (small["rows"], big["rows"]) == (SMALL, ROWS)
    assert big["max"] == 2  # two rows per unit: the rank window ran
    growth = {k: (r["peak"] - r["base"]) / 2**20 for k, r in (("small", small), ("big", big))}
    assert max(growth.values()) < CEILING_MB, growth
    assert growth["big"] - growth["small"] < EXTRA_ROWS_MB, growth
