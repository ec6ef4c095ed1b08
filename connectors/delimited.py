"""CSV and TSV into Arrow: pyarrow parses, we type, and we say where a row went wrong.

The whole file is parsed into memory before the first batch is returned, because types are
inferred over every value (see `connectors.infer`); streaming text sources is a later concern.

pyarrow's errors quote the offending row, so its exceptions are swallowed and rebuilt from the
structured `InvalidRow` (expected and actual field counts, logical row number). That row number
counts records, not lines, and skips blank lines; a quoted field may span lines. To report the
physical line we re-read the file with the stdlib csv module, which splits records the same way,
but only on the error path.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from connectors.errors import ConnectorError
from connectors.infer import infer_table, reader
from connectors.text import clean_name, name_problem, text_codec

DELIMITERS = {"csv": ",", "tsv": "\t"}
_BLOCK_BYTES = 16 << 20  # a single record must fit in one block
_HEADER_BLOCK_BYTES = 1 << 20  # the header is read (and its block type-guessed) on its own


@dataclass(frozen=True)
class _BadRow:
    expected: int
    actual: int
    number: int | None  # pyarrow's 1-based record number, header included


def read_delimited(path: Path, codec: str, format: str) -> pa.RecordBatchReader:
    """Read a CSV or TSV file with a header row; every column typed over the whole file."""
    bad_rows: list[_BadRow] = []

    def on_invalid_row(row: pacsv.InvalidRow) -> str:
        bad_rows.append(_BadRow(row.expected_columns, row.actual_columns, row.number))
        return "error"

    parse = pacsv.ParseOptions(
        delimiter=DELIMITERS[format], newlines_in_values=True, invalid_row_handler=on_invalid_row
    )
    read = pacsv.ReadOptions(
        use_threads=False,  # InvalidRow.number is only known single-threaded
        block_size=_BLOCK_BYTES,
        encoding="utf8" if codec == "utf-8" else codec,
    )
    names = _header(path, read.encoding, parse.delimiter)
    if names is not None:
        problem = name_problem([clean_name(name) for name in names])
        if problem is not None:
            column, words = problem
            raise ConnectorError(
                "malformed_file",
                words,
                line=_physical_line(path, codec, format, 1),
                column=column,
                format=format,
            )
        convert = pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        )
        table = _parse(path, read, parse, convert)
        if table is not None and _ends_in_open_quote(path, table):
            raise ConnectorError(
                "malformed_file",
                "unterminated quoted field",
                format=format,
                line=_physical_line(path, codec, format, table.num_rows + 1),
                column=table.num_columns,
            )
        if table is not None:
            table = table.rename_columns([clean_name(name) for name in names])
            return reader(infer_table(table))
    raise _parse_error(path, codec, format, bad_rows[0] if bad_rows else None)


def _ends_in_open_quote(path: Path, table: pa.Table) -> bool:
    """Whether a quote left open swallowed the rest of the file into the last cell.

    pyarrow accepts that silently, losing every row after it. An unquoted cell cannot hold a line
    break, so a last cell that does was quoted; had its quote closed, the file (less trailing line
    breaks) would end in '"'. The byte 0x22 is never part of a UTF-8 or GB18030 multibyte character.
    """
    if table.num_rows == 0:
        return False
    last = table.column(table.num_columns - 1)[table.num_rows - 1].as_py()
    if last is None or ("\n" not in last and "\r" not in last):
        return False
    with path.open("rb") as file:
        file.seek(max(0, path.stat().st_size - 4096))
        tail = file.read().rstrip(b"\r\n")
    return not tail.endswith(b'"')


def _header(path: Path, encoding: str, delimiter: str) -> list[str] | None:
    """Column names as pyarrow reads them (from its first block), or None if that fails."""
    # Ragged rows are skipped here: the header is line 1, so its problems are reported first.
    small = pacsv.ReadOptions(use_threads=False, block_size=_HEADER_BLOCK_BYTES, encoding=encoding)
    lenient = pacsv.ParseOptions(
        delimiter=delimiter, newlines_in_values=True, invalid_row_handler=lambda row: "skip"
    )
    try:
        with pacsv.open_csv(path, read_options=small, parse_options=lenient) as first_block:
            return list(first_block.schema.names)
    except (pa.ArrowException, UnicodeDecodeError):  # the message may quote a row: dropped
        return None


def _parse(
    path: Path, read: pacsv.ReadOptions, parse: pacsv.ParseOptions, convert: pacsv.ConvertOptions
) -> pa.Table | None:
    try:
        return pacsv.read_csv(path, read_options=read, parse_options=parse, convert_options=convert)
    except (pa.ArrowException, UnicodeDecodeError):  # the message may quote a row: dropped
        return None


def _parse_error(path: Path, codec: str, format: str, bad: _BadRow | None) -> ConnectorError:
    if bad is None:
        return ConnectorError("malformed_file", f"could not parse {format.upper()}", format=format)
    line = None if bad.number is None else _physical_line(path, codec, format, bad.number)
    # The first surplus field, or the first missing one.
    column = bad.expected + 1 if bad.actual > bad.expected else bad.actual + 1
    return ConnectorError(
        "malformed_file",
        f"expected {bad.expected} fields, found {bad.actual}",
        line=line,
        column=column,
        format=format,
    )


def _physical_line(path: Path, codec: str, format: str, record: int) -> int | None:
    """First physical line of the `record`-th non-blank record, counting as pyarrow does."""
    seen, end_of_previous = 0, 0
    try:
        with path.open(encoding=text_codec(codec), newline="") as file:
            rows = csv.reader(file, delimiter=DELIMITERS[format])
            for row in rows:
                if row:
                    seen += 1
                    if seen == record:
                        return end_of_previous + 1
                end_of_previous = rows.line_num
    except (csv.Error, UnicodeDecodeError):  # e.g. a field over csv's size limit: position unknown
        return None
    return None
