"""Benchmark: a grouped aggregate `sdc` job against the same query in raw DuckDB, in one run.

Prints the workspace time and the end-to-end time (POST /v1/jobs until the job is observed in
`pending_review`, over real HTTP) next to raw DuckDB on the same Parquet file with the same thread
count, as ratios. Targets (issue 3): workspace <= 1.10x raw; end-to-end <= raw + 300 ms.

    .venv/bin/python bench/job.py                 # 10 million rows (generated once, cached in bench/.data)
    .venv/bin/python bench/job.py --rows 1000000 --repeat 5
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import duckdb
import httpx
import pyarrow.parquet as pq

from sandbox import datasets, scenarios
from sandbox.api.schemas import ColumnChange, ColumnsIn, DatasetIn, DecisionIn, ScenarioIn
from sandbox.auth import Role, add_user
from sandbox.demo_data import residents
from sandbox.runtime import Runtime
from sandbox.server import BackgroundServer
from sandbox.settings import Settings

JOB = "SELECT district, COUNT(*) AS n, AVG(income) AS avg_income FROM residents GROUP BY district"
DATA = Path(__file__).resolve().parent / ".data"


def dataset(rows: int) -> Path:
    path = DATA / f"residents-{rows}.parquet"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        pq.write_table(residents(rows), path, row_group_size=1 << 20, compression="zstd")
        print(f"generated {rows:,} rows in {time.perf_counter() - t0:.1f} s -> {path}")
    return path


def raw_duckdb(path: Path, threads: int, repeat: int, key: bytes | None = None) -> float:
    """The same query straight on the vault file (decrypting it too when it is encrypted at rest)."""
    from sandbox import vault_crypto

    times = []
    for _ in range(repeat):
        con = duckdb.connect()
        con.execute(f"SET threads={threads}")
        source = f"read_parquet('{path}')"
        if key:  # decrypted by pyarrow as the workspace does (sandbox/vault_crypto.py)
            source = vault_crypto.relation_name(path)
            con.register(source, vault_crypto.dataset_for(path, key))
        t0 = time.perf_counter()
        con.sql(JOB.replace("FROM residents", f"FROM {source}")).to_arrow_table()
        times.append(time.perf_counter() - t0)
        con.close()
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    source = dataset(args.rows)
    with tempfile.TemporaryDirectory(prefix="sandbox-bench-") as home:
        settings = Settings(home=Path(home), database_url=None)
        rt = Runtime(settings)
        with rt.catalog.session() as s:
            src, _ = add_user(s, "src", [Role.source_unit], "unit")
            adm, _ = add_user(s, "adm", [Role.admin], None)
            op, op_token = add_user(s, "op", [Role.operator], "acme")
        t0 = time.perf_counter()
        ds = datasets.register(rt, src, DatasetIn(name="residents", privacy_unit="resident_id"), source)
        register_s = time.perf_counter() - t0
        datasets.set_columns(
            rt,
            src,
            ds.id,
            ColumnsIn(
                columns={"district": ColumnChange(level="group"), "income": ColumnChange(level="aggregate")}
            ),
        )
        sc = scenarios.apply(
            rt,
            op,
            ScenarioIn(
                name="bench", purpose="bench", datasets={ds.id: ["resident_id", "district", "income"]}
            ),
        )
        scenarios.approve(rt, adm, sc.id, DecisionIn())
        vault_file = rt.vault.root / f"{ds.id}/v1/data.parquet"
        with rt.catalog.session() as s:
            from sandbox import vault_keys

            key = vault_keys.keys_of(s, rt, ds.id, 1).get("data.parquet")
        rt.close()

        raw = raw_duckdb(vault_file, settings.workspace_threads, args.repeat, key)
        e2e, ws_total, ws_query = [], [], []
        with (
            BackgroundServer(settings) as url,
            httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {op_token}"}, timeout=600
            ) as client,
        ):
            for i in range(args.repeat + 1):
                t0 = time.perf_counter()
                job = client.post("/v1/jobs", json={"scenario_id": sc.id, "sql": JOB}).json()
                while job["state"] in ("queued", "running", "checking"):
                    job = client.get(f"/v1/jobs/{job['id']}", params={"wait": 30}).json()
                elapsed = time.perf_counter() - t0
                assert job["state"] == "pending_review", job
                if i == 0:
                    continue  # the first job also starts the workspace fork server
                e2e.append(elapsed)
                ws_total.append(job["check_report"]["timings"]["workspace_total_s"])
                ws_query.append(job["check_report"]["timings"]["workspace_query_s"])
    q, t, e = statistics.median(ws_query), statistics.median(ws_total), statistics.median(e2e)
    print(f"rows: {args.rows:,}   threads: {settings.workspace_threads}   repeat: {args.repeat} (medians)")
    print(f"registration (vault + profile + classify): {register_s:.2f} s")
    print(f"raw DuckDB                         {raw * 1000:8.1f} ms   1.00x")
    print(f"workspace query (inside DuckDB)    {q * 1000:8.1f} ms   {q / raw:.2f}x   target <= 1.10x")
    print(f"workspace total (process + query)  {t * 1000:8.1f} ms   {t / raw:.2f}x")
    print(
        f"end to end (submit -> pending_review) {e * 1000:5.1f} ms   raw + {(e - raw) * 1000:.0f} ms"
        f"   target <= raw + 300 ms"
    )


if __name__ == "__main__":
    main()
