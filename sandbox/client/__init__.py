"""A typed Python client for the sandbox API: `Client(url, token)` (sync) and `AsyncClient`.

    from sandbox.client import Client, SandboxAPIError
    with Client("http://localhost:8000", token) as c:
        job = c.wait(c.submit(scenario_id, "SELECT district, COUNT(*) FROM residents GROUP BY district").id)

Every error is a `SandboxAPIError` carrying the API's stable code (and `.reasons` for gate refusals).
"""

from __future__ import annotations

from sandbox.client.aio import AsyncClient
from sandbox.client.errors import SandboxAPIError
from sandbox.client.models import (
    AuditEventOut,
    CandidateOut,
    DatasetOut,
    Download,
    DryRun,
    JobOut,
    ReviewOut,
    ScenarioOut,
    UserOut,
    VerificationOut,
)
from sandbox.client.render import format_reasons
from sandbox.client.sync import Client

__all__ = [
    "AsyncClient",
    "AuditEventOut",
    "CandidateOut",
    "Client",
    "DatasetOut",
    "Download",
    "DryRun",
    "JobOut",
    "ReviewOut",
    "SandboxAPIError",
    "ScenarioOut",
    "UserOut",
    "VerificationOut",
    "format_reasons",
]
