"""JobWatch: long polls wait on the event loop and wake when their own job changes state."""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from support import fail, running_job

from sandbox.auth import Role, add_user
from sandbox.catalog import Catalog
from sandbox.catalog.models import Job
from sandbox.jobs import JobState
from sandbox.runtime import Runtime
from sandbox.settings import Settings


def test_only_the_changed_job_wakes_and_a_nudge_wakes_it_at_once(settings: Settings) -> None:
    rt = Runtime(settings)
    rt.job_watch.poll_s = 60.0  # no periodic re-read: only the nudge can wake the waiter in time
    try:
        with rt.catalog.session() as s:
            op, _ = add_user(s, "op", [Role.operator])
        changed, unchanged = running_job(rt.catalog, op.id), running_job(rt.catalog, op.id)

        async def scenario() -> tuple[float, bool]:
            loop = asyncio.get_running_loop()
            woken = asyncio.create_task(rt.job_watch.wait(changed, JobState.running, 30))
            waiting = asyncio.create_task(rt.job_watch.wait(unchanged, JobState.running, 30))
            await asyncio.sleep(0.2)  # both registered, the watch has read their states once
            started = loop.time()
            await asyncio.to_thread(fail, rt.catalog, changed)
            rt.job_changed()  # as every state change in this process does after its commit
            await asyncio.wait_for(woken, 10)
            still_waiting = not waiting.done()
            waiting.cancel()
            return loop.time() - started, still_waiting

        elapsed, still_waiting = asyncio.run(scenario())
        assert elapsed < 10 and still_waiting
        with rt.catalog.reading() as s:
            assert s.execute(select(Job.state).where(Job.id == changed)).scalar_one() == "failed"
    finally:
        rt.close()


def test_a_change_made_by_another_process_is_seen_by_the_periodic_read(settings: Settings) -> None:
    rt = Runtime(settings)
    other = Catalog(settings.catalog_url())  # a queue worker's catalog: it cannot nudge this watch
    try:
        with rt.catalog.session() as s:
            op, _ = add_user(s, "op", [Role.operator])
        job_id = running_job(rt.catalog, op.id)

        async def scenario() -> bool:
            waiter = asyncio.create_task(rt.job_watch.wait(job_id, JobState.running, 30))
            await asyncio.sleep(0.1)
            await asyncio.to_thread(fail, other, job_id)
            done, _ = await asyncio.wait([waiter], timeout=10)  # the wait itself would last 30 s
            return waiter in done

        assert asyncio.run(scenario())
    finally:
        other.dispose()
        rt.close()
