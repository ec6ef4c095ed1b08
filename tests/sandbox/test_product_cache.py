"""A lineage's unit sets as many calls of one product see them at once: each read outside the lock,
merged under it, every released set kept exactly once."""

from __future__ import annotations

import threading

from pyroaring import BitMap

from sandbox import product_ledger
from sandbox.catalog import Catalog
from sandbox.product_cache import UnitSets
from sandbox.settings import Settings


def test_concurrent_refreshes_keep_each_released_set_once(settings: Settings) -> None:
    catalog = Catalog(settings.catalog_url())
    catalog.migrate()
    sets, lineage = UnitSets(), "lin_1"
    expected = [BitMap(range(i, i + 50)) for i in range(40)]
    seen: list[int] = []
    errors: list[BaseException] = []

    def writer() -> None:
        for i, units in enumerate(expected):
            with catalog.session() as s:
                product_ledger.keep_sets(s, lineage, {"ds_a" if i % 2 else "ds_b": [units]})

    def reader() -> None:
        try:
            for _ in range(30):
                with catalog.reading() as s:
                    got = sets.refresh(s, lineage)
                seen.append(sum(len(v) for v in got.values()))
        except BaseException as e:  # surfaced below: a failed thread must fail the test
            errors.append(e)

    threads = [threading.Thread(target=writer), *(threading.Thread(target=reader) for _ in range(6))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with catalog.reading() as s:
        final = sets.refresh(s, lineage)
    catalog.dispose()
    assert not errors
    kept = [b for rows in final.values() for b in rows]
    assert sorted(map(tuple, kept)) == sorted(map(tuple, expected))  # each once, none lost
    assert len(sets.digests) == len(expected) and all(n <= len(expected) for n in seen)
    assert ("ds_a", "nope") not in sets
