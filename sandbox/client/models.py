"""Return types: the API's own response models, plus the few shapes only the client has."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sandbox.api.schemas import (
    ArtifactOut,
    AuditEventOut,
    CandidateOut,
    ColumnOut,
    DatasetOut,
    JobOut,
    ProductCallOut,
    ProductOut,
    ReviewOut,
    ScenarioOut,
    TemplateOut,
    UserOut,
    VerificationOut,
)

__all__ = [
    "RUNNING_STATES",
    "ArtifactOut",
    "AuditEventOut",
    "CandidateOut",
    "ColumnOut",
    "DatasetOut",
    "Download",
    "DryRun",
    "JobOut",
    "ProductCallOut",
    "ProductOut",
    "ReviewOut",
    "ScenarioOut",
    "TemplateOut",
    "UserOut",
    "VerificationOut",
]

RUNNING_STATES = frozenset({"queued", "running", "checking"})


@dataclass(frozen=True)
class Download:
    """A released artifact as downloaded, with the sha256 the release record names."""

    job_id: str
    format: str
    content: bytes
    sha256: str
    media_type: str

    @property
    def verified(self) -> bool:
        return hashlib.sha256(self.content).hexdigest() == self.sha256


@dataclass(frozen=True)
class DryRun:
    """A job run on synthetic data shaped like the granted tables: never real values."""

    synthetic: bool
    columns: list[str]
    rows: list[list[Any]]
    gate_report: list[dict[str, Any]]
    check_report: dict[str, Any]

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> DryRun:
        return cls(
            synthetic=bool(body.get("synthetic", True)),
            columns=list(body.get("columns") or []),
            rows=[list(r) for r in body.get("rows") or []],
            gate_report=list(body.get("gate_report") or []),
            check_report=dict(body.get("check_report") or {}),
        )
