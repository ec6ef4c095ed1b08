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

from collections.abc import Collection
from dataclasses import asdict, dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine

from policies.classify.recognizers import DETECTED_ENTITIES


@dataclass(frozen=True)
class PiiHit:
    column: str
    entity: str
    cells: int  # cells of the column in which the entity was found

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def scan(
    table: pa.Table,
    analyzer: AnalyzerEngine,
    *,
    numeric_columns: Collection[str] = (),
    language: str = "en",
) -> tuple[PiiHit, ...]:
    """Every entity found in a text column of `table` (and in the integer columns named), by column.

    `numeric_columns` names integer columns to scan too (the plan's group keys): their values are
    scanned as the text they would be in a file.
    """
    wanted = [e for e in DETECTED_ENTITIES if e in set(analyzer.get_supported_entities(language))]
    batch = BatchAnalyzerEngine(analyzer_engine=analyzer)
    hits: list[PiiHit] = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        if not (_is_text(column.type) or (name in numeric_columns and pa.types.is_integer(column.type))):
            continue
        counted = pc.value_counts(column.drop_null())
        values = [str(v) for v in counted.field("values").to_pylist()]
        counts = counted.field("counts").to_pylist()
        if not values or not wanted:
            continue
        found: dict[str, int] = {}
        for results, count in zip(
            batch.analyze_iterator(values, language=language, entities=wanted, batch_size=64),
            counts,
            strict=True,
        ):
            for entity in {r.entity_type for r in results}:
                found[entity] = found.get(entity, 0) + count
        hits.extend(PiiHit(name, entity, cells) for entity, cells in sorted(found.items()))
    return tuple(hits)
