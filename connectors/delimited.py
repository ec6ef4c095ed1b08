"""CSV and TSV into Arrow: pyarrow parses, we type, and we say where a row went wrong.

Types are inferred over every value (see `connectors.infer`), yet the file is never held whole: a
first streaming pass parses it (reporting any bad row before a batch is returned) and narrows each
column's type block by block; the reader returned parses it again and casts each block.

pyarrow's errors quote the offending row, so its exceptions are swallowed and rebuilt from the
structured `InvalidRow` (expected and actual field counts, logical row number). That row number
counts records, not lines, and skips blank lines; a quoted field may span lines. To report the
physical line we re-read the file with the stdlib csv module, which splits records the same way,
but only on the error path.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from connectors.errors import ConnectorError
from connectors.infer import BATCH_ROWS, Inference, infer_table
from connectors.text import clean_name, name_problem, text_codec

DELIMITERS = {"csv": ",", "tsv": "\t"}
SNIFF_CANDIDATES = (",", "\t", ";", "|")
_SNIFF_BYTES = 64 << 10
_SNIFF_LINES = 50
# pyarrow's streaming reader reads blocks ahead of its consumer, so memory grows with the block size:
# 1 MiB keeps it small; a file with a record longer than that is read again with 16 MiB blocks.
_BLOCK_BYTES = (1 << 20, 16 << 20)  # a single record must fit in one block
_HEADER_BLOCK_BYTES = 1 << 20  # the header is read (and its block type-guessed) on its own


@dataclass(frozen=True)
class _BadRow:
    expected: int
    actual: int
    number: int | None  # pyarrow's 1-based record number, header included


def sniff_delimiter(path: Path, codec: str) -> str:
    """The candidate found the same nonzero number of times on most of the first lines, most often.

    Comma, tab, semicolon (European exports) and pipe (mainframe extracts); ties go in that order.
    Quoted fields are not parsed here: a delimiter inside quotes only lowers its consistency.
    """
    with path.open("rb") as file:
        head = file.read(_SNIFF_BYTES)
    text = head.decode(text_codec(codec), errors="ignore").lstrip("\ufeff")
    lines = [line for line in text.splitlines()[:_SNIFF_LINES] if line.strip()]
    if len(lines) > 1 and len(head) == _SNIFF_BYTES:
        lines = lines[:-1]  # the last one may be cut
    best, best_score = ",", (0, 0)
    for candidate in SNIFF_CANDIDATES:
        counts = [line.count(candidate) for line in lines]
        if not counts or max(counts) == 0:
            continue
        mode = max(set(counts), key=counts.count)
        score = (counts.count(mode) if mode else 0, mode)
        if score > best_score:
            best, best_score = candidate, score
    return best


def read_delimited(
    path: Path, codec: str, format: str, delimiter: str | None = None, header: bool | None = None
) -> pa.RecordBatchReader:
    """Read a delimited file; every column typed over the whole file.

    `delimiter` None: tab for TSV, else sniffed. `header` None: the first row is a header unless
    every column whose values have a non-text type would take its first-row "name" as a value too
    (then the columns are named column_1, column_2, ...).
    """
    if delimiter is None:
        delimiter = "\t" if format == "tsv" else sniff_delimiter(path, codec)
    result = _read(path, codec, format, delimiter, header is not False)
    if header is None and _first_row_is_data(result.schema):
        result = _read(path, codec, format, delimiter, False)
    return result


def _first_row_is_data(schema: pa.Schema) -> bool:
    typed = [(field.name, field.type) for field in schema]
    non_text = [(name, t) for name, t in typed if not pa.types.is_string(t)]
    if not non_text:
        return False
    for name, type_ in non_text:
        probe = infer_table(pa.table({"v": pa.array([name, None], type=pa.string())})).column(0).type
        if probe != type_ and not (pa.types.is_floating(type_) and pa.types.is_integer(probe)):
            return False
    return True


def _read(path: Path, codec: str, format: str, delimiter: str, has_header: bool) -> pa.RecordBatchReader:
    bad_rows: list[_BadRow] = []

    def on_invalid_row(row: pacsv.InvalidRow) -> str:
        bad_rows.append(_BadRow(row.expected_columns, row.actual_columns, row.number))
        return "error"

    parse = pacsv.ParseOptions(
        delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_invalid_row
    )
    read = pacsv.ReadOptions(
        use_threads=False,  # InvalidRow.number is only known single-threaded
        block_size=_BLOCK_BYTES[0],
        encoding="utf8" if codec == "utf-8" else codec,
    )
    names = _header(path, read.encoding, parse.delimiter)
    if names is not None and not has_header:
        names = [f"column_{i}" for i in range(1, len(names) + 1)]
        read.column_names = names
    if names is not None:
        problem = name_problem([clean_name(name) for name in names])
        if problem is not None:
            column, words = problem
            raise ConnectorError(
                "malformed_file",
                words,
                line=_physical_line(path, codec, delimiter, 1),
                column=column,
                format=format,
            )
        convert = pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        )
        inference = Inference([clean_name(name) for name in names])
        scanned = _scan(path, read, parse, convert, inference)
        if scanned is None and not bad_rows:  # no bad row: perhaps one longer than a block
            read.block_size = _BLOCK_BYTES[-1]
            inference = Inference([clean_name(name) for name in names])
            scanned = _scan(path, read, parse, convert, inference)
        if scanned is not None:
            rows, last = scanned
            if last is not None and ("\n" in last or "\r" in last) and _ends_in_open_quote(path):
                raise ConnectorError(
                    "malformed_file",
                    "unterminated quoted field",
                    format=format,
                    line=_physical_line(path, codec, delimiter, rows + int(has_header)),
                    column=len(names),
                )
            return pa.RecordBatchReader.from_batches(
                inference.schema(), _typed(path, read, parse, convert, inference)
            )
    raise _parse_error(path, codec, format, delimiter, bad_rows[0] if bad_rows else None, has_header)


def _scan(
    path: Path,
    read: pacsv.ReadOptions,
    parse: pacsv.ParseOptions,
    convert: pacsv.ConvertOptions,
    inference: Inference,
) -> tuple[int, str | None] | None:
    """The first pass: rows and the last row's last cell, types narrowed; None if it does not parse."""
    rows, last = 0, None
    try:
        with pacsv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert) as blocks:
            for block in blocks:
                inference.update(block)
                if block.num_rows:
                    rows += block.num_rows
                    last = block.column(block.num_columns - 1)[block.num_rows - 1].as_py()
    except (pa.ArrowException, UnicodeDecodeError):  # the message may quote a row: dropped
        return None
    return rows, last


def _typed(
    path: Path,
    read: pacsv.ReadOptions,
    parse: pacsv.ParseOptions,
    convert: pacsv.ConvertOptions,
    inference: Inference,
) -> Iterator[pa.RecordBatch]:
    """The second pass: the same blocks, cast to the types the first pass settled on."""
    with pacsv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert) as blocks:
        for block in blocks:
            typed = inference.cast(block)
            for offset in range(0, typed.num_rows, BATCH_ROWS):
                yield typed.slice(offset, BATCH_ROWS)


def _ends_in_open_quote(path: Path) -> bool:
    """Whether a quote left open swallowed the rest of the file into the last cell (which holds a
    line break, so it was quoted).

    pyarrow accepts that silently, losing every row after it. Had its quote closed, the file (less
    trailing line breaks) would end in '"'. The byte 0x22 is never part of a UTF-8 or GB18030
    multibyte character.
    """
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


def _parse_error(
    path: Path, codec: str, format: str, delimiter: str, bad: _BadRow | None, has_header: bool
) -> ConnectorError:
    if bad is None:
        return ConnectorError("malformed_file", f"could not parse {format.upper()}", format=format)
    number = None if bad.number is None else bad.number - (0 if has_header else 1)
    line = None if number is None else _physical_line(path, codec, delimiter, number)
    # The first surplus field, or the first missing one.
    column = bad.expected + 1 if bad.actual > bad.expected else bad.actual + 1
    return ConnectorError(
        "malformed_file",
        f"expected {bad.expected} fields, found {bad.actual}",
        line=line,
        column=column,
        format=format,
    )


def _physical_line(path: Path, codec: str, delimiter: str, record: int) -> int | None:
    """First physical line of the `record`-th non-blank record, counting as pyarrow does."""
    seen, end_of_previous = 0, 0
    try:
        with path.open(encoding=text_codec(codec), newline="") as file:
            rows = csv.reader(file, delimiter=delimiter)
            for row in rows:
                if row:
                    seen += 1
                    if seen == record:
                        return end_of_previous + 1
                end_of_previous = rows.line_num
    except (csv.Error, UnicodeDecodeError):  # e.g. a field over csv's size limit: position unknown
        return None
    return None
