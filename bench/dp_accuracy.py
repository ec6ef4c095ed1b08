"""Benchmark: dp accuracy next to OpenDP's own Polars pipeline, and the dp workspace's cost over raw DuckDB.

A fixed set of grouped counts, sums and means by district (public keys) on generated residents (one
row per unit, so c = 1 for both), at epsilon 0.1, 1 and 10. Ours runs as real dp jobs over HTTP (the
gate's bounded SQL in the workspace, OpenDP noise on the cells); OpenDP's runs `dp.Context` over a
Polars LazyFrame with the same bounds, contributions and epsilon per query. Each trial is a distinct
query text (`WHERE age >= -t`, always true), since an identical query returns the same release.
Prints the median relative error over districts and trials for both, and the median ratio of the dp
job's workspace query time to the same exact query in raw DuckDB (target <= 1.5x at 10M rows).

    .venv/bin/python bench/dp_accuracy.py --rows 200000 --trials 3
    .venv/bin/python bench/dp_accuracy.py                       # 10 million rows
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import duckdb
import httpx
import opendp.prelude as dp
import polars as pl
import pyarrow.parquet as pq

from sandbox import datasets, scenarios
from sandbox.api.schemas import ColumnChange, ColumnsIn, DatasetIn, DecisionIn, ScenarioIn
from sandbox.auth import Role, add_user
from sandbox.demo_data import residents
from sandbox.runtime import Runtime
from sandbox.server import BackgroundServer
from sandbox.settings import Settings

DATA = Path(__file__).resolve().parent / ".data"
UPPER = 300_000
QUERIES = {
    "count": ("COUNT(*)", lambda: pl.len().dp.noise()),
    "sum": ("SUM(income)", lambda: pl.col("income").fill_null(0).dp.sum((0, UPPER))),
    "mean": ("AVG(income)", lambda: pl.col("income").fill_null(0).dp.mean((0, UPPER))),
}
EPSILONS = (0.1, 1.0, 10.0)
BUNDLE = """general: {k: 10, modes: [sdc, dp]}
important: {k: 20, modes: [sdc, dp]}
core: {k: 50, modes: [sdc, dp]}
dp: {epsilon_default: 1.0, epsilon_max_job: 10.0, epsilon_max_scenario: 1000000.0, contributions: 1}
"""


def dataset(rows: int) -> Path:
    path = DATA / f"residents-{rows}.parquet"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        pq.write_table(residents(rows), path, row_group_size=1 << 20, compression="zstd")
    return path


def exact(path: Path, aggregate: str, threads: int) -> tuple[dict[str, float], float]:
    """The exact query in raw DuckDB, with the same (always true) WHERE the dp jobs carry."""
    con = duckdb.connect()
    con.execute(f"SET threads={threads}")
    sql = f"SELECT district, {aggregate} AS v FROM read_parquet('{path}') WHERE age >= -1 GROUP BY district"
    t0 = time.perf_counter()
    rows = con.sql(sql).fetchall()
    elapsed = time.perf_counter() - t0
    con.close()
    return {d: float(v) for d, v in rows}, elapsed


def _relative(noisy: dict[str, float], truth: dict[str, float]) -> list[float]:
    return [abs(noisy.get(k, 0.0) - v) / max(abs(v), 1.0) for k, v in truth.items()]


def opendp_polars(
    path: Path, kind: str, epsilon: float, truth: dict[str, float], trials: int, rows: int
) -> tuple[list[float], float]:
    """Relative errors over trials, and the noise scale OpenDP states (of the sum, for a mean)."""
    lf = pl.scan_parquet(path).select("district", "income")
    errors: list[float] = []
    scale = 0.0
    for _ in range(trials):
        ctx = dp.Context.compositor(
            data=lf,
            privacy_unit=dp.unit_of(contributions=1),
            privacy_loss=dp.loss_of(epsilon=epsilon),
            split_evenly_over=1,
            margins=[
                dp.polars.Margin(by=["district"], invariant="keys", max_length=rows, max_groups=len(truth))
            ],
        )
        query = ctx.query().group_by("district").agg(QUERIES[kind][1]().alias("v"))
        scale = float(query.summarize(alpha=0.05)["scale"][0])
        out = query.release().collect()
        errors += _relative(dict(zip(out["district"].to_list(), out["v"].to_list(), strict=True)), truth)
    return errors, scale


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--trials", type=int, default=3)
    args = ap.parse_args()
    source = dataset(args.rows)
    with tempfile.TemporaryDirectory(prefix="sandbox-dp-bench-") as home:
        bundle = Path(home) / "bundle.yaml"
        bundle.write_text(BUNDLE, encoding="utf-8")
        settings = Settings(home=Path(home), database_url=None, bundle_path=bundle, workspace_timeout_s=600)
        rt = Runtime(settings)
        with rt.catalog.session() as s:
            src, _ = add_user(s, "src", [Role.source_unit], "unit")
            adm, _ = add_user(s, "adm", [Role.admin], None)
            op, op_token = add_user(s, "op", [Role.operator], "acme")
        ds = datasets.register(rt, src, DatasetIn(name="residents", privacy_unit="resident_id"), source)
        districts = sorted(set(pq.read_table(source, columns=["district"]).column("district").to_pylist()))
        columns = {
            "district": ColumnChange(level="group", public_keys=districts),
            "age": ColumnChange(level="compare"),
            "income": ColumnChange(level="aggregate", lower=0, upper=UPPER),
        }
        datasets.set_columns(rt, src, ds.id, ColumnsIn(columns=columns))
        grant = {ds.id: ["resident_id", "district", "age", "income"]}
        body = ScenarioIn(
            name="bench", purpose="bench", datasets=grant, modes=["dp"], epsilon=1e6, delta=1e-6
        )
        sc = scenarios.apply(rt, op, body)
        scenarios.approve(rt, adm, sc.id, DecisionIn())
        vault_file = rt.vault.root / f"{ds.id}/v1/data.parquet"
        rt.close()
        threads = settings.workspace_threads
        print(
            f"rows: {args.rows:,}   trials: {args.trials}   threads: {threads}   income bounds [0, {UPPER}]"
        )
        print(
            f"{'query':6} {'epsilon':>7}  {'ours':>10}  {'opendp':>10}  ours/opendp  stated scale ours/opendp"
        )
        ratios: list[float] = []
        headers = {"Authorization": f"Bearer {op_token}"}
        with (
            BackgroundServer(settings) as url,
            httpx.Client(base_url=url, headers=headers, timeout=900) as client,
        ):
            for kind, (aggregate, _) in QUERIES.items():
                truth = exact(vault_file, aggregate.replace("income", f"LEAST(income, {UPPER})"), threads)[0]
                raw_s = statistics.median(exact(vault_file, aggregate, threads)[1] for _ in range(3))
                for epsilon in EPSILONS:
                    ours: list[float] = []
                    our_scale = 0.0
                    for t in range(args.trials):
                        sql = (
                            f"SELECT district, {aggregate} AS v FROM residents WHERE age >= -{t + 1} "
                            f"GROUP BY district"
                        )
                        job = client.post(
                            "/v1/jobs",
                            json={"scenario_id": sc.id, "sql": sql, "mode": "dp", "epsilon": epsilon},
                        ).json()
                        while job["state"] in ("queued", "running", "checking"):
                            job = client.get(f"/v1/jobs/{job['id']}", params={"wait": 30}).json()
                        assert job["state"] == "pending_review", job
                        ratios.append(job["check_report"]["timings"]["workspace_query_s"] / raw_s)
                        stated = job["check_report"]["dp"]["outputs"][0]["scale"]
                        our_scale = stated["sum"] if isinstance(stated, dict) else stated
                        rows = _candidate(settings, job["id"])
                        ours += _relative(rows, truth)
                    theirs, their_scale = opendp_polars(
                        vault_file, kind, epsilon, truth, args.trials, args.rows
                    )
                    a, b = statistics.median(ours), statistics.median(theirs)
                    ratio = a / b if b else 1.0
                    stated = our_scale / their_scale
                    print(f"{kind:6} {epsilon:7.1f}  {a:10.5f}  {b:10.5f}  {ratio:11.2f}  {stated:.3f}")
        print(f"dp workspace query / raw DuckDB (median): {statistics.median(ratios):.2f}x   target <= 1.5x")


def _candidate(settings: Settings, job_id: str) -> dict[str, float]:
    table = pq.read_table(settings.jobs_dir / job_id / "candidate.parquet")
    return dict(zip(table.column("district").to_pylist(), table.column("v").to_pylist(), strict=True))


if __name__ == "__main__":
    main()
