"""Propose a column level for every column of a sample, from what Presidio finds in it.

A source unit confirms or changes the proposal; it is only a starting point, so every rule errs
towards protection. The first rule that applies decides:

1. the privacy unit column -> `join_key` (thresholds count it, so it must stay joinable as a hash);
2. PII other than an identifier found or hinted (name, mobile, bank card, email, IP, passport,
   plate, address, free text) -> `hidden`; this wins over rule 3 when a column holds both;
3. a resident ID or credit code found or hinted -> `join_key`;
4. numeric (integer, float, decimal) -> `aggregate`;
5. date, time or timestamp -> `compare`;
6. boolean -> `group`;
7. string with at most 50 distinct values in the sample, each seen at least twice on average
   -> `group`;
8. anything else -> `hidden`.

An entity counts as found when it occurs in at least 30% of the sampled non-null values
(`FOUND_SHARE`): low enough that a column mixing formats (mobiles and landlines, IDs and
passports) is still caught, high enough that a stray match in a code column (a 16-digit number
that happens to pass Luhn) does not hide it. Shares below the threshold are still reported in
`ColumnProposal.entities` for the source unit to judge.

Values are scanned once per distinct value and weighted by how often they occur. Reasons name
entities, counts and shares, never a value:

>>> ColumnProposal("phone", ColumnLevel.hidden, {"CN_MOBILE": 1.0}, "CN_MOBILE",
...                "CN_MOBILE in 100% of sampled values").reason
'CN_MOBILE in 100% of sampled values'
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine

from policies.classify.recognizers import ALL_ENTITIES, JOIN_KEY_ENTITIES, name_hint
from policies.levels import ColumnLevel

FOUND_SHARE = 0.30
GROUP_MAX_DISTINCT = 50
GROUP_MIN_ROWS_PER_VALUE = 2.0


@dataclass(frozen=True)
class ColumnProposal:
    """The proposed level of one column, and why."""

    column: str
    level: ColumnLevel
    entities: dict[str, float]  # entity -> share of sampled non-null values in which it was found
    name_hint: str | None
    reason: str  # short English, never a value


def classify(
    sample: pa.Table,
    analyzer: AnalyzerEngine,
    *,
    privacy_unit: str | None = None,
    language: str = "en",
) -> list[ColumnProposal]:
    """One proposal per column of `sample`, a bounded sample of rows (the caller bounds it)."""
    if privacy_unit is not None and privacy_unit not in sample.column_names:
        raise ValueError("the privacy unit is not a column of the sample")
    wanted = [e for e in ALL_ENTITIES if e in set(analyzer.get_supported_entities(language))]
    batch = BatchAnalyzerEngine(analyzer_engine=analyzer)
    proposals = []
    for name, column in zip(sample.column_names, sample.columns, strict=True):
        column = _decoded(column)
        values, counts = _distinct_values(column)
        entities = _entity_shares(batch, values, counts, wanted, language) if _scannable(column.type) else {}
        hint = name_hint(name)
        level, reason = _decide(name == privacy_unit, column.type, entities, hint, values, counts)
        proposals.append(ColumnProposal(name, level, entities, hint, reason))
    return proposals


def _decoded(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_dictionary(column.type):
        return column.cast(column.type.value_type)
    return column


def _scannable(t: pa.DataType) -> bool:
    """Flat types whose text could carry an identifier (a phone number stored as an integer)."""
    return (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_string_view(t)
        or pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_decimal(t)
    )


def _distinct_values(column: pa.ChunkedArray) -> tuple[list[object], list[int]]:
    """Distinct non-null values and how often each occurs; none for nested, binary or null columns."""
    t = column.type
    if not (_scannable(t) or pa.types.is_boolean(t) or pa.types.is_temporal(t)):
        return [], []
    counted = pc.value_counts(column.drop_null())
    return counted.field("values").to_pylist(), counted.field("counts").to_pylist()


def _as_text(value: object) -> str:
    """A value as the text it would be in a file: 13812345678.0 reads as 13812345678."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return str(value)


def _entity_shares(
    batch: BatchAnalyzerEngine, values: list[object], counts: list[int], wanted: list[str], language: str
) -> dict[str, float]:
    total = sum(counts)
    if not wanted or total == 0:
        return {}
    found: dict[str, int] = {}
    texts = [_as_text(v) for v in values]
    for results, count in zip(
        batch.analyze_iterator(texts, language=language, entities=wanted, batch_size=64), counts, strict=True
    ):
        for entity in {r.entity_type for r in results}:
            found[entity] = found.get(entity, 0) + count
    return {e: round(c / total, 4) for e, c in sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))}


def _decide(
    is_unit: bool,
    t: pa.DataType,
    entities: dict[str, float],
    hint: str | None,
    values: list[object],
    counts: list[int],
) -> tuple[ColumnLevel, str]:
    if is_unit:
        return ColumnLevel.join_key, "privacy unit"
    found = [e for e, share in entities.items() if share >= FOUND_SHARE]
    for entity in found:
        if entity not in JOIN_KEY_ENTITIES:
            return ColumnLevel.hidden, f"{entity} in {_percent(entities[entity])} of sampled values"
    if hint is not None and hint not in JOIN_KEY_ENTITIES:
        return ColumnLevel.hidden, f"column name suggests {hint}"
    if found:
        return ColumnLevel.join_key, f"{found[0]} in {_percent(entities[found[0]])} of sampled values"
    if hint is not None:
        return ColumnLevel.join_key, f"column name suggests {hint}"
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return ColumnLevel.aggregate, "numeric"
    if pa.types.is_temporal(t):
        return ColumnLevel.compare, "date or time"
    if pa.types.is_boolean(t):
        return ColumnLevel.group, "boolean"
    rows = sum(counts)
    if (
        _scannable(t)
        and values
        and len(values) <= GROUP_MAX_DISTINCT
        and rows >= GROUP_MIN_ROWS_PER_VALUE * len(values)
    ):
        return ColumnLevel.group, f"{len(values)} distinct values in {rows} sampled values"
    if _scannable(t) and values:
        return (
            ColumnLevel.hidden,
            f"{len(values)} distinct values in {rows} sampled values: too many to group",
        )
    return ColumnLevel.hidden, "no rule applies (safe default)"


def _percent(share: float) -> str:
    return f"{math.floor(share * 100)}%"
