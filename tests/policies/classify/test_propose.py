"""Proposed column levels on synthetic residents, with the real analyzer."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from presidio_analyzer import AnalyzerEngine

from policies.classify import FOUND_SHARE, ColumnProposal, classify
from policies.classify.recognizers import USCC_ALPHABET, uscc_check_char
from policies.levels import ColumnLevel
from sandbox.demo_data import residents
from sandbox.pii import build_analyzer


@pytest.fixture(scope="module")
def analyzer(tmp_path_factory: pytest.TempPathFactory) -> AnalyzerEngine:
    return build_analyzer(Path(tmp_path_factory.mktemp("nlp")))


@pytest.fixture(scope="module")
def sample() -> pa.Table:
    table = residents(500)
    return table.take(np.random.default_rng(0).choice(table.num_rows, 200, replace=False))


def by_column(proposals: list[ColumnProposal]) -> dict[str, ColumnProposal]:
    return {p.column: p for p in proposals}


def random_uscc(rng: random.Random) -> str:
    body = "91" + "440300" + "".join(rng.choice(USCC_ALPHABET) for _ in range(9))
    return body + uscc_check_char(body)


def test_resident_columns_get_the_expected_levels(analyzer: AnalyzerEngine, sample: pa.Table) -> None:
    proposals = by_column(classify(sample, analyzer, privacy_unit="resident_id"))
    assert {c: p.level for c, p in proposals.items()} == {
        "resident_id": ColumnLevel.join_key,
        "name": ColumnLevel.hidden,
        "phone": ColumnLevel.hidden,
        "district": ColumnLevel.group,
        "age": ColumnLevel.aggregate,
        "income": ColumnLevel.aggregate,
        "sex": ColumnLevel.group,
    }
    assert proposals["resident_id"].reason == "privacy unit"
    assert proposals["resident_id"].entities["CN_RESIDENT_ID"] == 1.0
    assert proposals["phone"].entities == {"CN_MOBILE": 1.0}
    assert proposals["name"].name_hint == "PERSON_NAME"
    assert proposals["age"].reason == "numeric"


def test_resident_id_is_a_join_key_even_when_not_the_privacy_unit(
    analyzer: AnalyzerEngine, sample: pa.Table
) -> None:
    proposal = by_column(classify(sample, analyzer))["resident_id"]
    assert proposal.level == ColumnLevel.join_key
    assert proposal.reason == "CN_RESIDENT_ID in 100% of sampled values"


def test_chinese_column_names_get_hints(analyzer: AnalyzerEngine, sample: pa.Table) -> None:
    renamed = sample.rename_columns(["身份证号", "姓名", "手机号码", "所在区", "年龄", "年收入", "性别"])
    proposals = by_column(classify(renamed, analyzer, privacy_unit="身份证号"))
    assert proposals["姓名"].name_hint == "PERSON_NAME"
    assert proposals["身份证号"].name_hint == "CN_RESIDENT_ID"
    assert proposals["手机号码"].name_hint == "CN_MOBILE"
    assert [proposals[c].level for c in ("身份证号", "姓名", "手机号码", "所在区")] == [
        ColumnLevel.join_key,
        ColumnLevel.hidden,
        ColumnLevel.hidden,
        ColumnLevel.group,
    ]


def test_reasons_never_contain_a_sampled_value(analyzer: AnalyzerEngine, sample: pa.Table) -> None:
    secret = pa.array([f"内部编号 SECRET-{i % 7}" for i in range(sample.num_rows)])
    table = sample.append_column("code", secret)
    for proposal in classify(table, analyzer, privacy_unit="resident_id"):
        for value in table.column(proposal.column).unique().to_pylist():
            assert str(value) not in proposal.reason, proposal.column


def test_credit_codes_make_a_join_key(analyzer: AnalyzerEngine) -> None:
    rng = random.Random(1)
    table = pa.table({"企业代码": [random_uscc(rng) for _ in range(100)]})
    (proposal,) = classify(table, analyzer)
    assert proposal.level == ColumnLevel.join_key
    assert proposal.reason == "CN_USCC in 100% of sampled values"


def test_mobile_numbers_stored_as_integers_are_hidden(analyzer: AnalyzerEngine) -> None:
    table = pa.table({"c1": pa.array([13812345678 + 7919 * i for i in range(100)], pa.int64())})
    (proposal,) = classify(table, analyzer)
    assert proposal.level == ColumnLevel.hidden
    assert proposal.entities == {"CN_MOBILE": 1.0}


def test_other_pii_wins_over_an_identifier_in_the_same_column(analyzer: AnalyzerEngine) -> None:
    values = ["11010519491231002X", "zhang.san@example.com"] * 50
    (proposal,) = classify(pa.table({"x": values}), analyzer)
    assert proposal.level == ColumnLevel.hidden
    assert proposal.entities == {"CN_RESIDENT_ID": 0.5, "EMAIL_ADDRESS": 0.5}


def test_an_entity_below_the_threshold_is_reported_but_does_not_decide(analyzer: AnalyzerEngine) -> None:
    below = int(FOUND_SHARE * 100) - 5
    values = [f"139{i:08d}" for i in range(below)] + ["无"] * (100 - below)
    (proposal,) = classify(pa.table({"contact": values}), analyzer)
    assert proposal.entities == {"CN_MOBILE": below / 100}
    assert proposal.level == ColumnLevel.group


def test_an_entity_at_the_threshold_hides_the_column(analyzer: AnalyzerEngine) -> None:
    at = int(FOUND_SHARE * 100)
    values = [f"139{i:08d}" for i in range(at)] + ["无"] * (100 - at)
    (proposal,) = classify(pa.table({"contact": values}), analyzer)
    assert proposal.level == ColumnLevel.hidden
    assert proposal.reason == f"CN_MOBILE in {at}% of sampled values"


def test_shares_count_repeated_values(analyzer: AnalyzerEngine) -> None:
    values = ["13812345678"] * 60 + [None] * 10 + ["无"] * 40
    (proposal,) = classify(pa.table({"x": values}), analyzer)
    assert proposal.entities == {"CN_MOBILE": 0.6}


def test_types_decide_when_nothing_is_found(analyzer: AnalyzerEngine) -> None:
    n = 100
    table = pa.table(
        {
            "amount": pa.array([i * 1.5 for i in range(n)]),
            "day": pa.array([dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(n)]),
            "at": pa.array([dt.datetime(2024, 1, 1, i % 24) for i in range(n)], pa.timestamp("s")),
            "flag": pa.array([i % 2 == 0 for i in range(n)]),
            "category": pa.array([f"类别{i % 5}" for i in range(n)]).dictionary_encode(),
            "serial": pa.array([f"S-{i}" for i in range(n)]),
            "empty": pa.array([None] * n, pa.string()),
            "blob": pa.array([b"x"] * n),
        }
    )
    levels = {p.column: p.level for p in classify(table, analyzer)}
    assert levels == {
        "amount": ColumnLevel.aggregate,
        "day": ColumnLevel.compare,
        "at": ColumnLevel.compare,
        "flag": ColumnLevel.group,
        "category": ColumnLevel.group,
        "serial": ColumnLevel.hidden,
        "empty": ColumnLevel.hidden,
        "blob": ColumnLevel.hidden,
    }


def test_a_string_column_with_mostly_unique_values_is_not_a_group(analyzer: AnalyzerEngine) -> None:
    values = [f"v{i % 40}" for i in range(60)]  # 40 distinct in 60 rows: fewer than two rows per value
    (proposal,) = classify(pa.table({"x": values}), analyzer)
    assert proposal.level == ColumnLevel.hidden


def test_an_unknown_privacy_unit_is_refused(analyzer: AnalyzerEngine, sample: pa.Table) -> None:
    with pytest.raises(ValueError, match="privacy unit"):
        classify(sample, analyzer, privacy_unit="nope")
