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


def reason_lines(sql: str, reason: dict[str, Any]) -> list[str]:
    """One reason: where (with the caret when it has a position), then code: message, then the hint."""
    pos = reason.get("position") or None
    out: list[str] = []
    if pos:
        out.append(f"line {pos['line']}, column {pos['column']}:")
        out += caret(sql, int(pos["line"]), int(pos["column"]), str(reason.get("construct") or ""))
    out.append(f"{reason.get('code')}: {reason.get('message')}")
    if reason.get("hint"):
        out.append(f"  hint: {reason['hint']}")
    return out


def format_reasons(sql: str, reasons: list[dict[str, Any]]) -> str:
    """Every reason, blank-line separated, as the CLI and the demo print them."""
    return "\n\n".join("\n".join(reason_lines(sql, r)) for r in reasons)
