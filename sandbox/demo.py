"""`sandbox demo`: the main job, end to end over real HTTP on the embedded default (SQLite, local vault)."""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pyarrow.csv as pacsv
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from sandbox.auth import Role, add_user
from sandbox.runtime import Runtime
from sandbox.server import BackgroundServer
from sandbox.settings import Settings

MAIN_JOB = (
    "SELECT district, COUNT(*) AS residents, AVG(income) AS avg_income\n"
    "FROM residents\nGROUP BY district\nORDER BY district"
)
RAW_EXPORT = "SELECT name, phone, income FROM residents WHERE district = '福田区'"


class _ProgressReader(io.RawIOBase):
    """A file wrapper that advances a progress bar as httpx streams the upload."""

    def __init__(self, path: Path, progress: Progress, task: Any) -> None:
        self._f = path.open("rb")
        self._progress = progress
        self._task = task

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = self._f.read(size)
        self._progress.update(self._task, advance=len(chunk))
        return chunk

    def close(self) -> None:
        self._f.close()
        super().close()


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


def _check(resp: httpx.Response, *expected: int) -> dict[str, Any]:
    if resp.status_code not in expected:
        raise RuntimeError(
            f"{resp.request.method} {resp.request.url.path} -> {resp.status_code}: {resp.text}"
        )
    return resp.json() if resp.headers.get("content-type", "").startswith("application/json") else {}


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
        clients = {
            role: httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tok}"}, timeout=120)
            for role, tok in tokens.items()
        }
        src, adm, op, rev, aud = (
            clients[r] for r in ("source_unit", "admin", "operator", "reviewer", "auditor")
        )

        console.rule("1. The source unit registers the dataset")
        meta = {
            "name": "residents",
            "description": "深圳市常住人口抽样 (synthetic)",
            "classification": "important",
            "privacy_unit": "resident_id",
        }
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("Uploading residents.csv", total=csv_path.stat().st_size)
            reader = _ProgressReader(csv_path, progress, task)
            try:
                ds = _check(
                    src.post(
                        "/v1/datasets",
                        files={"file": ("residents.csv", reader, "text/csv")},
                        data={"metadata": json.dumps(meta, ensure_ascii=False)},
                    ),
                    201,
                )
            finally:
                reader.close()
        t = Table(
            "column",
            "type",
            "detected PII",
            "proposed level",
            title=f"{ds['name']} v{ds['version']}: {ds['rows']:,} rows, sha256 {ds['sha256'][:16]}…",
        )
        for c in ds["columns"]:
            pii = ", ".join(f"{k} {v:.0%}" for k, v in c["pii"].items()) or (c["name_hint"] or "")
            t.add_row(c["name"], c["type"], pii, c["proposed_level"])
        console.print(t)
        districts = sorted(set(table.column("district").to_pylist()))
        ds = _check(
            src.put(
                f"/v1/datasets/{ds['id']}/columns",
                json={
                    "columns": {
                        "resident_id": {"level": "join_key"},
                        "name": {"level": "hidden"},
                        "phone": {"level": "hidden"},
                        "district": {"level": "group", "public_keys": districts},
                        "sex": {"level": "group"},
                        "age": {"level": "aggregate", "lower": 0, "upper": 120},
                        "income": {"level": "aggregate", "lower": 0, "upper": 5_000_000},
                    }
                },
            ),
            200,
        )
        console.print("Levels confirmed; district keys declared public (the published list of districts).")

        console.rule("2. The operator applies for a scenario; the admin approves it")
        sc = _check(
            op.post(
                "/v1/scenarios",
                json={
                    "name": "居民收入分区统计",
                    "purpose": "Average income by district for a public-service planning report",
                    "datasets": {ds["id"]: ["resident_id", "district", "sex", "age", "income"]},
                    "modes": ["sdc"],
                },
            ),
            201,
        )
        sc = _check(
            adm.post(f"/v1/scenarios/{sc['id']}/approve", json={"reason": "purpose and columns fit"}), 200
        )
        console.print(f"Scenario {sc['id']} is {sc['state']}; columns: {', '.join(sc['datasets'][ds['id']])}")

        console.rule("3. A raw-export attempt is refused by the gate")
        console.print(f"[dim]{RAW_EXPORT}[/dim]")
        err = _check(
            op.post("/v1/jobs", json={"scenario_id": sc["id"], "sql": RAW_EXPORT, "mode": "sdc"}), 422
        )
        for r in err["error"]["detail"]["reasons"]:
            pos = r["position"]
            where = f" (line {pos['line']}, column {pos['column']})" if pos else ""
            console.print(f"  [red]{r['code']}[/red]{where}: {r['message']}\n    [dim]{r['hint']}[/dim]")

        console.rule("4. An aggregate job runs in an isolated workspace")
        console.print(f"[dim]{MAIN_JOB}[/dim]")
        started = time.perf_counter()
        job = _check(op.post("/v1/jobs", json={"scenario_id": sc["id"], "sql": MAIN_JOB, "mode": "sdc"}), 202)
        while job["state"] in ("queued", "running", "checking"):
            job = _check(op.get(f"/v1/jobs/{job['id']}", params={"wait": 10}), 200)
        elapsed = time.perf_counter() - started
        if job["state"] != "pending_review":
            console.print(f"[red]job ended {job['state']} ({job['reason_code']})[/red]")
            return 1
        sdc = job["check_report"]["sdc"]
        console.print(
            f"Job {job['id']} reached pending_review in {elapsed * 1000:.0f} ms "
            f"(k = {job['check_report']['k']}: {sdc['suppressed_cells']} cell(s) suppressed in "
            f"{sdc['suppressed_rows']} row(s))"
        )
        for cell in sdc["suppressed"]:
            console.print(f"  suppressed row {cell['row']} column {cell['column']}: rule {cell['rule']}")
        early = op.get(f"/v1/jobs/{job['id']}/result", params={"format": "csv"})
        console.print(f"Download before release: HTTP {early.status_code} {early.json()['error']['code']}")

        console.rule("5. A reviewer checks the output and approves it")
        queue = _check(rev.get("/v1/reviews", params={"status": "pending"}), 200)
        console.print(f"Review queue: {len(queue['items'])} job(s) pending")
        cand = _check(rev.get(f"/v1/reviews/{job['id']}"), 200)
        t = Table(*cand["columns"], title="Candidate output (post-privacy)")
        for row in cand["rows"]:
            t.add_row(*["—" if v is None else (f"{v:,.0f}" if isinstance(v, float) else str(v)) for v in row])
        console.print(t)
        _check(
            rev.post(
                f"/v1/reviews/{job['id']}",
                json={"decision": "approve", "reason": "aggregates only; small cell suppressed"},
            ),
            200,
        )

        console.rule("6. The operator downloads the released result")
        resp = op.get(f"/v1/jobs/{job['id']}/result", params={"format": "csv"})
        _check(resp, 200)
        sha = hashlib.sha256(resp.content).hexdigest()
        ok = sha == resp.headers["X-Content-SHA256"]
        console.print(
            f"result.csv: {len(resp.content)} bytes, sha256 {sha[:16]}… "
            f"({'matches' if ok else 'DOES NOT MATCH'} the release record)"
        )
        console.print(resp.content.decode("utf-8"))

        console.rule("7. The auditor verifies the audit chain")
        ver = _check(aud.get("/v1/audit/verify"), 200)
        console.print(f"Audit chain: {ver['events']} events, {'intact' if ver['ok'] else 'BROKEN'}")
        for c in clients.values():
            c.close()
        return 0 if ok and ver["ok"] else 1
