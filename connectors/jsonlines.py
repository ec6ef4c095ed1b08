"""JSON lines into Arrow: one object per line, keys unioned across lines.

Values are turned into text the way a CSV would carry them (numbers as written, true/false, nested
objects and arrays as compact JSON) and then typed over the whole file like a CSV column, so the
same data gives the same schema in either format. An empty string is null, as in CSV. The whole
file is held in memory (as Arrow string arrays) until types are known.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from connectors.errors import ConnectorError
from connectors.infer import BATCH_ROWS, infer_table, reader
from connectors.text import clean_name, name_problem, text_codec

FORMAT = "jsonl"


class _DuplicateKey(Exception):
    """An object names a key twice; json would silently keep the last."""


def read_jsonl(path: Path, codec: str) -> pa.RecordBatchReader:
    columns: dict[str, list[pa.Array]] = {}  # raw key -> chunks, aligned across keys
    first_line: dict[str, int] = {}
    rows: list[dict[str, str | None]] = []
    done = 0
    failure: tuple[int, str, int | None] | None = None  # line, problem, column

    def flush() -> None:
        nonlocal done
        for key in first_line:
            if key not in columns:
                columns[key] = [pa.nulls(done, pa.string())] if done else []
        for key, chunks in columns.items():
            chunks.append(pa.array([row.get(key) for row in rows], pa.string()))
        done += len(rows)
        rows.clear()

    with path.open(encoding=text_codec(codec)) as file:
        for number, line in enumerate(file, start=1):
            text = line.lstrip("\ufeff") if number == 1 else line
            if not text.strip():
                continue
            obj, problem, column = _parse_line(text)
            if obj is None:
                failure = (number, problem, column)
                break
            for key in obj:
                first_line.setdefault(key, number)
            rows.append({key: _as_text(value) for key, value in obj.items()})
            if len(rows) == BATCH_ROWS:
                flush()
    if failure is not None:  # raised outside any handler, so json's text is not even __context__
        line, problem, column = failure
        raise ConnectorError("malformed_file", problem, line=line, column=column, format=FORMAT)
    flush()

    raw = list(columns)
    names = [clean_name(key) for key in raw]
    bad = name_problem(names)
    if bad is not None:
        index, words = bad
        raise ConnectorError("malformed_file", words, line=first_line[raw[index - 1]], format=FORMAT)
    if not names:
        raise ConnectorError("malformed_file", "no keys in any object", line=1, format=FORMAT)
    table = pa.table([pa.chunked_array(columns[key], pa.string()) for key in raw], names=names)
    return reader(infer_table(table))


def _parse_line(text: str) -> tuple[dict[str, Any] | None, str, int | None]:
    """(object, "", None), or (None, problem, character column)."""
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        return None, "invalid JSON", exc.colno
    except _DuplicateKey:
        return None, "duplicate key", None
    except RecursionError:
        return None, "JSON nested too deeply", None
    except ValueError:  # e.g. an integer beyond Python's digit limit
        return None, "invalid JSON", None
    if not isinstance(obj, dict):
        return None, "expected a JSON object", _first_character(text)
    if "\\u" in text and not _encodable(obj):
        return None, "invalid Unicode escape", None
    return obj, "", None


def _encodable(obj: dict[str, Any]) -> bool:
    """False if a \\uD800-style escape left a lone surrogate, which Arrow (UTF-8) cannot hold."""
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _DuplicateKey
    return obj


def _first_character(text: str) -> int:
    return len(text) - len(text.lstrip()) + 1


def _as_text(value: Any) -> str | None:
    """The value as a CSV cell would hold it."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
