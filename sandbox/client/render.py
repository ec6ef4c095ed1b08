"""Gate reasons as text: the SQL line, a caret under the offending construct, then code, message, hint."""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len


def caret(sql: str, line: int, column: int, construct: str = "") -> list[str]:
    """Two lines: `<n> | <sql line>` and a `^` under `column` (1-based), widened to `~` over the construct
    when the text there is the construct; widths count terminal cells, so CJK text lines up."""
    lines = sql.splitlines() or [""]
    if not 1 <= line <= len(lines):
        return []
    text = lines[line - 1].replace("\t", " ")
    col = max(1, min(column, len(text) + 1))
    gutter = f"{line:>4} | "
    pad = " " * (len(gutter) - 2) + "| " + " " * cell_len(text[: col - 1])
    mark = "^"
    if construct and text[col - 1 : col - 1 + len(construct)].lower() == construct.lower():
        mark += "~" * (cell_len(construct) - 1)
    return [gutter + text, pad + mark]


def _what(reason: dict[str, Any]) -> list[str]:
    out = [f"{reason.get('code')}: {reason.get('message')}"]
    if reason.get("hint"):
        out.append(f"  hint: {reason['hint']}")
    return out


def format_reasons(sql: str, reasons: list[dict[str, Any]]) -> str:
    """Every reason as the CLI and the demo print them: reasons at one position share one caret block
    (in the API's order of first appearance); blocks are blank-line separated."""
    groups: dict[tuple[int, int] | None, list[dict[str, Any]]] = {}
    for r in reasons:
        pos = r.get("position") or None
        groups.setdefault(None if pos is None else (int(pos["line"]), int(pos["column"])), []).append(r)
    blocks = []
    for where, rs in groups.items():
        lines: list[str] = []
        if where is not None:
            lines.append(f"line {where[0]}, column {where[1]}:")
            lines += caret(sql, where[0], where[1], str(rs[0].get("construct") or ""))
        for r in rs:
            lines += _what(r)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
