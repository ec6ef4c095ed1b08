"""`sandbox demo`: the main job, end to end over real HTTP on the embedded default (SQLite, local vault),
written with `sandbox.client` exactly as a source unit, operator, reviewer or auditor would write it."""

from __future__ import annotations

import hashlib
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.csv as pacsv
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sandbox.auth import Role, add_user
from sandbox.client import Client, SandboxAPIError, format_reasons
from sandbox.runtime import Runtime
from sandbox.server import BackgroundServer
from sandbox.settings import Settings

MAIN_JOB = (
    "SELECT district, COUNT(*) AS residents, AVG(income) AS avg_income\n"
    "FROM residents\nGROUP BY district\nORDER BY district"
)
RAW_EXPORT = "SELECT name, phone, income FROM residents WHERE district = '福田区'"


def _users(settings: Settings) -> dict[str, str]:
    rt = Runtime(settings)
    tokens: dict[str, str] = {}
    try:
        with rt.catalog.session() as s:
            for name, role, unit in [
                ("shenzhen-stats", Role.source_unit, "深圳市统计局"),
                ("authority-admin", Role.admin, "数据局"),
                ("acme-analytics", Role.operator, "Acme 数据运营"),
                ("review-li", Role.reviewer, "出域审核组"),
                ("audit-wang", Role.auditor, "监管部门"),
            ]:
                _, tokens[role.value] = add_user(s, name, [role], unit)
    finally:
        rt.close()
    return tokens


def run(rows: int, home: Path | None, console: Console) -> int:
    tmp = None if home else tempfile.TemporaryDirectory(prefix="sandbox-demo-")
    root = home or Path(tmp.name)  # type: ignore[union-attr]
    settings = Settings(home=root, database_url=None)
    console.rule("[bold]Data sandbox demo[/bold]: raw data stays in the domain, usable but not visible")
    console.print(f"SANDBOX_HOME = {root} (SQLite catalog, local vault)")
    try:
        return _run(settings, rows, console)
    finally:
        if tmp is not None:
            tmp.cleanup()


def _run(settings: Settings, rows: int, console: Console) -> int:
    from sandbox.demo_data import residents

    tokens = _users(settings)
    console.print("Users: source unit, admin, operator, reviewer, auditor (tokens shown once, stored hashed)")
    csv_path = settings.resolved_home() / "residents.csv"
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        gen = progress.add_task(f"Generating {rows:,} synthetic residents", total=rows)
        table = residents(rows)
        with pacsv.CSVWriter(csv_path, table.schema) as writer:
            for batch in table.to_batches(max_chunksize=10_000):
                writer.write_batch(batch)
                progress.advance(gen, batch.num_rows)
    with BackgroundServer(settings) as url:
        console.print(f"Server listening on {url}")
        clients = {role: Client(url, tok, timeout=120, console=console) for role, tok in tokens.items()}
        try:
            return _story(clients, csv_path, table, console)
        finally:
            for c in clients.values():
                c.close()


def _story(clients: dict[str, Client], csv_path: Path, table: Any, console: Console) -> int:
    """The seven steps, each one or two client calls: the code a newcomer would write."""
    src, adm, op, rev, aud = (clients[r] for r in ("source_unit", "admin", "operator", "reviewer", "auditor"))

    console.rule("1. The source unit registers the dataset")
    ds = src.register_dataset(
        csv_path,
        name="residents",
        description="深圳市常住人口抽样 (synthetic)",
        classification="important",
        privacy_unit="resident_id",
        progress=True,
    )
    t = Table(
        "column",
        "type",
        "detected PII",
        "proposed level",
        title=f"{ds.name} v{ds.version}: {ds.rows:,} rows, sha256 {ds.sha256[:16]}…",
    )
    for c in ds.columns:
        pii = ", ".join(f"{k} {v:.0%}" for k, v in c.pii.items()) or (c.name_hint or "")
        t.add_row(c.name, c.type, pii, c.proposed_level)
    console.print(t)
    districts = sorted(set(table.column("district").to_pylist()))
    ds = src.set_levels(
        ds.id,
        {
            "resident_id": "join_key",
            "name": "hidden",
            "phone": "hidden",
            "district": {"level": "group", "public_keys": districts},
            "sex": "group",
            "age": {"level": "aggregate", "lower": 0, "upper": 120},
            "income": {"level": "aggregate", "lower": 0, "upper": 5_000_000},
        },
    )
    console.print("Levels confirmed; district keys declared public (the published list of districts).")

    console.rule("2. The operator applies for a scenario; the admin approves it")
    sc = op.apply_scenario(
        name="居民收入分区统计",
        purpose="Average income by district for a public-service planning report",
        datasets={ds.id: ["resident_id", "district", "sex", "age", "income"]},
        modes=["sdc"],
    )
    sc = adm.approve_scenario(sc.id, "purpose and columns fit")
    console.print(f"Scenario {sc.id} is {sc.state}; columns: {', '.join(sc.datasets[ds.id])}")

    console.rule("3. A raw-export attempt is refused by the gate")
    try:
        op.submit(sc.id, RAW_EXPORT, "sdc")
        console.print("[red]the raw export was accepted[/red]")
        return 1
    except SandboxAPIError as e:
        console.print(f"HTTP {e.status} {e.code}: {len(e.reasons)} reason(s)")
        console.print(format_reasons(RAW_EXPORT, e.reasons), markup=False, highlight=False, soft_wrap=True)

    console.rule("4. An aggregate job runs in an isolated workspace")
    console.print(f"[dim]{MAIN_JOB}[/dim]")
    started = time.perf_counter()
    job = op.wait(op.submit(sc.id, MAIN_JOB, "sdc").id, timeout=600)
    elapsed = time.perf_counter() - started
    if job.state != "pending_review":
        console.print(f"[red]job ended {job.state} ({job.reason_code})[/red]")
        return 1
    report = job.check_report or {}
    sdc = report["sdc"]
    console.print(
        f"Job {job.id} reached pending_review in {elapsed * 1000:.0f} ms "
        f"(k = {report['k']}: {sdc['suppressed_cells']} cell(s) suppressed in "
        f"{sdc['suppressed_rows']} row(s))"
    )
    for cell in sdc["suppressed"]:
        console.print(f"  suppressed row {cell['row']} column {cell['column']}: rule {cell['rule']}")
    try:
        op.result(job.id, "csv")
    except SandboxAPIError as e:
        console.print(f"Download before release: HTTP {e.status} {e.code}")

    console.rule("5. A reviewer checks the output and approves it")
    console.print(f"Review queue: {len(list(rev.review_queue()))} job(s) pending")
    cand = rev.candidate(job.id)
    t = Table(*cand.columns, title="Candidate output (post-privacy)")
    for row in cand.rows:
        t.add_row(*["—" if v is None else (f"{v:,.0f}" if isinstance(v, float) else str(v)) for v in row])
    console.print(t)
    rev.decide(job.id, "approve", "aggregates only; small cell suppressed")

    console.rule("6. The operator downloads the released result")
    got = op.download(job.id, "csv")
    sha = hashlib.sha256(got.content).hexdigest()
    console.print(
        f"result.csv: {len(got.content)} bytes, sha256 {sha[:16]}… "
        f"({'matches' if got.verified else 'DOES NOT MATCH'} the release record)"
    )
    console.print(got.content.decode("utf-8"))
    released = op.result_table(job.id)
    console.print(f"As a pyarrow Table: {released.num_rows} rows, columns {', '.join(released.column_names)}")

    console.rule("7. The auditor verifies the audit chain")
    ver = aud.audit_verify()
    console.print(f"Audit chain: {ver.events} events, {'intact' if ver.ok else 'BROKEN'}")
    return 0 if got.verified and ver.ok else 1
