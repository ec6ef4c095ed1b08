"""Recognizers through the real AnalyzerEngine (blank spaCy pipeline on disk), and their checksums."""

from __future__ import annotations

from pathlib import Path

import pytest
from presidio_analyzer import AnalyzerEngine

from policies.classify.recognizers import (
    DETECTED_ENTITIES,
    USCC_ALPHABET,
    luhn_check_digit,
    luhn_valid,
    name_hint,
    resident_id_check_char,
    uscc_check_char,
    valid_resident_id,
    valid_uscc,
)
from sandbox.pii import build_analyzer

RESIDENT_ID = "11010519491231002X"
USCC = "91350100M000100Y43"
CARD = "4111111111111111"


@pytest.fixture(scope="module")
def analyzer(tmp_path_factory: pytest.TempPathFactory) -> AnalyzerEngine:
    return build_analyzer(Path(tmp_path_factory.mktemp("nlp")))


def found(analyzer: AnalyzerEngine, text: str) -> set[str]:
    return {r.entity_type for r in analyzer.analyze(text, language="en", entities=list(DETECTED_ENTITIES))}


def flips(s: str, alphabet: str = "0123456789") -> list[str]:
    """Every string that differs from `s` in exactly one digit position (the next digit up)."""
    return [
        s[:i] + alphabet[(alphabet.index(c) + 1) % len(alphabet)] + s[i + 1 :]
        for i, c in enumerate(s)
        if c.isdigit()
    ]


@pytest.mark.parametrize(
    ("text", "entity"),
    [
        (RESIDENT_ID, "CN_RESIDENT_ID"),
        (RESIDENT_ID.lower(), "CN_RESIDENT_ID"),
        (USCC, "CN_USCC"),
        (CARD, "BANK_CARD"),
        ("622202123456789012" + luhn_check_digit("622202123456789012"), "BANK_CARD"),
        ("13812345678", "CN_MOBILE"),
        ("+86 138-1234-5678", "CN_MOBILE"),
        ("8619912345678", "CN_MOBILE"),
        ("E12345678", "CN_PASSPORT"),
        ("EA1234567", "CN_PASSPORT"),
        ("粤B12345", "CN_VEHICLE_PLATE"),
        ("粤BD12345", "CN_VEHICLE_PLATE"),
        ("zhang.san@example.com", "EMAIL_ADDRESS"),
        ("192.168.1.20", "IP_ADDRESS"),
    ],
)
def test_valid_value_is_found(analyzer: AnalyzerEngine, text: str, entity: str) -> None:
    assert entity in found(analyzer, text)


@pytest.mark.parametrize("text", flips(RESIDENT_ID))
def test_resident_id_with_one_digit_changed_is_rejected(analyzer: AnalyzerEngine, text: str) -> None:
    assert not valid_resident_id(text)
    assert "CN_RESIDENT_ID" not in found(analyzer, text)


@pytest.mark.parametrize("text", flips(USCC, USCC_ALPHABET))
def test_credit_code_with_one_digit_changed_is_rejected(analyzer: AnalyzerEngine, text: str) -> None:
    assert not valid_uscc(text)
    assert "CN_USCC" not in found(analyzer, text)


@pytest.mark.parametrize("text", [*flips(CARD), "4111111111111112"])
def test_bank_card_with_one_digit_changed_is_rejected(analyzer: AnalyzerEngine, text: str) -> None:
    assert not luhn_valid(text)
    assert "BANK_CARD" not in found(analyzer, text)


def test_resident_id_with_impossible_birth_date_is_rejected_despite_its_checksum(
    analyzer: AnalyzerEngine,
) -> None:
    body = "11010519490231002"  # 31 February
    text = body + resident_id_check_char(body)
    assert not valid_resident_id(text)
    assert "CN_RESIDENT_ID" not in found(analyzer, text)


def test_valid_resident_id_that_passes_luhn_is_not_also_a_bank_card(analyzer: AnalyzerEngine) -> None:
    ids = (f"44030319900101{k:03d}" for k in range(1000))
    text = next(i + c for i in ids if (c := resident_id_check_char(i)).isdigit() and luhn_valid(i + c))
    assert found(analyzer, text) == {"CN_RESIDENT_ID"}


@pytest.mark.parametrize(
    "text",
    ["hello", "1381234567", "138123456789", "12812345678", "e12345678", "999.1.1.1", "user@", "粤b12345"],
)
def test_lookalikes_are_not_found(analyzer: AnalyzerEngine, text: str) -> None:
    assert found(analyzer, text) == set()


def test_identifiers_are_found_inside_chinese_text(analyzer: AnalyzerEngine) -> None:
    text = f"身份证号{RESIDENT_ID}，电话13812345678，车牌粤B12345，信用代码{USCC}。"
    assert found(analyzer, text) == {"CN_RESIDENT_ID", "CN_MOBILE", "CN_VEHICLE_PLATE", "CN_USCC"}


def test_check_characters_match_known_good_examples() -> None:
    assert resident_id_check_char(RESIDENT_ID[:17]) == "X"
    assert uscc_check_char(USCC[:17]) == "3"
    assert luhn_check_digit(CARD[:-1]) == "1"
    assert valid_resident_id(RESIDENT_ID) and valid_uscc(USCC) and luhn_valid(CARD)


@pytest.mark.parametrize(
    ("column", "entity"),
    [
        ("姓名", "PERSON_NAME"),
        ("客户名字", "PERSON_NAME"),
        ("name", "PERSON_NAME"),
        ("full_name", "PERSON_NAME"),
        ("FullName", "PERSON_NAME"),
        ("身份证号", "CN_RESIDENT_ID"),
        ("证件号码", "CN_RESIDENT_ID"),
        ("id_card", "CN_RESIDENT_ID"),
        ("resident_id", "CN_RESIDENT_ID"),
        ("ID_NUMBER", "CN_RESIDENT_ID"),
        ("手机号码", "CN_MOBILE"),
        ("联系电话", "CN_MOBILE"),
        ("phone", "CN_MOBILE"),
        ("mobile_no", "CN_MOBILE"),
        ("tel", "CN_MOBILE"),
        ("家庭住址", "ADDRESS"),
        ("address", "ADDRESS"),
        ("邮箱", "EMAIL_ADDRESS"),
        ("email_address", "EMAIL_ADDRESS"),
        ("银行卡号", "BANK_CARD"),
        ("bank_card", "BANK_CARD"),
        ("card_no", "BANK_CARD"),
        ("统一社会信用代码", "CN_USCC"),
        ("uscc", "CN_USCC"),
        ("credit_code", "CN_USCC"),
        ("车牌号", "CN_VEHICLE_PLATE"),
        ("plate", "CN_VEHICLE_PLATE"),
        ("护照号", "CN_PASSPORT"),
        ("passport_no", "CN_PASSPORT"),
        ("备注", "FREE_TEXT"),
        ("notes", "FREE_TEXT"),
        ("remark", "FREE_TEXT"),
        ("comment", "FREE_TEXT"),
        ("client_ip", "IP_ADDRESS"),
    ],
)
def test_column_name_hints(column: str, entity: str) -> None:
    assert name_hint(column) == entity


@pytest.mark.parametrize(
    "column", ["district", "district_name", "company_name", "hotel", "age", "income", "sex"]
)
def test_column_names_that_name_no_person_get_no_hint(column: str) -> None:
    assert name_hint(column) is None
