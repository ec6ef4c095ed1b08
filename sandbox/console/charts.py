"""Inline SVG charts, no dependency: a bar chart of a grouped result and the budget spent over time.

Both return None when there is nothing to draw, so a template can simply skip them. Labels are escaped;
only released or candidate outputs (already through the privacy layer) are ever drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape

MAX_BARS = 40


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int | float):
        return float(v) if v == v else None
    return None


def pick_columns(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> tuple[int, int] | None:
    """The first text column as labels and the first numeric column as values, if both exist; the
    `suppressed` mark and the `__flag` columns of an SDC table are neither."""
    data = [i for i, c in enumerate(columns) if c != "suppressed" and not c.endswith("__flag")]
    label = next((i for i in data if any(isinstance(r[i], str) for r in rows)), None)
    value = next(
        (i for i in data if i != label and any(_number(r[i]) is not None for r in rows)),
        None,
    )
    return None if label is None or value is None else (label, value)


def bar_chart(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> Markup | None:
    """Horizontal bars, one per row with a value; suppressed rows (no value) are left out."""
    picked = pick_columns(columns, rows)
    if picked is None:
        return None
    li, vi = picked
    bars = [(str(r[li]), v) for r in rows if (v := _number(r[vi])) is not None][:MAX_BARS]
    if not bars:
        return None
    top = max(abs(v) for _, v in bars) or 1.0
    label_w, bar_w, row_h = 160, 420, 22
    height = row_h * len(bars) + 30
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {label_w + bar_w + 90} {height}" '
        f'width="{label_w + bar_w + 90}" height="{height}" aria-label="{escape(title or columns[vi])}">',
        f'<text x="{label_w}" y="14" class="axis">{escape(columns[vi])}</text>',
    ]
    for n, (label, v) in enumerate(bars):
        y = 22 + n * row_h
        w = max(1.0, bar_w * abs(v) / top)
        parts.append(f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{escape(label[:24])}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{row_h - 6}" class="bar"/>')
        parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 14}">{escape(f"{v:,.4g}")}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def budget_chart(points: Sequence[tuple[datetime, float]], budget: float | None) -> Markup | None:
    """Cumulative epsilon spent, as steps over time, with the budget as a dashed line."""
    if not points:
        return None
    total = 0.0
    steps: list[tuple[datetime, float]] = []
    for at, eps in points:
        total += eps
        steps.append((at, total))
    w, h, pad = 560, 200, 36
    t0, t1 = steps[0][0].timestamp(), steps[-1][0].timestamp()
    span = (t1 - t0) or 1.0
    ymax = max(total, budget or 0.0) or 1.0

    def xy(t: float, e: float) -> tuple[float, float]:
        return pad + (w - 2 * pad) * (t - t0) / span, h - pad - (h - 2 * pad) * e / ymax

    path = [f"M{pad},{h - pad}"]
    prev = 0.0
    for at, e in steps:
        x, y_prev = xy(at.timestamp(), prev)
        _, y = xy(at.timestamp(), e)
        path.append(f"L{x:.1f},{y_prev:.1f} L{x:.1f},{y:.1f}")
        prev = e
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {w} {h}" width="{w}" height="{h}" aria-label="epsilon">',
        f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" class="axisline"/>',
        f'<path d="{" ".join(path)}" class="line"/>',
        f'<text x="{pad}" y="{h - 10}" class="axis">{escape(steps[0][0].strftime("%Y-%m-%d %H:%M"))}</text>',
        f'<text x="{w - pad}" y="{h - 10}" text-anchor="end" class="axis">'
        f"{escape(steps[-1][0].strftime('%Y-%m-%d %H:%M'))}</text>",
        f'<text x="{pad}" y="{pad - 8}" class="axis">ε {total:.4g}</text>',
    ]
    if budget:
        _, by = xy(t0, budget)
        parts.append(f'<line x1="{pad}" y1="{by:.1f}" x2="{w - pad}" y2="{by:.1f}" class="budget"/>')
        parts.append(
            f'<text x="{w - pad}" y="{by - 4:.1f}" text-anchor="end" class="axis">{budget:.4g}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
