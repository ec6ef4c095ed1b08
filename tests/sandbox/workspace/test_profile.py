from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sandbox.workspace.profile import profile


@pytest.fixture
def units_path(tmp_path: Path) -> Path:
    """Unit 'u0' has 5 rows, every other unit one; the unit column has an awkward name."""
    units = ["u0"] * 5 + [f"u{i}" for i in range(1, 96)]
    path = tmp_path / "it's.parquet"
    pq.write_table(pa.table({'身份 "id"': units, "v": list(range(100))}), path)
    return path


def test_profile_counts_rows(units_path: Path) -> None:
    assert profile(units_path, sample_rows=10).rows == 100


def test_sample_is_real_rows_with_all_columns_and_repeatable(units_path: Path) -> None:
    first = profile(units_path, sample_rows=10, seed=3).sample
    assert first.num_rows == 10
    assert first.column_names == ['身份 "id"', "v"]
    assert set(first.column("v").to_pylist()) <= set(range(100))
    assert first.equals(profile(units_path, sample_rows=10, seed=3).sample)


def test_sample_is_capped_by_the_table_and_may_be_empty(units_path: Path) -> None:
    assert profile(units_path, sample_rows=1000).sample.num_rows == 100
    empty = profile(units_path, sample_rows=0).sample
    assert empty.num_rows == 0 and empty.column_names == ['身份 "id"', "v"]


def test_empty_file_has_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"id": pa.array([], pa.string())}), path)
    result = profile(path, sample_rows=5)
    assert (result.rows, result.sample.num_rows) == (0, 0)
