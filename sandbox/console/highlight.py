"""SQL highlighting on the server: sqlglot's tokenizer (DuckDB dialect) turned into <span>s, line by line.

Gate reasons carry a 1-based (line, column); the token starting there (or containing it) is marked so
the operator and the reviewer see which construct each reason is about. Text that does not tokenize
(an unterminated string) is shown plain, escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.errors import TokenError
from sqlglot.tokens import Token, TokenType

_KINDS = {
    TokenType.STRING: "s",
    TokenType.NATIONAL_STRING: "s",
    TokenType.NUMBER: "n",
    TokenType.IDENTIFIER: "i",
    TokenType.VAR: "i",
}


@dataclass(frozen=True)
class Segment:
    text: str
    kind: str  # k keyword, f function, i identifier, s string, n number, p punctuation, c comment, "" space
    mark: int | None = None  # index of the reason marking this token


def offset_of(sql: str, line: int, column: int) -> int:
    """A 1-based (line, column), as gate reasons give it, as a character offset.

    >>> offset_of("SELECT a\\nFROM t", 2, 6)
    14
    """
    start = 0
    for _ in range(line - 1):
        nl = sql.find("\n", start)
        if nl < 0:
            break
        start = nl + 1
    return min(start + column - 1, len(sql))


def _kind(tokens: Sequence[Token], i: int) -> str:
    tok = tokens[i]
    if tok.token_type in _KINDS:
        if tok.token_type == TokenType.VAR and i + 1 < len(tokens) and tokens[i + 1].text == "(":
            return "f"
        return _KINDS[tok.token_type]
    if tok.text[:1].isalpha():
        return "k"
    return "p"


def segments(sql: str, marks: Mapping[int, int] | None = None) -> list[Segment]:
    """The SQL cut into typed segments; `marks` maps a character offset to a reason index."""
    try:
        tokens = DuckDB().tokenize(sql)
    except TokenError:
        return [Segment(sql, "")]
    marks = dict(marks or {})
    out: list[Segment] = []
    pos = 0
    for i, tok in enumerate(tokens):
        if tok.start > pos:
            gap = sql[pos : tok.start]
            out.append(Segment(gap, "" if gap.isspace() else "c"))
        mark = next((r for off, r in marks.items() if tok.start <= off <= tok.end), None)
        out.append(Segment(sql[tok.start : tok.end + 1], _kind(tokens, i), mark))
        pos = tok.end + 1
    if pos < len(sql):
        rest = sql[pos:]
        out.append(Segment(rest, "" if rest.isspace() else "c"))
    return out


def render(sql: str, positions: Sequence[dict[str, int] | None] = ()) -> Markup:
    """Numbered, highlighted lines as a table; reason i's construct gets class `mark` and id `r<i>`."""
    marks: dict[int, int] = {}
    for i, p in enumerate(positions):
        if p and p.get("line") and p.get("column"):
            marks.setdefault(offset_of(sql, int(p["line"]), int(p["column"])), i)
    lines: list[list[str]] = [[]]
    for seg in segments(sql, marks):
        parts = seg.text.split("\n")
        for j, part in enumerate(parts):
            if j:
                lines.append([])
            if not part:
                continue
            classes = " ".join(c for c in (seg.kind, "mark" if seg.mark is not None else "") if c)
            attrs = f' class="{classes}"' if classes else ""
            if seg.mark is not None and j == 0:
                attrs += f' id="r{seg.mark}" data-reason="{seg.mark}"'
            lines[-1].append(f"<span{attrs}>{escape(part)}</span>" if attrs else str(escape(part)))
    rows = "".join(
        f'<tr><td class="ln">{n}</td><td class="code">{"".join(parts)}</td></tr>'
        for n, parts in enumerate(lines, start=1)
    )
    return Markup(f'<table class="sql">{rows}</table>')
