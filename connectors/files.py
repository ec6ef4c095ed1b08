"""Read a source file into a `pyarrow.RecordBatchReader`: CSV, TSV, JSON lines, Parquet, Excel.

The one entry point is `open_file(FileSpec(...))`. Text formats are decoded (UTF-8 or GB18030/GBK,
detected), parsed, and typed over the whole file so the schema is stable; Parquet streams with the
schema it carries. Whatever goes wrong is a `ConnectorError` whose text holds no cell value.

>>> open_file(FileSpec(Path("户籍.csv"))).schema  # doctest: +SKIP
姓名: string
身份证号: string
收入: int64
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from connectors.delimited import SNIFF_CANDIDATES, read_delimited
from connectors.errors import ConnectorError
from connectors.excel import read_excel
from connectors.infer import BATCH_ROWS
from connectors.jsonlines import read_jsonl
from connectors.text import clean_name, name_problem, resolve_encoding

__all__ = ["ConnectorError", "FileSpec", "detect_format", "open_file"]

FORMATS = ("csv", "tsv", "jsonl", "parquet", "xlsx")
_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".xlsx": "xlsx",
}


@dataclass(frozen=True)
class FileSpec:
    """Where a file is and, when its name does not say, how to read it."""

    path: Path
    format: str | None = None  # one of FORMATS; None = from the suffix
    encoding: str | None = None  # None = detect UTF-8, else GB18030; or "utf-8", "gbk", "gb18030"
    delimiter: str | None = None  # CSV/TSV: None = tab for TSV, else sniffed (, tab ; |)
    header: bool | None = None  # CSV/TSV: None = detected
    sheet: str | int | None = None  # xlsx: sheet name or 0-based index; None = the first
    header_rows: int | None = None  # xlsx: None = detected


def detect_format(path: Path) -> str:
    """The format a file's suffix names; a `.txt` is TSV if its first line has a tab, else CSV."""
    suffix = Path(path).suffix.lower()
    if suffix == ".txt":
        with Path(path).open("rb") as file:
            first_line = file.read(1 << 16).split(b"\n", 1)[0]
        return "tsv" if b"\t" in first_line else "csv"
    if suffix not in _SUFFIXES:
        raise ConnectorError("unsupported_format", "unsupported file suffix")
    return _SUFFIXES[suffix]


def open_file(spec: FileSpec) -> pa.RecordBatchReader:
    """Open `spec` for reading in batches of about 64k rows.

    Text formats are read and checked in full here, so their errors raise now; Parquet errors in
    later row groups raise while iterating.
    """
    path = Path(spec.path)
    format = detect_format(path) if spec.format is None else spec.format.lower()
    if format not in FORMATS:
        raise ConnectorError("unsupported_format", "unsupported format")
    if format == "parquet":
        return _read_parquet(path)
    if format == "xlsx":
        return read_excel(path, spec.sheet, spec.header_rows)
    codec = resolve_encoding(path, spec.encoding, format)
    if format == "jsonl":
        return read_jsonl(path, codec)
    if spec.delimiter is not None and spec.delimiter not in SNIFF_CANDIDATES:
        raise ConnectorError("unsupported_format", "unsupported delimiter", format=format)
    return read_delimited(path, codec, format, spec.delimiter, spec.header)


def _read_parquet(path: Path) -> pa.RecordBatchReader:
    if path.stat().st_size == 0:
        raise ConnectorError("malformed_file", "empty file", line=1, format="parquet")
    opened = _open_parquet(path)
    if opened is None:
        raise ConnectorError("malformed_file", "not a readable Parquet file", format="parquet")
    parquet, schema = opened
    names = [clean_name(name) for name in schema.names]
    bad = name_problem(names)
    if bad is not None:
        parquet.close()
        raise ConnectorError("malformed_file", bad[1], column=bad[0], format="parquet")
    if names != schema.names:
        schema = pa.schema(
            [field.with_name(name) for field, name in zip(schema, names, strict=True)],
            metadata=schema.metadata,
        )
    return pa.RecordBatchReader.from_batches(schema, _parquet_batches(parquet, schema))


def _open_parquet(path: Path) -> tuple[pq.ParquetFile, pa.Schema] | None:
    try:
        parquet = pq.ParquetFile(path)
        return parquet, parquet.schema_arrow
    except (pa.ArrowException, OSError):  # the engine's message is dropped, not passed on
        return None


def _parquet_batches(parquet: pq.ParquetFile, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """Row groups streamed as `schema`; a corrupt page becomes a ConnectorError mid-stream."""
    batches = parquet.iter_batches(batch_size=BATCH_ROWS)
    try:
        while True:
            failed = False
            try:
                batch = next(batches)
            except StopIteration:
                return
            except (pa.ArrowException, OSError):
                failed = True
            if failed:  # raised outside the handler, so the engine's text is not even __context__
                raise ConnectorError("malformed_file", "unreadable Parquet data", format="parquet")
            yield pa.RecordBatch.from_arrays(batch.columns, schema=schema)
    finally:
        parquet.close()
