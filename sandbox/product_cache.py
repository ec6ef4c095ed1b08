"""What a product call may reuse from the calls before it, and how it knows the catalog has not moved.

A call re-reads the product, its template and scenario, the granted tables (levels, public keys,
versions), the pin and the data keys: about ten catalog reads, the same answer every time until
something changes. Every such change is a state change, and every state change is an audit event
written in the same transaction (`sandbox.audit`). So the seq of the newest event among the types
that can change what a call prepares (`sandbox.audit.CHANGE_EVENTS`) is a generation, kept in the
audit head (`changed_seq`, moved by `audit.record`): a call reads that one row first, and reuses its
process's entry only when the generation is the one the entry was read at. Reading the generation
before the entry means a change committed in between makes the entry look older than it is (read
again next call), never newer. Processes sharing one catalog each keep their own entries and see
each other's changes through the same head. The entries hold the views' data keys, as a call does.

What is not reused: whatever depends on time (a scenario's expiry is compared on every call) or
grows with calls (the lineage's released unit sets are topped up from the catalog on every call;
`UnitSets`), and everything the parameter values decide (the gate's decision has its own cache in
`policies.gate.params`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from typing import Any

from pyroaring import BitMap
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from sandbox.catalog.models import AuditHead, ProductUnitSet


def generation(s: Session) -> int:
    """The seq of the newest event that can change a call's preparation (0 before any): one row."""
    return int(s.connection().execute(_GENERATION).scalar() or 0)


_HEAD = AuditHead.__table__
_GENERATION = select(_HEAD.c.changed_seq).where(_HEAD.c.id == 1)


@dataclass
class UnitSets:
    """A lineage's released unit sets, by dataset, topped up with the rows this process has not seen.

    Rows are only ever added (digest-keyed), so an unchanged count means nothing new; a count that
    moved fetches the digests, then the blobs of the new ones only."""

    digests: set[tuple[str, str]] = field(default_factory=set)
    by_dataset: dict[str, list[BitMap]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def refresh(self, s: Session, lineage_id: str) -> dict[str, list[BitMap]]:
        """The lineage's sets as the catalog has them now. The catalog is read outside the lock (a
        read releases the GIL, and a caller woken on a lock owns it while it waits for the GIL: calls
        of one product would queue behind each other's reads); the lock guards only the merge, which
        keeps a digest once however many callers fetched it."""
        count = s.connection().execute(_COUNT, {"lineage": lineage_id}).scalar()
        with self.lock:
            if count == len(self.digests):
                return self._snapshot()
            known = set(self.digests)
        where = ProductUnitSet.lineage_id == lineage_id
        present = {(d, g) for d, g in s.execute(select(*_KEY).where(where))}
        reset = not known <= present  # a row went away (never expected): read all again
        new = present if reset else present - known
        wanted = sorted({g for _, g in new})
        few = ProductUnitSet.digest.in_(wanted) if len(wanted) <= 500 else True  # else: all
        rows = [
            (d, g, blob) for d, g, blob in s.execute(select(*_KEY, ProductUnitSet.units).where(where, few))
        ]
        with self.lock:
            if reset:
                self.digests, self.by_dataset = set(), {}
            for dataset_id, digest, blob in rows:
                key = (dataset_id, digest)
                if key in new and key not in self.digests:
                    self.by_dataset.setdefault(dataset_id, []).append(BitMap.deserialize(blob))
                    self.digests.add(key)
            return self._snapshot()

    def _snapshot(self) -> dict[str, list[BitMap]]:
        return {k: list(v) for k, v in self.by_dataset.items()}  # BitMaps are never mutated

    def __contains__(self, key: object) -> bool:
        """Whether (dataset, digest) was in the catalog at the last refresh."""
        with self.lock:
            return key in self.digests


_KEY = (ProductUnitSet.dataset_id, ProductUnitSet.digest)
_SETS = ProductUnitSet.__table__
_COUNT = select(func.count()).select_from(_SETS).where(_SETS.c.lineage_id == bindparam("lineage"))


class AtGeneration:
    """Values per key, each kept with the generation it was read at and reused only while the
    catalog's generation is that one. Bounded (least recently used out), shared by threads; a
    `load()` runs outside the lock, and one that raises keeps nothing."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[int, Any]] = OrderedDict()

    def get(self, key: str, gen: int, load: Callable[[], Any]) -> Any:
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit[0] == gen:
                self._entries.move_to_end(key)
                return hit[1]
        value = load()
        with self._lock:
            self._entries[key] = (gen, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return value

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


class PreparedCache:
    """Per process: a product's preparation at a generation, and each lineage's unit sets.

    Bounded (least recently used out) so a catalog with many products cannot grow it without end."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._products = AtGeneration(size)
        self._sets: OrderedDict[str, UnitSets] = OrderedDict()

    def get(self, s: Session, product_id: str, load: Callable[[], Any], gen: int | None = None) -> Any:
        """The product's entry at the current generation: reused, or `load()`-ed and kept (`load`
        raises only when there is no such product). `gen`: the generation as this request already
        read it (authentication reads it first; a change committed since makes the entry look older
        than it is, never newer)."""
        return self._products.get(product_id, generation(s) if gen is None else gen, load)

    def unit_sets(self, s: Session, lineage_id: str) -> dict[str, list[BitMap]]:
        with self._lock:
            sets = self._sets.get(lineage_id)
            if sets is None:
                sets = self._sets[lineage_id] = UnitSets()
            self._sets.move_to_end(lineage_id)
            while len(self._sets) > self.size:
                self._sets.popitem(last=False)
        return sets.refresh(s, lineage_id)

    def known_sets(self, lineage_id: str) -> Container[tuple[str, str]]:
        """(dataset, digest) of the lineage's unit sets already in the catalog, as last read: asked
        one by one, never copied (a lineage's history only grows)."""
        with self._lock:
            sets = self._sets.get(lineage_id)
        return sets if sets is not None else frozenset()
