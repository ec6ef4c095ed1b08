"""Reserved columns: unit ordinals stay put across versions, ranks number each unit's rows."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from sandbox.workspace.units import derive


def _write(path: Path, units: list[str | None]) -> Path:
    pq.write_table(pa.table({"pid": units, "x": list(range(len(units)))}), path)
    return path


def test_ordinals_are_kept_across_versions_and_new_units_numbered_after(tmp_path: Path) -> None:
    v1 = derive(
        _write(tmp_path / "s1.parquet", ["b", "a", "b", None]),
        tmp_path / "d1.parquet",
        tmp_path / "u1.parquet",
        "pid",
    )
    first = pq.read_table(v1.path).to_pylist()
    assert [r["x"] for r in first] == [0, 1, 2, 3]  # the file's order is kept
    ordinal = {r["pid"]: r["__unit"] for r in first}
    assert ordinal[None] is None and v1.units == 2
    v2 = derive(
        _write(tmp_path / "s2.parquet", ["c", "a", "b"]),
        tmp_path / "d2.parquet",
        tmp_path / "u2.parquet",
        "pid",
        previous_map=v1.units_map,
    )
    second = {r["pid"]: r["__unit"] for r in pq.read_table(v2.path).to_pylist()}
    assert second["a"] == ordinal["a"] and second["b"] == ordinal["b"]
    assert second["c"] == max(ordinal["a"], ordinal["b"]) + 1


def test_ranks_number_each_units_rows_once_in_a_seeded_order(tmp_path: Path) -> None:
    units = [f"u{i % 7}" for i in range(70)] + [None, None]
    out = derive(_write(tmp_path / "s.parquet", units), tmp_path / "d.parquet", tmp_path / "m.parquet", "pid")
    rows = pq.read_table(out.path).to_pylist()
    by_unit: dict[str | None, list[int]] = {}
    for row in rows:
        by_unit.setdefault(row["pid"], []).append(row["__rank"])
    assert all(sorted(ranks) == list(range(1, len(ranks) + 1)) for ranks in by_unit.values())
    again = derive(tmp_path / "s.parquet", tmp_path / "d2.parquet", tmp_path / "m2.parquet", "pid")
    assert pq.read_table(again.path).column("__rank") == pq.read_table(out.path).column("__rank")
    in_file_order = [r["__rank"] for r in rows if r["pid"] == "u0"]
    assert in_file_order != sorted(in_file_order)  # not simply the file's order


def test_one_row_per_unit_ranks_every_row_first(tmp_path: Path) -> None:
    out = derive(
        _write(tmp_path / "s.parquet", ["a", "b", "c"]),
        tmp_path / "d.parquet",
        tmp_path / "m.parquet",
        "pid",
        one_row_per_unit=True,
    )
    assert pq.read_table(out.path).column("__rank").to_pylist() == [1, 1, 1]
