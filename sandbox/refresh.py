"""The refresh loop: re-read database sources whose schedule is due, as new versions.

`tick(rt, now)` does one pass and is what tests call; `Refresher` is the small thread that calls it
every `Settings.refresh_poll_s` seconds, started with the job dispatcher and stopped on shutdown.
Several processes may run the loop: a source is claimed by moving its `next_refresh_at` forward in
a conditional UPDATE, so only one of them re-reads it. The next run is counted from now, not from
the missed time, so a server that was down for a week does one re-read, not seven.

A failed re-read is audited (`dataset.refresh_failed`, with its error code only) and stored as the
source's `last_error`; the dataset keeps its current version.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update

from sandbox import audit
from sandbox.catalog.models import Dataset, DatasetSource, User
from sandbox.errors import ErrorCode, SandboxError
from sandbox.runtime import Runtime
from sandbox.sources import next_refresh, version_from_source

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    dataset_id: str
    version: int | None  # the version added (current or held), None if it failed
    error: str | None  # an ErrorCode value


def tick(rt: Runtime, now: datetime | None = None) -> list[Outcome]:
    """Re-read every source due at `now` (default: the current time)."""
    now = now or datetime.now(UTC)
    with rt.catalog.session() as s:
        due = [
            (src.dataset_id, src.refresh, src.next_refresh_at)
            for src in s.execute(
                select(DatasetSource).where(
                    DatasetSource.next_refresh_at.is_not(None), DatasetSource.next_refresh_at <= now
                )
            ).scalars()
        ]
    outcomes = []
    for dataset_id, refresh, was_due in due:
        if _claim(rt, dataset_id, was_due, next_refresh(now, refresh)):
            outcomes.append(refresh_one(rt, dataset_id, now, trigger="schedule"))
    return outcomes


def _claim(rt: Runtime, dataset_id: str, was_due: datetime | None, then: datetime | None) -> bool:
    with rt.catalog.session() as s:
        result = s.execute(
            update(DatasetSource)
            .where(DatasetSource.dataset_id == dataset_id, DatasetSource.next_refresh_at == was_due)
            .values(next_refresh_at=then)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def refresh_one(rt: Runtime, dataset_id: str, now: datetime, trigger: str) -> Outcome:
    """Re-read one source as its dataset's owner; record the outcome on the source row."""
    with rt.catalog.session() as s:
        ds = s.get(Dataset, dataset_id)
        owner = s.get(User, ds.owner_id) if ds is not None else None
        if owner is not None:
            s.expunge(owner)
    error: str | None = None
    version: int | None = None
    if owner is None:
        error = ErrorCode.not_found.value
    else:
        try:
            out = version_from_source(rt, owner, dataset_id, trigger=trigger)
            version = out.held_version.version if out.held_version is not None else out.version
        except SandboxError as e:
            error = e.code.value
        except Exception as e:
            log.error("refresh of %s failed: %s", dataset_id, type(e).__name__)
            error = ErrorCode.internal.value
    record(rt, dataset_id, now, error, trigger, owner)
    return Outcome(dataset_id, version, error)


def record(
    rt: Runtime, dataset_id: str, now: datetime, error: str | None, trigger: str, actor: User | None
) -> None:
    with rt.catalog.session() as s:
        src = s.get(DatasetSource, dataset_id)
        if src is None:
            return
        src.last_refresh_at = now
        src.last_error = error
        if error is not None:
            audit.record(
                s,
                "dataset.refresh_failed",
                actor=actor,
                object_type="dataset",
                object_id=dataset_id,
                detail={"code": error, "trigger": trigger},
            )


class Refresher:
    """Calls `tick` every `poll_s` seconds on its own daemon thread until `stop()`."""

    def __init__(self, rt: Runtime, poll_s: float) -> None:
        self._rt = rt
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sandbox-refresh", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._poll_s):
            try:
                tick(self._rt)
            except Exception as e:
                log.error("refresh tick failed: %s", type(e).__name__)

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
