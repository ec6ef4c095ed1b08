"""The refresh schedule's arithmetic and the loop's lifecycle (the re-read: tests/e2e/test_sources.py)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from sandbox.refresh import Refresher, tick
from sandbox.runtime import Runtime
from sandbox.settings import Settings
from sandbox.sources import next_refresh

T = datetime(2026, 1, 31, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("refresh", "expected"),
    [
        ("daily", datetime(2026, 2, 1, 8, 0, tzinfo=UTC)),
        ("weekly", datetime(2026, 2, 7, 8, 0, tzinfo=UTC)),
        ("monthly", datetime(2026, 2, 28, 8, 0, tzinfo=UTC)),  # clamped to the month's end
        ("quarterly", datetime(2026, 4, 30, 8, 0, tzinfo=UTC)),
        ("half-yearly", datetime(2026, 7, 31, 8, 0, tzinfo=UTC)),
        ("yearly", datetime(2027, 1, 31, 8, 0, tzinfo=UTC)),
        ("one-off", None),
        (None, None),
    ],
)
def test_next_refresh(refresh: str | None, expected: datetime | None) -> None:
    assert next_refresh(T, refresh) == expected


def test_the_loop_ticks_and_stops_cleanly(settings: Settings) -> None:
    rt = Runtime(settings)
    try:
        assert tick(rt, T) == []  # nothing registered from a source: nothing due
        loop = Refresher(rt, poll_s=0.05)
        loop.start()
        time.sleep(0.3)
        started = time.monotonic()
        loop.stop()
        assert time.monotonic() - started < 5
        assert not loop._thread.is_alive()
    finally:
        rt.close()


def test_the_dispatcher_starts_and_closes_the_loop(settings: Settings) -> None:
    rt = Runtime(settings.model_copy(update={"refresh_poll_s": 0.05}))
    rt.start_dispatcher()
    refresher = rt.refresher
    assert refresher is not None
    rt.close()
    assert rt.refresher is None and not refresher._thread.is_alive()
