"""/readyz and /metrics: for the orchestrator (readiness probe) and Prometheus (scrape), no token.

Neither carries a dataset value: readiness names its checks, metrics are states, codes and sums.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from sandbox.api.deps import RuntimeDep
from sandbox.metrics import readiness

router = APIRouter(include_in_schema=False)


@router.get("/readyz")
def readyz(rt: RuntimeDep) -> JSONResponse:
    """200 when this replica can take traffic, 503 (with the failing checks) when not."""
    ready = readiness(rt)
    body = {"status": "ready" if ready.ok else "not_ready", "checks": ready.checks}
    return JSONResponse(body, status_code=200 if ready.ok else 503)


@router.get("/metrics")
def metrics(rt: RuntimeDep) -> Response:
    data, content_type = rt.metrics.render()
    return Response(data, media_type=content_type)
