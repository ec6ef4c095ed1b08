"""What text files share: which encoding they are in, and whether their column names are usable.

Chinese public data arrives in UTF-8 (often with a BOM, from Excel) or in GBK/GB18030 from older
systems. We validate the whole file by streaming it through a strict decoder before parsing, so a
bad byte is reported once, with its line, instead of surfacing as a parser error deep inside an
engine. The order is fixed: strict UTF-8 first (a GBK file is almost never valid UTF-8), then
GB18030, a superset of GBK.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from connectors.errors import ConnectorError

CHUNK_BYTES = 1 << 20

# codecs' canonical name -> the codec we decode with, and the name we print.
_ACCEPTED: dict[str, tuple[str, str]] = {
    "utf-8": ("utf-8", "UTF-8"),
    "utf-8-sig": ("utf-8", "UTF-8"),
    "gb18030": ("gb18030", "GB18030"),
    "gbk": ("gbk", "GBK"),
    "gb2312": ("gb18030", "GB18030"),  # GB2312 ⊂ GBK ⊂ GB18030
}
_DETECT_ORDER = ("utf-8", "gb18030")
_LABELS = {"utf-8": "UTF-8", "gb18030": "GB18030", "gbk": "GBK"}


@dataclass(frozen=True)
class _Scan:
    bad_offset: int | None  # byte offset of the first undecodable byte, None if all of it decodes
    has_text: bool  # anything but whitespace and BOMs before that point


def resolve_encoding(path: Path, requested: str | None, format: str) -> str:
    """The Python codec to read `path` with; raises for an empty file or undecodable bytes.

    >>> resolve_encoding(Path("人口.csv"), "GBK", "csv")  # doctest: +SKIP
    'gbk'
    """
    if requested is None:
        candidates = _DETECT_ORDER
    else:
        try:
            canonical = codecs.lookup(requested).name
        except LookupError:
            canonical = ""
        if canonical not in _ACCEPTED:
            raise ConnectorError("unknown_encoding", "unsupported encoding", format=format)
        candidates = (_ACCEPTED[canonical][0],)

    failures: dict[str, int] = {}
    for codec in candidates:
        scan = _scan(path, codec)
        if scan.bad_offset is None:
            if not scan.has_text:
                raise ConnectorError("malformed_file", "empty file", line=1, format=format)
            return codec
        failures[codec] = scan.bad_offset
    # Nothing decodes: the codec that got furthest is the likeliest intended one, so report its byte.
    codec, offset = max(failures.items(), key=lambda item: item[1])
    raise ConnectorError(
        "unknown_encoding",
        f"invalid byte sequence for {_LABELS[codec]}",
        line=_line_of(path, offset),
        format=format,
    )


def _scan(path: Path, codec: str) -> _Scan:
    decoder = codecs.getincrementaldecoder(codec)("strict")
    offset, has_text = 0, False
    with path.open("rb") as file:
        while True:
            chunk = file.read(CHUNK_BYTES)
            pending = len(decoder.getstate()[0])
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                return _Scan(offset - pending + exc.start, has_text)
            has_text = has_text or bool(text.replace("\ufeff", "").strip())
            if not chunk:
                return _Scan(None, has_text)
            offset += len(chunk)


def _line_of(path: Path, offset: int) -> int:
    """1-based line of a byte offset; b"\\n" never occurs inside a UTF-8 or GB18030 character."""
    newlines = 0
    with path.open("rb") as file:
        while offset > 0:
            chunk = file.read(min(CHUNK_BYTES, offset))
            if not chunk:
                break
            newlines += chunk.count(b"\n")
            offset -= len(chunk)
    return newlines + 1


def text_codec(codec: str) -> str:
    """The codec for Python's text mode: utf-8-sig drops a leading BOM and is plain UTF-8 otherwise."""
    return "utf-8-sig" if codec == "utf-8" else codec


def clean_name(raw: str) -> str:
    """Names are kept exactly, minus surrounding whitespace and BOMs (Excel puts one on the first)."""
    return raw.strip().strip("\ufeff").strip()


def name_problem(names: Sequence[str]) -> tuple[int, str] | None:
    """(1-based index, problem) of the first unusable cleaned name: SQL cannot address it.

    SQL identifiers are case-insensitive (DuckDB refuses "Name" beside "name"), so duplicates are too.

    >>> name_problem(["姓名", "区", "姓名"])
    (3, 'duplicate column name')
    """
    seen: set[str] = set()
    for index, name in enumerate(names, start=1):
        if not name:
            return index, "empty column name"
        if name.casefold() in seen:
            return index, "duplicate column name"
        seen.add(name.casefold())
    return None
