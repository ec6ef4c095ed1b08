"""Reserved columns: unit ordinals stay put across versions, ranks number each unit's rows."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from sandbox.workspace.units import Derived, derive, write


def _write(path: Path, units: list[str | None], column: str = "pid") -> Path:
    pq.write_table(pa.table({column: units, "x": list(range(len(units)))}), path)
    return path


def _derive(tmp_path: Path, name: str, units: list[str | None], **kw: object) -> Derived:
    staged = _write(tmp_path / f"{name}.parquet", units)
    return derive(staged, tmp_path / f"{name}-ranks.parquet", tmp_path / f"{name}-map.parquet", "pid", **kw)  # type: ignore[arg-type]


def _rows(derived: Derived, out: Path) -> list[dict]:
    return pq.read_table(write(derived, out)).to_pylist()


def test_ordinals_are_kept_across_versions_and_new_units_numbered_after(tmp_path: Path) -> None:
    v1 = _derive(tmp_path, "s1", ["b", "a", "b", None])
    first = _rows(v1, tmp_path / "d1.parquet")
    assert [r["x"] for r in first] == [0, 1, 2, 3]  # the file's order is kept
    ordinal = {r["pid"]: r["__unit"] for r in first}
    assert ordinal[None] is None and v1.units == 2 and v1.max_rows_per_unit == 2
    v2 = _derive(tmp_path, "s2", ["c", "a", "b"], previous_map=v1.units_map)
    second = {r["pid"]: r["__unit"] for r in _rows(v2, tmp_path / "d2.parquet")}
    assert second["a"] == ordinal["a"] and second["b"] == ordinal["b"]
    assert second["c"] == max(ordinal["a"], ordinal["b"]) + 1
    assert v2.max_rows_per_unit == 1
    assert pq.read_table(v2.units_map).num_rows == 3  # every unit the dataset has had


def test_ranks_number_each_units_rows_once_in_a_keyed_order(tmp_path: Path) -> None:
    units = [f"u{i % 7}" for i in range(70)] + [None, None]
    out = _derive(tmp_path, "s", units, key=11)
    rows = _rows(out, tmp_path / "d.parquet")
    by_unit: dict[str | None, list[int]] = {}
    for row in rows:
        by_unit.setdefault(row["pid"], []).append(row["__rank"])
    assert all(sorted(ranks) == list(range(1, len(ranks) + 1)) for ranks in by_unit.values())
    assert out.max_rows_per_unit == 10
    again = derive(out.staged, tmp_path / "r2.parquet", tmp_path / "m2.parquet", "pid", key=11)
    assert pq.read_table(again.ranks).equals(pq.read_table(out.ranks))  # the key fixes the order
    in_file_order = [r["__rank"] for r in rows if r["pid"] == "u0"]
    assert in_file_order != sorted(in_file_order)  # not simply the file's order
    other = derive(out.staged, tmp_path / "r3.parquet", tmp_path / "m3.parquet", "pid")
    assert not pq.read_table(other.ranks).equals(pq.read_table(out.ranks))  # a fresh key by default


def test_the_largest_unit_is_counted_with_null_units_as_one(tmp_path: Path) -> None:
    derived = _derive(tmp_path, "s", ["u0"] * 5 + [f"u{i}" for i in range(1, 96)] + [None] * 7)
    assert (derived.units, derived.max_rows_per_unit) == (96, 7)


def test_one_row_per_unit_ranks_every_row_first(tmp_path: Path) -> None:
    out = _derive(tmp_path, "s", ["a", "b", "c"])
    assert out.max_rows_per_unit == 1
    assert pq.read_table(out.ranks).column("__rank").to_pylist() == [1, 1, 1]


def test_each_rank_is_uniform_over_a_units_rows(tmp_path: Path) -> None:
    """Over many units of four rows, each file position takes each rank about equally often."""
    units = [f"u{i // 4}" for i in range(4000)]
    rows = _rows(_derive(tmp_path, "s", units), tmp_path / "d.parquet")
    counts = [[0] * 4 for _ in range(4)]
    for i, row in enumerate(rows):
        counts[i % 4][row["__rank"] - 1] += 1
    assert all(180 < c < 320 for position in counts for c in position), counts  # 250 expected, ~8 sd


def test_batches_align_across_row_groups_and_an_empty_file(tmp_path: Path) -> None:
    staged = tmp_path / "s.parquet"
    table = pa.table({"pid": [f"u{i % 3}" for i in range(1000)], "x": list(range(1000))})
    pq.write_table(table, staged, row_group_size=77)
    derived = derive(staged, tmp_path / "r.parquet", tmp_path / "m.parquet", "pid", memory_mb=64)
    batches = list(derived.batches(batch_rows=100))
    got = pa.Table.from_batches(batches)
    assert got.column("x").to_pylist() == list(range(1000))
    assert got.column("__unit").to_pylist() == [i % 3 for i in range(1000)]
    empty = _derive(tmp_path, "e", [])
    assert list(empty.batches()) == [] and empty.max_rows_per_unit == 0


def test_ten_million_distinct_units_derive_within_the_registration_memory_cap(tmp_path: Path) -> None:
    """One row per unit is the dp benchmark's shape. Joining rows to ordinals and sorting them back
    into file order in one statement made DuckDB run out of its 256 MB cap instead of spilling."""
    import duckdb

    staged = tmp_path / "staged.parquet"
    duckdb.sql(
        "COPY (SELECT 'R' || lpad(CAST(i AS VARCHAR), 17, '0') AS pid FROM range(10000000) t(i) "
        f"ORDER BY hash(i)) TO '{staged}' (FORMAT parquet)"
    )
    d = derive(staged, tmp_path / "ranks.parquet", tmp_path / "map.parquet", "pid", memory_mb=256)
    assert (d.units, d.max_rows_per_unit) == (10_000_000, 1)
    ranks = pq.ParquetFile(tmp_path / "ranks.parquet")
    assert ranks.metadata.num_rows == 10_000_000
    first = ranks.read_row_group(0)
    assert set(first.column("__rank").to_pylist()) == {1}
    assert first.column("__unit").null_count == 0
