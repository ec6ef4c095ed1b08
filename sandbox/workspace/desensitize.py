"""Desensitization (脱敏) declared per column in a scenario grant, done as SQL inside the view.

GB/T 37964 techniques, each one DuckDB expression over the vault column, so rows are never touched in
Python and the operator's query only ever sees the desensitized value:

| method | for | becomes | type |
|---|---|---|---|
| `hash` | any | HMAC-SHA256 under the scenario key (as `join_key` columns always are) | string |
| `mask` | text | first 3 and last 4 characters kept, the rest `*` (13812345678 -> 138****5678) | string |
| `band` | numbers | the lower bound of a band of `width` (age 37, width 10 -> 30) | int64 |
| `bucket` | numbers | the lower bound of a bucket of `width` (amount 12345.6, width 1000 -> 12000) | double |
| `month`, `year` | dates, timestamps | the first day of the month or year | date32[day] |
| `province`, `city`, `district` | addresses | the address up to that division (广东省深圳市南山区) | string |

The gate must reason about the column it will see, so `result_type` gives the registered type after
desensitization (`ColumnGrant.type`): a masked phone is text, a banded age an integer.

>>> import duckdb
>>> from sandbox.workspace.views import quote_str
>>> duckdb.sql(f"SELECT {expression(Desensitization('mask'), quote_str('13812345678'), b'k')}").fetchall()
[('138****5678',)]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

METHODS: dict[str, str] = {
    "hash": "any",
    "mask": "text",
    "band": "number",
    "bucket": "number",
    "month": "date",
    "year": "date",
    "province": "text",
    "city": "text",
    "district": "text",
}
_NUMERIC = ("int", "uint", "float", "double", "decimal", "halffloat")
_TEMPORAL = ("date", "timestamp")
_PROVINCE = r"^.*?(省|自治区|特别行政区|市)"
_CITY = r"^(.*?(省|自治区))?.*?(市|自治州|地区|盟)"
_DISTRICT = _CITY + r".*?(区|县|旗|市)"
_ADDRESS = {"province": _PROVINCE, "city": _CITY, "district": _DISTRICT}


@dataclass(frozen=True)
class Desensitization:
    method: str
    width: float | None = None  # band and bucket only


def applicable(method: str, type_: str) -> bool:
    """Whether `method` fits a column of registered Arrow type `type_`.

    >>> applicable("band", "int64"), applicable("band", "string"), applicable("month", "date32[day]")
    (True, False, True)
    """
    kind = METHODS.get(method)
    if kind is None:
        return False
    if kind == "number":
        return type_.startswith(_NUMERIC)
    if kind == "date":
        return type_.startswith(_TEMPORAL)
    if kind == "text":
        return type_ in ("string", "large_string", "string_view")
    return True


def result_type(d: Desensitization, type_: str) -> str:
    """The Arrow type the view gives the column.

    >>> result_type(Desensitization("band", 10), "int32"), result_type(Desensitization("mask"), "string")
    ('int64', 'string')
    """
    if d.method in ("band",):
        return "int64"
    if d.method == "bucket":
        return "double"
    if d.method in ("month", "year"):
        return "date32[day]"
    return "string"


def expression(d: Desensitization, column_sql: str, key: bytes) -> str:
    """The SQL expression that replaces the column in the view (NULL stays NULL)."""
    from sandbox.workspace.views import hmac_sql

    text = f"CAST({column_sql} AS VARCHAR)"
    if d.method == "hash":
        return hmac_sql(column_sql, key)
    if d.method == "mask":
        return (
            f"CASE WHEN length({text}) > 7 THEN left({text}, 3) || repeat('*', length({text}) - 7) || "
            f"right({text}, 4) ELSE repeat('*', length({text})) END"
        )
    if d.method in ("band", "bucket"):
        width = float(d.width or 10)
        lower = f"floor(CAST({column_sql} AS DOUBLE) / {width!r}) * {width!r}"
        return f"CAST({lower} AS BIGINT)" if d.method == "band" else f"CAST({lower} AS DOUBLE)"
    if d.method in ("month", "year"):
        return f"CAST(date_trunc('{d.method}', {column_sql}) AS DATE)"
    if d.method in _ADDRESS:
        prefix = f"regexp_extract({text}, '{_ADDRESS[d.method]}', 0)"
        return f"CASE WHEN {column_sql} IS NULL THEN NULL ELSE NULLIF({prefix}, '') END"
    raise ValueError(f"unknown desensitization method {d.method!r}")


def parse(entries: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Desensitization]:
    """A grant's stored entries for one dataset (column -> {"method", "width"}) as objects."""
    return {
        column: Desensitization(str(entry["method"]), entry.get("width"))
        for column, entry in (entries or {}).items()
    }


def granted_type(type_: str, entry: Mapping[str, Any] | None) -> str:
    """The type the gate sees for a granted column: desensitized if the grant says so."""
    return (
        type_ if not entry else result_type(Desensitization(str(entry["method"]), entry.get("width")), type_)
    )
