"""Dataset version keys in the catalog, and destroying a dataset (crypto-shredding, seeds O26).

Each vault file of a version is encrypted under its own key (sandbox/vault_crypto.py); the version's
keys are sealed by the keyring and stored in `dataset_keys`. Destroying a dataset deletes every key
row and every vault file of it, revokes the scenarios granting it (stopping their jobs), records a
`destructions` row and one `dataset.destroyed` event listing what was destroyed (versions, paths,
sha256s; never values). The dataset's catalog rows and its audit history stay.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from sandbox import audit, vault_crypto
from sandbox.auth import Role, require
from sandbox.catalog.models import Dataset, DatasetKey, DatasetSource, Destruction, Scenario, User
from sandbox.errors import ErrorCode, SandboxError
from sandbox.revocation import Destroyed, discard_candidates, live_jobs, stop_jobs
from sandbox.runtime import Runtime
from sandbox.vault import StoredVersion, sha256_file


def store(s: Session, rt: Runtime, dataset_id: str, version: int, stored: StoredVersion) -> None:
    """Seal and keep a new version's file keys (nothing when the vault is not encrypted)."""
    if stored.keys:
        sealed = vault_crypto.seal(rt.keyring, dataset_id, version, stored.keys)
        s.add(DatasetKey(dataset_id=dataset_id, version=version, sealed=sealed, created_at=datetime.now(UTC)))


def keys_of(s: Session, rt: Runtime, dataset_id: str, version: int) -> dict[str, bytes]:
    """File name -> key of one version; empty for a version stored in clear."""
    row = s.get(DatasetKey, (dataset_id, version))
    return vault_crypto.unseal(rt.keyring, dataset_id, version, row.sealed) if row is not None else {}


def plain_units_map(rt: Runtime, dataset_id: str, version: int, path: Path, scratch: Path) -> Path:
    """The previous version's units map readable by registration: a plain copy if it is encrypted."""
    with rt.catalog.session() as s:
        key = keys_of(s, rt, dataset_id, version).get(path.name)
    if key is None:
        return path
    vault_crypto.decrypt_to(path, key, scratch)
    return scratch


def is_destroyed(s: Session, dataset_id: str) -> bool:
    return s.get(Destruction, ("dataset", dataset_id)) is not None


def destroy(rt: Runtime, actor: User | None, dataset_id: str, reason: str = "") -> dict[str, Any]:
    """Destroy every version of a dataset: keys, files, grants; one record of what went."""
    if actor is not None:
        require(actor, Role.admin)
    home = rt.settings.resolved_home()
    with rt.catalog.session() as s:
        ds = s.get(Dataset, dataset_id)
        if ds is None:
            raise SandboxError(ErrorCode.not_found, kind="dataset")
        if is_destroyed(s, ds.id):
            raise SandboxError(ErrorCode.already_destroyed, kind="dataset", object_id=ds.id)
        key_versions = sorted(
            k.version for k in s.execute(select(DatasetKey).where(DatasetKey.dataset_id == ds.id)).scalars()
        )
        s.execute(delete(DatasetKey).where(DatasetKey.dataset_id == ds.id))
        # the source spec goes too: its sealed credentials, and the schedule that would re-read it
        s.execute(delete(DatasetSource).where(DatasetSource.dataset_id == ds.id))
        revoked, stopped = [], []
        for sc in s.execute(select(Scenario).where(Scenario.state.in_(("pending", "approved")))).scalars():
            if ds.id in sc.grants:
                sc.state = "revoked"
                sc.decided_by = actor.id if actor else None
                sc.decision_reason = "dataset destroyed"
                jobs = stop_jobs(s, actor, live_jobs(s, scenario_id=sc.id), "dataset_destroyed")
                s.flush()
                detail = {
                    "reason": "dataset destroyed",
                    "cancelled_jobs": jobs,
                    "because": "dataset_destroyed",
                }
                audit.record(
                    s, "scenario.revoked", actor=actor, object_type="scenario", object_id=sc.id, detail=detail
                )
                revoked.append(sc.id)
                stopped += jobs
        folder = rt.vault.root / ds.id
        files: list[Destroyed] = []
        if folder.exists():
            for p in sorted(folder.rglob("*")):
                if p.is_file():
                    files.append(Destroyed(str(p.relative_to(home)), sha256_file(p), p.stat().st_size))
                    p.chmod(0o644)
            shutil.rmtree(folder)
        rt.evict_warm(files_under=folder)  # a warm workspace holds the file open and its key
        s.add(Destruction(object_type="dataset", object_id=ds.id, destroyed_by=actor.id if actor else None,
                          destroyed_at=datetime.now(UTC)))  # fmt: skip
        s.flush()
        record = {
            "dataset_id": ds.id,
            "name": ds.name,
            "reason": reason,
            "keys_destroyed": [vault_crypto.context(ds.id, v) for v in key_versions],
            "files_destroyed": [asdict(f) for f in files],
            "scenarios_revoked": revoked,
            "jobs_stopped": stopped,
        }
        audit.record(
            s, "dataset.destroyed", actor=actor, object_type="dataset", object_id=ds.id, detail=record
        )
    discard_candidates(rt, stopped)
    rt.job_changed()
    return record
