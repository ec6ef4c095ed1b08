"""PII scan of a candidate output: the last check before anything is queued for review.

The gate decides from column levels, and levels are only as right as the source unit made them: a
phone column confirmed as `public`, or a resident ID typed into a "remarks" field that became a group
key, would pass every pass and every threshold. So every text cell of every candidate output (and
every integer cell of a group key: a phone number stored as a number) is scanned with the same
recognizers that classify columns at registration (checksums included). Any hit stops the job.

Each distinct value is scanned once. The result names the column, the entity type and how many cells
matched; never a value.

>>> from policies.privacy.scan import PiiHit
>>> PiiHit("contact", "CN_MOBILE", 3).to_dict()
{'column': 'contact', 'entity': 'CN_MOBILE', 'cells': 3}
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine

from policies.classify.recognizers import DETECTED_ENTITIES

SMALL_COLUMN = 32  # up to this many cells, values are counted in Python: value_counts costs more


@dataclass(frozen=True)
class PiiHit:
    column: str
    entity: str
    cells: int  # cells of the column in which the entity was found

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_TEXT_IDS = frozenset(t.id for t in (pa.string(), pa.large_string(), pa.string_view()))


def _is_text(t: pa.DataType) -> bool:
    return t.id in _TEXT_IDS  # what pa.types.is_string, is_large_string and is_string_view compare


class Memo:
    """The entities found in each text scanned before, for one analyzer: a product called thousands
    of times a day releases the same keys again and again, and Presidio would re-read each. Bounded
    (least recently used out); it lives in the runtime's memory, beside the outputs themselves."""

    def __init__(self, size: int = 65_536) -> None:
        self.size = size
        self._found: OrderedDict[str, frozenset[str]] = OrderedDict()
        self._lock = threading.Lock()
        # (analyzer, language) -> (its recognizers then, the entities to ask for): Presidio rebuilds
        # the supported list from every recognizer on each call; keyed by identity, checked against
        # the registry's recognizers so a recognizer added or removed later is seen.
        self._wanted: dict[tuple[int, str], tuple[AnalyzerEngine, tuple[object, ...], list[str]]] = {}

    def wanted(self, analyzer: AnalyzerEngine, language: str) -> list[str]:
        """`wanted_entities(analyzer, language)`, remembered while the analyzer's recognizers stay."""
        recognizers = tuple(getattr(getattr(analyzer, "registry", None), "recognizers", None) or ())
        key = (id(analyzer), language)
        with self._lock:
            cached = self._wanted.get(key)
        if cached is not None and cached[0] is analyzer and cached[1] == recognizers:
            return cached[2]
        wanted = wanted_entities(analyzer, language)
        with self._lock:
            self._wanted[key] = (analyzer, recognizers, wanted)
        return wanted

    def get(self, text: str) -> frozenset[str] | None:
        with self._lock:
            found = self._found.get(text)
            if found is not None:
                self._found.move_to_end(text)
            return found

    def put(self, text: str, found: frozenset[str]) -> None:
        with self._lock:
            self._found[text] = found
            self._found.move_to_end(text)
            while len(self._found) > self.size:
                self._found.popitem(last=False)


def wanted_entities(analyzer: AnalyzerEngine, language: str) -> list[str]:
    """The entities of `DETECTED_ENTITIES` the analyzer can find in `language`, in that order."""
    supported = set(analyzer.get_supported_entities(language))
    return [e for e in DETECTED_ENTITIES if e in supported]


def _value_counts(column: pa.ChunkedArray | pa.Array) -> tuple[list[str], Sequence[int]]:
    """Distinct non-NULL values as text, first seen first, and how many cells hold each."""
    if len(column) <= SMALL_COLUMN:
        counted: dict[object, int] = {}
        for v in column.to_pylist():
            if v is not None:
                counted[v] = counted.get(v, 0) + 1
        return [str(v) for v in counted], list(counted.values())
    table = pc.value_counts(column.drop_null())
    return [str(v) for v in table.field("values").to_pylist()], table.field("counts").to_pylist()


def scan(
    table: pa.Table,
    analyzer: AnalyzerEngine,
    *,
    numeric_columns: Collection[str] = (),
    language: str = "en",
    memo: Memo | None = None,
) -> tuple[PiiHit, ...]:
    """Every entity found in a text column of `table` (and in the integer columns named), by column.

    `numeric_columns` names integer columns to scan too (the plan's group keys): their values are
    scanned as the text they would be in a file. `memo` (one per analyzer and language) answers
    for texts it has seen.
    """
    wanted = memo.wanted(analyzer, language) if memo is not None else wanted_entities(analyzer, language)
    batch: BatchAnalyzerEngine | None = None  # made only when some text is new to the memo
    hits: list[PiiHit] = []
    for position, field in enumerate(table.schema):  # the types from the schema: a column is read
        name, kind = field.name, field.type  # only if it is to be scanned (most are numbers or flags)
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        if not (_is_text(kind) or (name in numeric_columns and pa.types.is_integer(kind))):
            continue
        column = table.column(position)
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        if not wanted or column.null_count == len(column):
            continue  # nothing to ask for, or no value (a flag column of a table nothing was withheld in)
        values, counts = _value_counts(column)
        known = [memo.get(v) if memo is not None else None for v in values]
        fresh = [v for v, k in zip(values, known, strict=True) if k is None]
        entities: dict[str, frozenset[str]] = {}
        if fresh:
            batch = batch or BatchAnalyzerEngine(analyzer_engine=analyzer)
            analyzed = batch.analyze_iterator(fresh, language=language, entities=wanted, batch_size=64)
            entities = dict(
                zip(fresh, (frozenset(r.entity_type for r in rs) for rs in analyzed), strict=True)
            )
        if memo is not None:
            for v, e in entities.items():
                memo.put(v, e)
        found: dict[str, int] = {}
        for value, k, count in zip(values, known, counts, strict=True):
            for entity in k if k is not None else entities[value]:
                found[entity] = found.get(entity, 0) + count
        hits.extend(PiiHit(name, entity, cells) for entity, cells in sorted(found.items()))
    return tuple(hits)
