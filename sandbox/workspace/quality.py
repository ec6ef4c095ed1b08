"""The data quality report of a dataset version, taken at registration (seeds: quality feedback).

Per column: the share of NULLs, an approximate distinct count (HyperLogLog, DuckDB's
`approx_count_distinct`), and, for a column whose values were found to be an identifier, the share
of non-NULL values that are valid for that entity (a resident ID with a correct ISO 7064 check
character and a real birth date, a credit code with a correct GB 32100 check character, a bank card
passing Luhn, a well-formed mobile number or email address). For the whole file: rows and duplicate
rows. All of it is aggregates computed inside DuckDB, one pass per statement; no value leaves.
Duplicate rows are counted as rows minus the distinct 64-bit hashes of whole rows, so the pass holds
8 bytes per distinct row (spilled beyond `memory_mb`) instead of the rows themselves; two distinct
rows share a hash with odds about n^2 / 2^65 (3 in a million for ten million rows).

The checksums are written in SQL from the weights in `policies.classify.recognizers`, so the
report and the recognizers agree on what "valid" is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb

from policies.classify import recognizers as r
from sandbox.workspace.views import quote_ident, quote_str


def _digit(v: str, i: int) -> str:
    return f"TRY_CAST(substr({v}, {i}, 1) AS INTEGER)"


def resident_id_valid_sql(v: str) -> str:
    """SQL: `v` is an 18-character resident ID with a real birth date and its check character.

    >>> con = duckdb.connect()
    >>> con.sql(f"SELECT {resident_id_valid_sql(quote_str('11010519491231002X'))}").fetchall()[0][0]
    True
    >>> con.sql(f"SELECT {resident_id_valid_sql(quote_str('11010519491231003X'))}").fetchall()[0][0]
    False
    """
    total = " + ".join(f"{w} * {_digit(v, i + 1)}" for i, w in enumerate(r.RESIDENT_ID_WEIGHTS))
    return (
        f"(regexp_full_match({v}, '[0-9]{{17}}[0-9X]') AND "
        f"try_strptime(substr({v}, 7, 8), '%Y%m%d') IS NOT NULL AND "
        f"substr({v}, 7, 4) BETWEEN '1900' AND '2099' AND "
        f"CASE WHEN regexp_full_match({v}, '[0-9]{{17}}[0-9X]') "
        f"THEN substr('{r.RESIDENT_ID_CHECK_CHARS}', (({total}) % 11) + 1, 1) = substr({v}, 18, 1) END)"
    )


def uscc_valid_sql(v: str) -> str:
    """SQL: `v` is a unified social credit code with its check character.

    >>> duckdb.sql(f"SELECT {uscc_valid_sql(quote_str('91350100M000100Y43'))}").fetchall()[0][0]
    True
    """
    alphabet = r.USCC_ALPHABET
    pattern = f"[{alphabet}]{{18}}"
    value = [f"(instr('{alphabet}', substr({v}, {i + 1}, 1)) - 1)" for i in range(17)]
    total = " + ".join(f"{w} * {x}" for w, x in zip(r.USCC_WEIGHTS, value, strict=True))
    return (
        f"(regexp_full_match({v}, '{pattern}') AND CASE WHEN regexp_full_match({v}, '{pattern}') "
        f"THEN substr('{alphabet}', ((31 - ({total}) % 31) % 31) + 1, 1) = substr({v}, 18, 1) END)"
    )


def luhn_valid_sql(v: str) -> str:
    """SQL: 16 to 19 digits passing Luhn.

    >>> duckdb.sql(f"SELECT {luhn_valid_sql(quote_str('4111111111111111'))}").fetchall()[0][0]
    True
    """
    digits = f"list_transform(string_split(reverse({v}), ''), lambda d: TRY_CAST(d AS INTEGER))"
    double = "CASE WHEN d > 4 THEN d * 2 - 9 ELSE d * 2 END"
    doubled = f"list_transform({digits}, lambda d, i: CASE WHEN i % 2 = 0 THEN {double} ELSE d END)"
    return (
        f"(regexp_full_match({v}, '[0-9]{{16,19}}') AND CASE WHEN regexp_full_match({v}, '[0-9]{{16,19}}') "
        f"THEN list_sum({doubled}) % 10 = 0 END)"
    )


VALIDATORS = {
    r.CN_RESIDENT_ID: resident_id_valid_sql,
    r.CN_USCC: uscc_valid_sql,
    r.BANK_CARD: luhn_valid_sql,
    r.CN_MOBILE: lambda v: f"regexp_full_match({v}, '(\\+?86)?1[3-9][0-9]{{9}}')",
    r.EMAIL_ADDRESS: lambda v: f"regexp_full_match({v}, '[^@\\s]+@[^@\\s]+\\.[^@\\s]+')",
}


def quality(
    parquet_path: Path,
    columns: Sequence[str],
    entities: Mapping[str, str],
    *,
    excluded: Sequence[str] = (),
    memory_mb: int | None = None,
    temp_dir: Path | None = None,
) -> dict[str, Any]:
    """Null rate, approximate distinct count and entity validity per column; rows and duplicates."""
    source = f"read_parquet({quote_str(str(parquet_path))})"
    wanted = [c for c in columns if c not in excluded]
    with duckdb.connect(":memory:") as con:
        con.execute("SET python_enable_replacements = false")
        con.execute("SET enable_progress_bar = false")
        if memory_mb:
            con.execute(f"SET memory_limit = '{int(memory_mb)}MB'")
        if temp_dir is not None:
            con.execute(f"SET temp_directory = {quote_str(str(temp_dir))}")
        items = ["COUNT(*)"]
        texts = []  # each checked column's trimmed text, computed once below (not once per use)
        for c in wanted:
            q = quote_ident(c)
            items += [f"COUNT({q})", f"approx_count_distinct({q})"]
            check = VALIDATORS.get(entities.get(c, ""))
            if check is not None:
                text = f"__text{len(texts)}"
                texts.append(f", TRIM(CAST({q} AS VARCHAR)) AS {text}")
                items.append(f"COUNT(*) FILTER (WHERE {q} IS NOT NULL AND COALESCE({check(text)}, false))")
        rows_of = f"(SELECT *{''.join(texts)} FROM {source})"
        row = con.execute(f"SELECT {', '.join(items)} FROM {rows_of}").fetchall()[0]
        listed = ", ".join(quote_ident(c) for c in wanted)
        distinct_rows = con.execute(
            f"SELECT COUNT(DISTINCT hash({listed})) FROM {source}"
            if wanted
            else f"SELECT COUNT(*) FROM {source}"
        ).fetchall()
    rows = int(row[0])
    out: dict[str, Any] = {"rows": rows, "duplicate_rows": rows - int(distinct_rows[0][0]), "columns": {}}
    position = 1
    for c in wanted:
        present, distinct = int(row[position]), int(row[position + 1])
        position += 2
        entry: dict[str, Any] = {
            "null_rate": round(1 - present / rows, 4) if rows else 0.0,
            "distinct_approx": distinct,
        }
        if entities.get(c) in VALIDATORS:
            valid = int(row[position])
            position += 1
            entry["entity"] = entities[c]
            entry["valid_rate"] = round(valid / present, 4) if present else None
        out["columns"][c] = entry
    return out
