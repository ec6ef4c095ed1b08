"""Release artifacts: every rule's flag in each file format, and staged files moved or removed whole."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from policies.bundles import SdcRules
from policies.gate.plan import OutputColumn, OutputKind
from policies.privacy import sdc
from sandbox import release

GROUP = OutputColumn("d", OutputKind.group, "d")
COUNT = OutputColumn("n", OutputKind.count)
TOTAL = OutputColumn(
    "s", OutputKind.sum, "x", "__units_s", dominance_total="__dom_total", dominance_top="__dom_top"
)
OUTPUTS = ("d", "n", "s")


def released_table() -> tuple[pa.Table, sdc.SdcReport]:
    """One row per rule, hand-checked (k = 10, counts rounded to 5):

    A released (n 32 -> 30, flagged rounded; s exact, unflagged) · B: s dominated by one unit (N-K),
    so its n goes too (secondary) · C: 4 units (min_units), its key not public · D: a zero sum, its n
    secondary · E: refused by the differencing guard, both cells · F released (n 30) · G: a real NULL
    key, released (n 45). The four withheld rows already cover k units: no complement is added.
    """
    t = pa.table(
        {
            "d": ["A", "B", "rare", "D", "E", "F", None],
            "n": [32, 40, 4, 50, 60, 30, 45],
            "s": [3200, 4000, 400, 0, 6000, 3000, 4500],
            "__units": [32, 40, 4, 50, 60, 30, 45],
            "__units_s": [32, 40, 4, 0, 60, 30, 45],
            "__dom_total": [3200, 4000, 400, 0, 6000, 3000, 4500],
            "__dom_top": [[200, 150], [3900, 10], [200, 100], [0, 0], [200, 150], [200, 150], [200, 150]],
        }
    )
    guard = np.array([False, False, False, False, True, False, False])
    keys = {"d": ["A", "B", "D", "E", "F"]}
    return sdc.apply(t, (GROUP, COUNT, TOTAL), "__units", 10, keys, SdcRules(rounding_base=5), guard)


EXPECTED_FLAGS = {
    (0, "n"): sdc.ROUNDED,
    (1, "n"): sdc.SECONDARY,
    (1, "s"): sdc.DOMINANCE_NK,
    (2, "d"): sdc.KEY_NOT_PUBLIC,
    (2, "n"): sdc.MIN_UNITS,
    (2, "s"): sdc.MIN_UNITS,
    (3, "n"): sdc.SECONDARY,
    (3, "s"): sdc.ZERO,
    (4, "n"): sdc.DIFFERENCING,
    (4, "s"): sdc.DIFFERENCING,
    (5, "n"): sdc.ROUNDED,
    (6, "n"): sdc.ROUNDED,
}


def read_back(path: Path, fmt: str) -> tuple[list[str], list[list[Any]]]:
    """Columns and rows of an artifact as its reader sees them (CSV: the text of each field)."""
    if fmt == "parquet":
        t = pq.read_table(path)
        return t.column_names, [list(r.values()) for r in t.to_pylist()]
    if fmt == "json":
        data = json.loads(path.read_text(encoding="utf-8"))
        return data["columns"], [[r[c] for c in data["columns"]] for r in data["rows"]]
    header, *rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    return header, [[v if v != "" else None for v in row] for row in rows]


@pytest.mark.parametrize("fmt", release.FORMATS)
def test_each_format_flags_every_rule_per_cell_as_the_report_does(tmp_path: Path, fmt: str) -> None:
    table, report = released_table()
    assert {(c.row, c.column): c.rule for c in report.suppressed} == {
        cell: flag for cell, flag in EXPECTED_FLAGS.items() if flag != sdc.ROUNDED
    }
    final = tmp_path / "releases" / "job_1"
    artifacts = release.write_artifacts(table, tmp_path / "staging", final)
    assert artifacts[fmt]["path"] == str(final / f"result.{fmt}")  # recorded where it will be
    columns, rows = read_back(tmp_path / "staging" / f"result.{fmt}", fmt)
    assert columns == [*OUTPUTS, *(f"{c}__flag" for c in OUTPUTS), "suppressed"]
    assert len(rows) == table.num_rows  # no row dropped
    flags = {
        (i, c): row[columns.index(f"{c}__flag")]
        for i, row in enumerate(rows)
        for c in OUTPUTS
        if row[columns.index(f"{c}__flag")] is not None
    }
    assert flags == EXPECTED_FLAGS
    withheld = sdc.CSV_MARKER if fmt == "csv" else None
    for (i, c), flag in EXPECTED_FLAGS.items():
        if flag != sdc.ROUNDED:
            assert rows[i][columns.index(c)] == withheld, (i, c)
    as_read = str if fmt == "csv" else int
    assert [rows[i][columns.index("n")] for i in (0, 5, 6)] == [as_read(30), as_read(30), as_read(45)]
    assert rows[0][columns.index("s")] in (3200, "3200")  # a sum is never rounded, never flagged
    assert rows[6][columns.index("d")] is None  # a real NULL key: no marker, no flag


def test_publish_moves_staged_files_into_place_and_discard_removes_them(tmp_path: Path) -> None:
    table, _ = released_table()
    final = tmp_path / "job_1"
    final.mkdir()
    (final / "left.over").write_text("from an attempt that never committed")
    kept = release.Staged(tmp_path / ".job_1.a.staging", final)
    release.write_artifacts(table, kept.staging, final)
    release.publish(kept)
    assert sorted(p.name for p in final.iterdir()) == ["result.csv", "result.json", "result.parquet"]
    lost = release.Staged(tmp_path / ".job_1.b.staging", final)
    release.write_artifacts(table, lost.staging, final)
    release.discard(lost)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job_1"]
