"""The quality report on a small hand-checked file: null rates, distinct counts, validity, duplicates."""

from __future__ import annotations

import doctest
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

import sandbox.workspace.quality
from sandbox.workspace.quality import quality

VALID_ID = "11010519491231002X"
BAD_CHECK = "11010519491231003X"
BAD_DATE = "110105194902310027"


def test_doctests_pass() -> None:
    assert doctest.testmod(sandbox.workspace.quality).failed == 0


def test_report_of_a_small_file(tmp_path: Path) -> None:
    t = pa.table(
        {
            "rid": [VALID_ID, VALID_ID, BAD_CHECK, BAD_DATE, None],
            "phone": ["13812345678", "13812345678", "12345", None, None],
            "code": ["91350100M000100Y43", "91350100M000100Y43", "91350100M000100Y44", None, None],
            "card": ["4111111111111111", "4111111111111111", "4111111111111112", "x", None],
            "n": [1, 1, 2, None, None],
        }
    )
    path = tmp_path / "t.parquet"
    pq.write_table(t, path)
    entities = {"rid": "CN_RESIDENT_ID", "phone": "CN_MOBILE", "code": "CN_USCC", "card": "BANK_CARD"}
    report = quality(path, t.column_names, entities)
    assert report["rows"] == 5 and report["duplicate_rows"] == 1  # rows 0 and 1 are the same
    cols = report["columns"]
    assert cols["rid"] == {
        "null_rate": 0.2,
        "distinct_approx": 3,
        "entity": "CN_RESIDENT_ID",
        "valid_rate": 0.5,
    }
    assert cols["phone"]["valid_rate"] == round(2 / 3, 4) and cols["phone"]["null_rate"] == 0.4
    assert cols["code"]["valid_rate"] == round(2 / 3, 4)
    assert cols["card"]["valid_rate"] == 0.5
    assert cols["n"] == {"null_rate": 0.4, "distinct_approx": 2}
    text = repr(report)
    assert VALID_ID not in text and "13812345678" not in text  # rates and counts only


def test_reserved_columns_can_be_left_out_and_an_empty_file_reports_zeros(tmp_path: Path) -> None:
    path = tmp_path / "e.parquet"
    pq.write_table(pa.table({"a": pa.array([], pa.string()), "__unit": pa.array([], pa.int64())}), path)
    report = quality(path, ["a", "__unit"], {}, excluded=["__unit"])
    assert report == {
        "rows": 0,
        "duplicate_rows": 0,
        "columns": {"a": {"null_rate": 0.0, "distinct_approx": 0}},
    }
