"""`Client`: one method per API route, typed answers, one exception type (SandboxAPIError)."""

from __future__ import annotations

import io
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import yaml
from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

from sandbox.client.errors import SandboxAPIError, check
from sandbox.client.models import (
    RUNNING_STATES,
    AuditEventOut,
    CandidateOut,
    DatasetOut,
    Download,
    DryRun,
    JobOut,
    ProductCallOut,
    ProductOut,
    ReviewOut,
    ScenarioOut,
    TemplateOut,
    UserOut,
    VerificationOut,
)

if TYPE_CHECKING:  # pyarrow loads only when a table is uploaded or read (a quicker CLI)
    import pyarrow as pa

    from sandbox.settings import ClientSettings

M = TypeVar("M", bound=BaseModel)
Levels = dict[str, str | dict[str, Any]]
MAX_WAIT_S = 30.0  # the API's longest long poll


class _ProgressReader(io.RawIOBase):
    """A file wrapper that advances a progress bar as httpx streams the multipart upload."""

    def __init__(self, path: Path, advance: Callable[[int], None]) -> None:
        self._f = path.open("rb")
        self._advance = advance

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = self._f.read(size)
        self._advance(len(chunk))
        return chunk

    def close(self) -> None:
        self._f.close()
        super().close()


def levels_body(levels: Levels | str | Path) -> dict[str, Any]:
    """`{"columns": {...}}` from a mapping (column -> level, or -> {level, lower, upper, public_keys}) or
    a YAML file holding that mapping (optionally under a top-level `columns:` key)."""
    if isinstance(levels, str | Path):
        loaded = yaml.safe_load(Path(levels).read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise ValueError("a levels file holds a mapping of column -> level")
        levels = loaded
    if set(levels) == {"columns"} and isinstance(levels["columns"], dict):
        levels = levels["columns"]
    columns = {name: ({"level": v} if isinstance(v, str) else dict(v)) for name, v in levels.items()}
    return {"columns": columns}


def _metadata(**fields: Any) -> str:
    return json.dumps({k: v for k, v in fields.items() if v is not None}, ensure_ascii=False)


class Client:
    """The sandbox API over httpx. `Client(url, token)`; use as a context manager or call `close()`.

    `console` is where progress bars and wait status are drawn (stderr by default), only when a method
    is asked for `progress=True`.
    """

    def __init__(
        self,
        url: str,
        token: str | None,
        timeout: float = 60.0,
        *,
        console: Console | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=url, headers=headers, timeout=timeout, transport=transport)
        self.console = console or Console(stderr=True)

    @classmethod
    def from_settings(cls, settings: ClientSettings | None = None, **kwargs: Any) -> Client:
        """A client for SANDBOX_URL / SANDBOX_TOKEN (ClientSettings reads them; nothing else does)."""
        from sandbox.settings import ClientSettings

        cs = settings or ClientSettings()
        if not cs.url:
            raise SandboxAPIError(0, "connection_failed", "no server: set SANDBOX_URL")
        return cls(cs.url, cs.token, cs.timeout_s, **kwargs)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return check(self._http.request(method, path, **kwargs))
        except httpx.TimeoutException:
            raise SandboxAPIError(0, "connection_failed", f"{method} {path}: no answer in time") from None
        except httpx.TransportError as e:
            message = f"{method} {path}: cannot reach {self._http.base_url} ({type(e).__name__})"
            raise SandboxAPIError(0, "connection_failed", message) from None

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()

    def _model(self, model: type[M], method: str, path: str, **kwargs: Any) -> M:
        return model.model_validate(self._json(method, path, **kwargs))

    def _pages(self, model: type[M], path: str, params: dict[str, Any], limit: int) -> Iterator[M]:
        """Every item, page after page, following `next_cursor` until it is null."""
        query = {k: v for k, v in params.items() if v is not None} | {"limit": limit}
        while True:
            page = self._json("GET", path, params=query)
            for item in page["items"]:
                yield model.model_validate(item)
            if not page.get("next_cursor"):
                return
            query["cursor"] = page["next_cursor"]

    def me(self) -> UserOut:
        return self._model(UserOut, "GET", "/v1/me")

    # -- datasets -------------------------------------------------------------------------------------
    def _upload(
        self, path: str, data: str | Path | pa.Table | Any, metadata: str, progress: bool
    ) -> DatasetOut:
        with ExitStack() as stack:
            if isinstance(data, str | Path):
                file = Path(data)
            else:  # a pyarrow Table or a pandas DataFrame: Parquet in a temp file, streamed like a path
                import pyarrow as pa
                import pyarrow.parquet as pq

                table = (
                    data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)
                )
                tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sandbox-upload-")))
                file = tmp / "table.parquet"
                pq.write_table(table, file)
            advance: Callable[[int], None] = lambda n: None  # noqa: E731
            if progress:
                bar = stack.enter_context(
                    Progress(
                        TextColumn("{task.description}"),
                        BarColumn(),
                        DownloadColumn(),
                        TimeElapsedColumn(),
                        console=self.console,
                    )
                )
                task = bar.add_task(f"Uploading {file.name}", total=file.stat().st_size)
                advance = lambda n: bar.advance(task, n)  # noqa: E731
            reader = stack.enter_context(_ProgressReader(file, advance))
            files = {"file": (file.name, reader, "application/octet-stream")}
            return self._model(DatasetOut, "POST", path, files=files, data={"metadata": metadata})

    def register_dataset(
        self,
        data: str | Path | pa.Table | Any,
        *,
        name: str,
        privacy_unit: str,
        classification: str = "general",
        description: str = "",
        encoding: str | None = None,
        format: str | None = None,
        progress: bool = False,
    ) -> DatasetOut:
        """Register a file (CSV/TSV/JSON lines/Parquet) or a pyarrow Table / pandas DataFrame."""
        meta = _metadata(
            name=name,
            privacy_unit=privacy_unit,
            classification=classification,
            description=description,
            encoding=encoding,
            format=format,
        )
        return self._upload("/v1/datasets", data, meta, progress)

    def add_version(
        self,
        dataset_id: str,
        data: str | Path | pa.Table | Any,
        *,
        encoding: str | None = None,
        format: str | None = None,
        progress: bool = False,
    ) -> DatasetOut:
        meta = _metadata(encoding=encoding, format=format)
        return self._upload(f"/v1/datasets/{dataset_id}/versions", data, meta, progress)

    def set_levels(self, dataset_id: str, levels: Levels | str | Path) -> DatasetOut:
        """Confirm or change column levels, bounds and public keys (a mapping or a YAML file)."""
        return self._model(DatasetOut, "PUT", f"/v1/datasets/{dataset_id}/columns", json=levels_body(levels))

    def get_dataset(self, dataset_id: str) -> DatasetOut:
        return self._model(DatasetOut, "GET", f"/v1/datasets/{dataset_id}")

    def list_datasets(self, *, page_size: int = 50) -> Iterator[DatasetOut]:
        return self._pages(DatasetOut, "/v1/datasets", {}, page_size)

    def preview(self, dataset_id: str, rows: int | None = None) -> dict[str, Any]:
        """Synthetic rows shaped like the dataset: `{"synthetic": true, "columns", "rows"}`, as returned."""
        params = None if rows is None else {"rows": rows}
        return self._json("GET", f"/v1/datasets/{dataset_id}/preview", params=params)

    # -- scenarios ------------------------------------------------------------------------------------
    def apply_scenario(
        self,
        *,
        name: str,
        purpose: str,
        datasets: dict[str, list[str]],
        modes: list[str] | None = None,
        epsilon: float | None = None,
        delta: float | None = None,
        expires_at: datetime | None = None,
        public_interest: bool = False,
    ) -> ScenarioOut:
        body: dict[str, Any] = {
            "name": name,
            "purpose": purpose,
            "datasets": datasets,
            "modes": modes or ["sdc"],
            "public_interest": public_interest,
        }
        for key, value in (("epsilon", epsilon), ("delta", delta)):
            if value is not None:
                body[key] = value
        if expires_at is not None:
            body["expires_at"] = expires_at.isoformat()
        return self._model(ScenarioOut, "POST", "/v1/scenarios", json=body)

    def _decide_scenario(self, scenario_id: str, action: str, reason: str) -> ScenarioOut:
        return self._model(
            ScenarioOut, "POST", f"/v1/scenarios/{scenario_id}/{action}", json={"reason": reason}
        )

    def approve_scenario(self, scenario_id: str, reason: str = "") -> ScenarioOut:
        return self._decide_scenario(scenario_id, "approve", reason)

    def reject_scenario(self, scenario_id: str, reason: str = "") -> ScenarioOut:
        return self._decide_scenario(scenario_id, "reject", reason)

    def revoke_scenario(self, scenario_id: str, reason: str = "") -> ScenarioOut:
        return self._decide_scenario(scenario_id, "revoke", reason)

    def get_scenario(self, scenario_id: str) -> ScenarioOut:
        return self._model(ScenarioOut, "GET", f"/v1/scenarios/{scenario_id}")

    def list_scenarios(self, *, page_size: int = 50) -> Iterator[ScenarioOut]:
        return self._pages(ScenarioOut, "/v1/scenarios", {}, page_size)

    # -- jobs -----------------------------------------------------------------------------------------
    def submit(self, scenario_id: str, sql: str, mode: str = "sdc") -> JobOut:
        """Submit a job; a refusal by the gate raises SandboxAPIError(422, "gate_rejected") with .reasons."""
        body = {"scenario_id": scenario_id, "sql": sql, "mode": mode}
        return self._model(JobOut, "POST", "/v1/jobs", json=body)

    def dry_run(self, scenario_id: str, sql: str, mode: str = "sdc") -> DryRun:
        """Run the job on synthetic data shaped like the granted tables (gate refusals raise as in submit)."""
        body = {"scenario_id": scenario_id, "sql": sql, "mode": mode}
        return DryRun.from_json(self._json("POST", "/v1/jobs/dry-run", json=body))

    def get_job(self, job_id: str, wait: float = 0) -> JobOut:
        params = {"wait": min(wait, MAX_WAIT_S)} if wait else None
        return self._model(JobOut, "GET", f"/v1/jobs/{job_id}", params=params)

    def wait(self, job_id: str, timeout: float = 300.0, *, progress: bool = False) -> JobOut:
        """Long-poll until the job leaves queued/running/checking; SandboxAPIError("wait_timeout") after
        `timeout` seconds. `progress` shows the state and elapsed time while waiting."""
        started = time.monotonic()
        deadline = started + timeout
        with ExitStack() as stack:
            status = stack.enter_context(self.console.status(f"job {job_id}")) if progress else None
            while True:
                remaining = deadline - time.monotonic()
                job = self.get_job(job_id, wait=max(0.0, min(remaining, 10.0)))
                if status is not None:
                    status.update(f"job {job_id}: {job.state} ({time.monotonic() - started:.1f} s)")
                if job.state not in RUNNING_STATES:
                    return job
                if time.monotonic() >= deadline:
                    raise SandboxAPIError(
                        0, "wait_timeout", f"job {job_id} is still {job.state} after {timeout:g} s", job.state
                    )

    def list_jobs(self, *, state: str | None = None, page_size: int = 50) -> Iterator[JobOut]:
        return self._pages(JobOut, "/v1/jobs", {"state": state}, page_size)

    def cancel(self, job_id: str) -> JobOut:
        return self._model(JobOut, "POST", f"/v1/jobs/{job_id}/cancel")

    def download(self, job_id: str, format: str = "csv") -> Download:
        resp = self._request("GET", f"/v1/jobs/{job_id}/result", params={"format": format})
        return Download(
            job_id=job_id,
            format=format,
            content=resp.content,
            sha256=resp.headers.get("x-content-sha256", ""),
            media_type=resp.headers.get("content-type", ""),
        )

    def result(self, job_id: str, format: str = "csv") -> bytes:
        """The released artifact's bytes, checked against the release record's sha256."""
        got = self.download(job_id, format)
        if not got.verified:
            raise SandboxAPIError(0, "checksum_mismatch", f"job {job_id}: {format} differs from its release")
        return got.content

    def result_table(self, job_id: str) -> pa.Table:
        """The released result as a pyarrow Table (read from the Parquet artifact)."""
        import pyarrow.parquet as pq

        return pq.read_table(io.BytesIO(self.result(job_id, "parquet")))

    def to_pandas(self, job_id: str) -> Any:
        """The released result as a pandas DataFrame; needs pandas installed (not a dependency)."""
        try:
            import pandas  # noqa: F401
        except ImportError:
            raise ImportError("to_pandas() needs pandas: pip install pandas") from None
        return self.result_table(job_id).to_pandas()

    # -- reviews --------------------------------------------------------------------------------------
    def review_queue(self, *, status: str = "pending", page_size: int = 50) -> Iterator[JobOut]:
        return self._pages(JobOut, "/v1/reviews", {"status": status}, page_size)

    def candidate(self, job_id: str) -> CandidateOut:
        """What the reviewer would release: the post-privacy output."""
        return self._model(CandidateOut, "GET", f"/v1/reviews/{job_id}")

    def decide(self, job_id: str, decision: str, reason: str) -> ReviewOut:
        """decision: approve, reject or changes_requested; a reason is required."""
        body = {"decision": decision, "reason": reason}
        return self._model(ReviewOut, "POST", f"/v1/reviews/{job_id}", json=body)

    # -- templates and products -----------------------------------------------------------------------
    def create_template(
        self,
        scenario_id: str,
        name: str,
        sql: str,
        params: dict[str, Any] | None = None,
        *,
        mode: str = "sdc",
        epsilon: float | None = None,
        revises: str | None = None,
    ) -> TemplateOut:
        """A parameterized template (`:name` placeholders declared in `params`); gated for every value."""
        body = {"scenario_id": scenario_id, "name": name, "sql": sql, "params": params or {}, "mode": mode}
        body |= {k: v for k, v in {"epsilon": epsilon, "revises": revises}.items() if v is not None}
        return self._model(TemplateOut, "POST", "/v1/templates", json=body)

    def get_template(self, template_id: str) -> TemplateOut:
        return self._model(TemplateOut, "GET", f"/v1/templates/{template_id}")

    def approve_template(self, template_id: str, reason: str = "") -> TemplateOut:
        """A reviewer's or a source unit's approval of the template at its pin."""
        return self._model(
            TemplateOut, "POST", f"/v1/templates/{template_id}/approvals", json={"reason": reason}
        )

    def publish(self, template_id: str, name: str, **fields: Any) -> ProductOut:
        """Publish an approved template: form, fee_class, price, pricing_product, consumers, dp budgets."""
        body = {"template_id": template_id, "name": name, **fields}
        return self._model(ProductOut, "POST", "/v1/products", json=body)

    def list_products(self, *, state: str = "published", page_size: int = 50) -> Iterator[ProductOut]:
        return self._pages(ProductOut, "/v1/products", {"state": state}, page_size)

    def withdraw(self, product_id: str) -> ProductOut:
        return self._model(ProductOut, "POST", f"/v1/products/{product_id}/withdraw")

    def call(self, product_id: str, **params: Any) -> ProductCallOut:
        """Call a product; a refusal raises SandboxAPIError with its code (detail.call_id: the record)."""
        return self._model(ProductCallOut, "POST", f"/v1/products/{product_id}/call", json={"params": params})

    # -- audit ----------------------------------------------------------------------------------------
    def audit_events(
        self, *, event_type: str | None = None, object_id: str | None = None, page_size: int = 100
    ) -> Iterator[AuditEventOut]:
        params = {"event_type": event_type, "object_id": object_id}
        return self._pages(AuditEventOut, "/v1/audit", params, page_size)

    def audit_verify(self) -> VerificationOut:
        return self._model(VerificationOut, "GET", "/v1/audit/verify")
