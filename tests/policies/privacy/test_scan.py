"""The output scan finds identifiers in candidate outputs with the registration recognizers."""

from __future__ import annotations

import doctest
from pathlib import Path

import pyarrow as pa
import pytest
from presidio_analyzer import AnalyzerEngine

import policies.privacy.scan
from policies.privacy.scan import PiiHit, scan
from sandbox.pii import build_analyzer


@pytest.fixture(scope="module")
def analyzer(tmp_path_factory: pytest.TempPathFactory) -> AnalyzerEngine:
    return build_analyzer(Path(tmp_path_factory.mktemp("nlp")))


def test_doctests_pass() -> None:
    assert doctest.testmod(policies.privacy.scan).failed == 0


def test_phone_and_resident_id_cells_are_found_by_column_and_entity(analyzer: AnalyzerEngine) -> None:
    t = pa.table(
        {
            "contact": ["13812345678", "13812345678", None, "13900001111"],
            "who": ["11010519491231002X", "东城", "西城", "朝阳"],
            "n": [12, 14, 15, 20],
            "suppressed": [False, False, False, False],
        }
    )
    hits = scan(t, analyzer)
    assert hits == (PiiHit("contact", "CN_MOBILE", 3), PiiHit("who", "CN_RESIDENT_ID", 1))
    assert "13812345678" not in repr([h.to_dict() for h in hits])


def test_an_id_with_a_wrong_check_character_is_not_a_hit(analyzer: AnalyzerEngine) -> None:
    assert scan(pa.table({"code": ["11010519491231003X", "东城区"]}), analyzer) == ()


def test_integer_group_keys_are_scanned_as_text_when_named(analyzer: AnalyzerEngine) -> None:
    t = pa.table({"phone": pa.array([13812345678, 13912345678], pa.int64()), "n": [11, 12]})
    assert scan(t, analyzer) == ()  # numbers are aggregates unless the plan says they are keys
    assert scan(t, analyzer, numeric_columns=["phone"]) == (PiiHit("phone", "CN_MOBILE", 2),)


def test_ordinary_outputs_pass(analyzer: AnalyzerEngine) -> None:
    t = pa.table({"district": ["东城", "西城", None], "sex": ["F", "M", "F"], "n": [30, 40, 50]})
    assert scan(t, analyzer) == ()
