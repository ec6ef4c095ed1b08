"""Revocation and exit (seeds O26: revoke at once, destroy retained data irreversibly, keep a record).

- `stop_jobs`: every job of a scenario or operator that has not ended is cancelled. Queued ones never
  start; a running one is stopped by its workspace's stop check (sandbox/run.py `stop_check`, the
  process backend kills the child within about half a second); checked, unreleased outputs
  (candidates) are deleted.
- `revoke_user`: the user is deactivated (its token is refused from the next request), an operator's
  scenarios are revoked and its jobs stopped.
- `exit_operator`: `revoke_user`, then the operator's workspaces and unreleased outputs are deleted and
  one `operator.exited` event lists what was destroyed (ids, paths, sha256s; never values). Released
  artifacts and every record stay: the seeds require the logs to be kept.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sandbox import audit
from sandbox.auth import Role, require
from sandbox.catalog.models import Job, Scenario, User
from sandbox.errors import ErrorCode, SandboxError
from sandbox.runtime import Runtime
from sandbox.vault import sha256_file

LIVE_JOB_STATES = ("queued", "running", "checking", "pending_review")


def stop_jobs(s: Session, actor: User | None, jobs: list[Job], reason_code: str) -> list[str]:
    """Cancel each job that has not ended, in the caller's transaction; returns their ids."""
    from sandbox.jobs import advance

    stopped = []
    for job in jobs:
        if job.state in LIVE_JOB_STATES:
            advance(s, job, "cancelled", actor=actor, reason_code=reason_code)
            stopped.append(job.id)
    return stopped


def live_jobs(s: Session, *, scenario_id: str | None = None, submitter_id: str | None = None) -> list[Job]:
    q = select(Job).where(Job.state.in_(LIVE_JOB_STATES))
    if scenario_id is not None:
        q = q.where(Job.scenario_id == scenario_id)
    if submitter_id is not None:
        q = q.where(Job.submitter_id == submitter_id)
    return list(s.execute(q.order_by(Job.id)).scalars())


@dataclass
class Destroyed:
    path: str  # relative to SANDBOX_HOME
    sha256: str | None  # of each file before deletion (None for a directory's own entry)
    bytes: int


def destroy_tree(root: Path, home: Path) -> list[Destroyed]:
    """Delete a directory, listing each file with its sha256 first (for the destruction record)."""
    if not root.exists():
        return []
    listed = [
        Destroyed(str(p.relative_to(home)), sha256_file(p), p.stat().st_size)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    ]
    shutil.rmtree(root, ignore_errors=True)
    return listed


@dataclass
class Revocation:
    user_id: str
    scenarios_revoked: list[str] = field(default_factory=list)
    jobs_stopped: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _revoke_in(s: Session, actor: User | None, user: User, reason: str) -> Revocation:
    user.active = False
    out = Revocation(user.id)
    for sc in s.execute(
        select(Scenario).where(Scenario.operator_id == user.id, Scenario.state.in_(("pending", "approved")))
    ).scalars():
        sc.state = "revoked"
        sc.decided_by = actor.id if actor else None
        sc.decision_reason = reason or None
        jobs = stop_jobs(s, actor, live_jobs(s, scenario_id=sc.id), "scenario_revoked")
        s.flush()
        audit.record(
            s,
            "scenario.revoked",
            actor=actor,
            object_type="scenario",
            object_id=sc.id,
            detail={"reason": reason, "cancelled_jobs": jobs, "because": "user_revoked"},
        )
        out.scenarios_revoked.append(sc.id)
        out.jobs_stopped += jobs
    out.jobs_stopped += stop_jobs(s, actor, live_jobs(s, submitter_id=user.id), "operator_revoked")
    s.flush()
    audit.record(
        s,
        "user.revoked",
        actor=actor,
        object_type="user",
        object_id=user.id,
        detail={"reason": reason, **out.to_dict()},
    )
    return out


def discard_candidates(rt: Runtime, job_ids: list[str]) -> list[Destroyed]:
    """Delete the workspaces and unreleased outputs of stopped jobs (a running one's is deleted again
    by run_job when its workspace reports)."""
    home = rt.settings.resolved_home()
    gone: list[Destroyed] = []
    for job_id in job_ids:
        gone += destroy_tree(rt.settings.jobs_dir / job_id, home)
    return gone


def revoke_user(rt: Runtime, actor: User | None, user_id: str, reason: str = "") -> Revocation:
    """Deactivate a user; for an operator also revoke its scenarios and stop its jobs."""
    if actor is not None:
        require(actor, Role.admin)
    with rt.catalog.session() as s:
        user = s.get(User, user_id)
        if user is None:
            raise SandboxError(ErrorCode.not_found, kind="user")
        if not user.active:
            raise SandboxError(ErrorCode.invalid_request, reason="the user is already revoked")
        out = _revoke_in(s, actor, user, reason)
    discard_candidates(rt, out.jobs_stopped)
    rt.job_changed()
    return out


def exit_operator(rt: Runtime, actor: User | None, user_id: str, reason: str = "") -> dict[str, Any]:
    """Revoke everything of an operator, delete its workspaces and unreleased outputs, record it all."""
    if actor is not None:
        require(actor, Role.admin)
    home = rt.settings.resolved_home()
    with rt.catalog.session() as s:
        by_name = select(User).where(User.name == user_id)
        user = s.get(User, user_id) or s.execute(by_name).scalar_one_or_none()
        if user is None or Role.operator.value not in user.roles:
            raise SandboxError(ErrorCode.not_found, kind="operator")
        revoked = _revoke_in(s, actor, user, reason) if user.active else Revocation(user.id)
        # Every job of the operator that did not end released: its workspace and candidate go.
        own = s.execute(select(Job).where(Job.submitter_id == user.id).order_by(Job.id)).scalars()
        unreleased = [j.id for j in own if j.state != "released"]
        destroyed = [d for job_id in unreleased for d in destroy_tree(rt.settings.jobs_dir / job_id, home)]
        record = {
            "operator_id": user.id,
            "reason": reason,
            **revoked.to_dict(),
            "workspaces_deleted": sorted({d.path.split("/")[1] for d in destroyed}),
            "files_destroyed": [asdict(d) for d in destroyed],
            "kept": "released artifacts and every catalog and audit record (seeds: logs are kept)",
        }
        audit.record(s, "operator.exited", actor=actor, object_type="user", object_id=user.id, detail=record)
    rt.job_changed()
    return record
