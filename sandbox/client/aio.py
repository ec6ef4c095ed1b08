"""`AsyncClient`: the simple calls (read, submit, wait, decide, download) for asyncio code and notebooks."""

from __future__ import annotations

import io
import time
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from pydantic import BaseModel

from sandbox.client.errors import SandboxAPIError, check
from sandbox.client.models import (
    RUNNING_STATES,
    DatasetOut,
    Download,
    JobOut,
    ProductCallOut,
    ReviewOut,
    ScenarioOut,
    UserOut,
    VerificationOut,
)
from sandbox.client.sync import MAX_WAIT_S

if TYPE_CHECKING:  # pyarrow loads only when a table is uploaded or read (a quicker CLI)
    import pyarrow as pa

M = TypeVar("M", bound=BaseModel)


class AsyncClient:
    """Same names and answers as `Client` for the calls it has; uploads and listings stay on `Client`."""

    def __init__(self, url: str, token: str | None, timeout: float = 60.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.AsyncClient(base_url=url, headers=headers, timeout=timeout)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return check(await self._http.request(method, path, **kwargs))
        except httpx.TransportError as e:
            message = f"{method} {path}: cannot reach {self._http.base_url} ({type(e).__name__})"
            raise SandboxAPIError(0, "connection_failed", message) from None

    async def _model(self, model: type[M], method: str, path: str, **kwargs: Any) -> M:
        return model.model_validate((await self._request(method, path, **kwargs)).json())

    async def me(self) -> UserOut:
        return await self._model(UserOut, "GET", "/v1/me")

    async def get_dataset(self, dataset_id: str) -> DatasetOut:
        return await self._model(DatasetOut, "GET", f"/v1/datasets/{dataset_id}")

    async def get_scenario(self, scenario_id: str) -> ScenarioOut:
        return await self._model(ScenarioOut, "GET", f"/v1/scenarios/{scenario_id}")

    async def submit(self, scenario_id: str, sql: str, mode: str = "sdc") -> JobOut:
        body = {"scenario_id": scenario_id, "sql": sql, "mode": mode}
        return await self._model(JobOut, "POST", "/v1/jobs", json=body)

    async def get_job(self, job_id: str, wait: float = 0) -> JobOut:
        params = {"wait": min(wait, MAX_WAIT_S)} if wait else None
        return await self._model(JobOut, "GET", f"/v1/jobs/{job_id}", params=params)

    async def wait(self, job_id: str, timeout: float = 300.0) -> JobOut:
        deadline = time.monotonic() + timeout
        while True:
            job = await self.get_job(job_id, wait=max(0.0, min(deadline - time.monotonic(), 10.0)))
            if job.state not in RUNNING_STATES:
                return job
            if time.monotonic() >= deadline:
                raise SandboxAPIError(0, "wait_timeout", f"job {job_id} is still {job.state}", job.state)

    async def cancel(self, job_id: str) -> JobOut:
        return await self._model(JobOut, "POST", f"/v1/jobs/{job_id}/cancel")

    async def decide(self, job_id: str, decision: str, reason: str) -> ReviewOut:
        body = {"decision": decision, "reason": reason}
        return await self._model(ReviewOut, "POST", f"/v1/reviews/{job_id}", json=body)

    async def download(self, job_id: str, format: str = "csv") -> Download:
        resp = await self._request("GET", f"/v1/jobs/{job_id}/result", params={"format": format})
        sha = resp.headers.get("x-content-sha256", "")
        return Download(job_id, format, resp.content, sha, resp.headers.get("content-type", ""))

    async def result_table(self, job_id: str) -> pa.Table:
        got = await self.download(job_id, "parquet")
        if not got.verified:
            raise SandboxAPIError(0, "checksum_mismatch", f"job {job_id}: parquet differs from its release")
        import pyarrow.parquet as pq

        return pq.read_table(io.BytesIO(got.content))

    async def call(self, product_id: str, **params: Any) -> ProductCallOut:
        """Call a product (as `Client.call`)."""
        return await self._model(
            ProductCallOut, "POST", f"/v1/products/{product_id}/call", json={"params": params}
        )

    async def audit_verify(self) -> VerificationOut:
        return await self._model(VerificationOut, "GET", "/v1/audit/verify")
