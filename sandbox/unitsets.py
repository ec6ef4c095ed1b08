"""Where the differencing guard keeps the unit sets of a scenario's released rows (inside the domain).

One Parquet file per checked job under `SANDBOX_HOME/unitsets/<scenario id>/<job id>.parquet`: the
dataset id and the serialized roaring bitmap of `__unit` ordinals of each row the job would release.
A job's sets count against later jobs while it is pending review or released; rejected, failed and
cancelled jobs released nothing, so their files are ignored. The files never leave: no route serves
them, and they hold ordinals, not identifiers (the units map that gives them meaning is in the vault).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from pyroaring import BitMap
from sqlalchemy import select

from sandbox.catalog.models import Job
from sandbox.runtime import Runtime

COUNTING_STATES = ("pending_review", "released")


def directory(rt: Runtime, scenario_id: str) -> Path:
    return rt.settings.resolved_home() / "unitsets" / scenario_id


def earlier(rt: Runtime, scenario_id: str, job_id: str | None = None) -> dict[str, list[BitMap]]:
    """The unit sets of the scenario's rows released or awaiting review, by dataset id."""
    with rt.catalog.session() as s:
        ids = list(
            s.execute(
                select(Job.id).where(Job.scenario_id == scenario_id, Job.state.in_(COUNTING_STATES))
            ).scalars()
        )
    out: dict[str, list[BitMap]] = {}
    for other in ids:
        path = directory(rt, scenario_id) / f"{other}.parquet"
        if other == job_id or not path.is_file():
            continue
        table = pq.read_table(path)
        for dataset, blob in zip(
            table.column("dataset_id").to_pylist(), table.column("units").to_pylist(), strict=True
        ):
            out.setdefault(dataset, []).append(BitMap.deserialize(blob))
    return out


def keep(rt: Runtime, scenario_id: str, job_id: str, sets: Mapping[str, Sequence[BitMap]]) -> None:
    """Store the sets of the rows a job would release (written before it enters review)."""
    target = directory(rt, scenario_id)
    target.mkdir(parents=True, exist_ok=True)
    datasets = [d for d, rows in sets.items() for _ in rows]
    blobs = [b.serialize() for rows in sets.values() for b in rows]
    table = pa.table({"dataset_id": pa.array(datasets, pa.string()), "units": pa.array(blobs, pa.binary())})
    staged = target / f".{job_id}.parquet"
    pq.write_table(table, staged)
    staged.replace(target / f"{job_id}.parquet")
