"""One sheet of an `.xlsx` workbook as a `pyarrow.RecordBatchReader`, typed like the CSV path.

Government spreadsheets open with a title row merged across the table and a header of two or three
rows whose upper cells are merged over groups of columns:

    2024年人口登记表                       <- title: one non-empty cell; skipped
    基本信息        |        | 收入           <- upper header, "基本信息" merged over two columns
    姓名           | 身份证号 |                <- lower header; "收入" is merged downwards

becomes columns `基本信息_姓名`, `基本信息_身份证号`, `收入`. openpyxl's streaming (read-only) mode
does not report merged ranges, so a merged upper cell shows as a value followed by empty cells; an
empty upper cell takes the value to its left (a horizontal merge), an empty lower cell adds nothing
(a vertical merge). `header_rows` fixes the number of header rows; by default it is detected: after
the first header row, each further row is a header row while the row above it has gaps and this row
is all text.

Cells are turned into text (whole numbers without ".0", dates as YYYY-MM-DD) and typed over the
whole sheet by `connectors.infer`, so a phone number or ID typed into Excel as a number stays text.
The sheet is read in full before the first batch, as the CSV path does.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow as pa

from connectors.errors import ConnectorError
from connectors.infer import infer_table, reader
from connectors.text import clean_name, name_problem

MAX_HEADER_ROWS = 4


def read_excel(
    path: Path, sheet: str | int | None = None, header_rows: int | None = None
) -> pa.RecordBatchReader:
    """The sheet named `sheet` (or at 0-based index `sheet`, default the first one)."""
    book = _open(path)
    rows: list[list[Any]] | None = None
    try:
        ws = _sheet(book, sheet)
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
    except (KeyError, ValueError, TypeError, zipfile.BadZipFile, OSError):
        pass  # raised below, outside the handler, so openpyxl's text is not even __context__
    finally:
        book.close()
    if rows is None:
        raise ConnectorError("malformed_file", "unreadable sheet data", format="xlsx")
    rows = [r for r in rows if any(_present(v) for v in r)]
    while rows and len(rows) > 1 and _is_title(rows[0], rows[1]):
        rows.pop(0)
    if not rows:
        raise ConnectorError("malformed_file", "empty sheet", line=1, format="xlsx")
    count = header_rows if header_rows is not None else detect_header_rows(rows)
    if count < 1 or count >= len(rows) + 1:
        raise ConnectorError("malformed_file", "header_rows does not fit the sheet", format="xlsx")
    names = header_names(rows[:count])
    width = len(names)
    body = rows[count:]
    for number, row in enumerate(body, start=count + 1):
        if any(_present(v) for v in row[width:]):
            raise ConnectorError(
                "malformed_file",
                "a value lies beyond the last named column",
                line=number,
                column=width + 1,
                format="xlsx",
            )
    problem = name_problem(names)
    if problem is not None:
        raise ConnectorError("malformed_file", problem[1], line=count, column=problem[0], format="xlsx")
    columns = [
        pa.array([_text(r[i]) if i < len(r) else None for r in body], type=pa.string()) for i in range(width)
    ]
    return reader(infer_table(pa.table(columns, names=names)))


def _open(path: Path) -> Any:
    book = None
    with contextlib.suppress(zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError):
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    if book is None:
        raise ConnectorError("malformed_file", "not a readable .xlsx workbook", format="xlsx")
    return book


def _sheet(book: Any, sheet: str | int | None) -> Any:
    if sheet is None:
        return book.worksheets[0]
    if isinstance(sheet, int):
        if not 0 <= sheet < len(book.worksheets):
            raise ConnectorError("malformed_file", "no sheet at that index", format="xlsx")
        return book.worksheets[sheet]
    if sheet not in book.sheetnames:
        raise ConnectorError("malformed_file", "no sheet of that name", format="xlsx")
    return book[sheet]


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _width(row: list[Any]) -> int:
    return max((i + 1 for i, v in enumerate(row) if _present(v)), default=0)


def _is_title(row: list[Any], below: list[Any]) -> bool:
    """A lone text cell above a wider row: a table title, not a header."""
    filled = [v for v in row if _present(v)]
    return len(filled) == 1 and isinstance(filled[0], str) and _width(below) > 1


def detect_header_rows(rows: list[list[Any]]) -> int:
    """1, or more while the row above has gaps under the table's width and this row is all text."""
    width = max(_width(r) for r in rows[: MAX_HEADER_ROWS + 1])
    count = 1
    while count < min(MAX_HEADER_ROWS, len(rows) - 1):
        above, row = rows[count - 1], rows[count]
        gaps = any(not _present(above[i]) if i < len(above) else True for i in range(width))
        cells = [row[i] if i < len(row) else None for i in range(width)]
        all_text = all(isinstance(v, str) for v in cells if _present(v))
        if not (gaps and all_text and any(_present(v) for v in cells)):
            break
        count += 1
    return count


def header_names(header: list[list[Any]]) -> list[str]:
    """Join each column's header cells with "_", filling horizontally merged upper cells."""
    width = max(_width(r) for r in header)
    filled: list[list[str]] = []
    for level, row in enumerate(header):
        out: list[str] = []
        last = ""
        for i in range(width):
            value = clean_name(_text(row[i]) or "") if i < len(row) else ""
            if not value and level < len(header) - 1:
                # Upper rows: an empty cell continues the merge to its left, unless that group is
                # already closed by the row above it starting a new group here.
                parent_starts = level > 0 and filled[level - 1][i] != (
                    filled[level - 1][i - 1] if i else None
                )
                value = "" if parent_starts else last
            out.append(value)
            last = value
        filled.append(out)
    names = []
    for i in range(width):
        parts: list[str] = []
        for level in range(len(header)):
            part = filled[level][i]
            if part and (not parts or parts[-1] != part):
                parts.append(part)
        names.append("_".join(parts))
    return names


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e18:
        return str(int(value))
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    text = str(value)
    return text if text.strip() else None
