"""Synthetic residents: valid unique IDs consistent with age and sex, a small district, determinism."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest

from policies.classify.recognizers import valid_resident_id
from sandbox.demo_data import DISTRICTS, REFERENCE_DATE, residents, write_csv
from sandbox.pii import build_analyzer


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return residents(20_000)


def test_schema(table: pa.Table) -> None:
    assert table.schema == pa.schema(
        [
            ("resident_id", pa.string()),
            ("name", pa.string()),
            ("phone", pa.string()),
            ("district", pa.string()),
            ("age", pa.int64()),
            ("income", pa.int64()),
            ("sex", pa.string()),
        ]
    )
    assert table.num_rows == 20_000


def test_resident_ids_are_valid_and_unique(table: pa.Table) -> None:
    ids = table.column("resident_id").to_pylist()
    assert all(valid_resident_id(i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert {i[:4] for i in ids} == {"4403"}


def test_resident_ids_are_found_by_the_analyzer(tmp_path: Path, table: pa.Table) -> None:
    analyzer = build_analyzer(tmp_path)
    for resident_id in table.column("resident_id").to_pylist()[:50]:
        assert [r.entity_type for r in analyzer.analyze(resident_id, language="en")] == ["CN_RESIDENT_ID"]


def test_birth_date_matches_age_and_sequence_parity_matches_sex(table: pa.Table) -> None:
    reference = dt.date.fromisoformat(str(REFERENCE_DATE))
    for row in table.slice(0, 5_000).to_pylist():
        born = dt.date(
            int(row["resident_id"][6:10]), int(row["resident_id"][10:12]), int(row["resident_id"][12:14])
        )
        age = reference.year - born.year - ((reference.month, reference.day) < (born.month, born.day))
        assert age == row["age"]
        assert ("男" if int(row["resident_id"][16]) % 2 else "女") == row["sex"]


def test_values_are_in_range(table: pa.Table) -> None:
    assert pc.min(table.column("age")).as_py() >= 18 and pc.max(table.column("age")).as_py() <= 90
    assert pc.min(table.column("income")).as_py() >= 0 and pc.max(table.column("income")).as_py() <= 5_000_000
    assert set(table.column("sex").unique().to_pylist()) == {"男", "女"}
    assert all(re.fullmatch(r"1[3-9]\d{9}", p) for p in table.column("phone").to_pylist())
    assert all(2 <= len(n) <= 4 for n in table.column("name").to_pylist())


def test_exactly_the_small_count_lives_in_the_small_district(table: pa.Table) -> None:
    counts = {r["values"]: r["counts"] for r in pc.value_counts(table.column("district")).to_pylist()}
    assert counts.pop("大鹏新区") == 6
    assert set(counts) == {d for d, _ in DISTRICTS}


@pytest.mark.parametrize(("district", "count"), [("福田区", 3), ("大鹏新区", 0), ("前海", 40)])
def test_small_district_and_count_are_settable(district: str, count: int) -> None:
    table = residents(2_000, small_district=district, small_count=count)
    assert pc.sum(pc.equal(table.column("district"), district)).as_py() == count


def test_small_count_larger_than_n_is_refused() -> None:
    with pytest.raises(ValueError, match="small_count"):
        residents(3)


def test_same_seed_same_table_other_seed_other_table() -> None:
    assert residents(1_000, seed=3).equals(residents(1_000, seed=3))
    assert not residents(1_000, seed=3).equals(residents(1_000, seed=4))


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030", "utf-8-sig"])
def test_csv_round_trips_in_each_encoding(tmp_path: Path, encoding: str) -> None:
    table = residents(70_000).slice(0, 70_000)  # more than one write batch
    path = tmp_path / "residents.csv"
    write_csv(table, path, encoding=encoding)
    read_encoding = "utf8" if encoding == "utf-8" else encoding
    back = pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(encoding=read_encoding),
        convert_options=pacsv.ConvertOptions(column_types=table.schema),
    )
    assert back.equals(table)
