"""Job status over real HTTP under concurrency: reads answer while a writer holds the catalog, and long
polls neither hold the API's worker threads nor miss their job's change."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import update
from support import Stack, fail, running_job

from sandbox.catalog import Catalog
from sandbox.catalog.models import Job

POLLS = 45  # more than the 40 worker threads the API runs synchronous endpoints on


def test_status_reads_answer_while_a_writer_holds_the_catalog(stack: Stack) -> None:
    catalog = Catalog(stack.settings.catalog_url())
    try:
        job_id = running_job(catalog, stack.user_ids["operator"])
        writing, release = threading.Event(), threading.Event()

        def writer() -> None:  # a job's write transaction, held open
            with catalog.session() as s:
                s.execute(update(Job).where(Job.id == job_id).values(reason_code="x"))
                writing.set()
                release.wait(60)

        w = threading.Thread(target=writer)
        w.start()
        try:
            assert writing.wait(30)
            with ThreadPoolExecutor(10) as pool:
                futures = [
                    pool.submit(stack["operator"].get, f"/v1/jobs/{job_id}", timeout=20) for _ in range(10)
                ]
                answers = [f.result() for f in futures]  # before the writer lets go
        finally:
            release.set()
            w.join(30)
        assert [r.status_code for r in answers] == [200] * 10
        assert {r.json()["state"] for r in answers} == {"running"}
        assert {r.json()["reason_code"] for r in answers} == {None}
    finally:
        catalog.dispose()


def test_long_polls_leave_the_threads_to_other_requests_and_answer_on_change(stack: Stack) -> None:
    catalog = Catalog(stack.settings.catalog_url())
    headers = {"Authorization": f"Bearer {stack.tokens['operator']}"}
    try:
        job_id = running_job(catalog, stack.user_ids["operator"])

        async def scenario() -> tuple[int, bool, list[httpx.Response]]:
            limits = httpx.Limits(max_connections=POLLS + 5)
            async with httpx.AsyncClient(base_url=stack.url, headers=headers, timeout=60, limits=limits) as c:
                poll = f"/v1/jobs/{job_id}"
                polls = [asyncio.create_task(c.get(poll, params={"wait": 30})) for _ in range(POLLS)]
                await asyncio.sleep(1.0)  # every poll is in, waiting
                other = await c.get("/v1/me")  # queued behind all 40 threads when polls held them
                polls_waiting = not any(p.done() for p in polls)
                await asyncio.to_thread(fail, catalog, job_id)  # another process: no nudge here
                done, _ = await asyncio.wait(polls, timeout=20)
                return other.status_code, polls_waiting, [p.result() for p in done]

        other_status, polls_waiting, answered = asyncio.run(scenario())
        assert other_status == 200
        assert polls_waiting, "the long polls answered before their job changed"
        assert len(answered) == POLLS, "long polls missed their job's change"
        assert {r.json()["state"] for r in answered} == {"failed"}
    finally:
        catalog.dispose()
