"""The analyzer is built from a blank spaCy pipeline on disk, with our recognizers only."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from policies.classify.recognizers import DETECTED_ENTITIES
from sandbox.pii import blank_pipeline_dir, build_analyzer, ensure_blank_pipeline


def test_analyzer_has_only_our_recognizers(tmp_path: Path) -> None:
    analyzer = build_analyzer(tmp_path / "nlp")
    assert sorted(analyzer.get_supported_entities("en")) == sorted(DETECTED_ENTITIES)
    assert analyzer.supported_languages == ["en"]


def test_analyzer_finds_an_identifier(tmp_path: Path) -> None:
    analyzer = build_analyzer(tmp_path / "nlp")
    results = analyzer.analyze("身份证 11010519491231002X", language="en")
    assert [(r.entity_type, r.score) for r in results] == [("CN_RESIDENT_ID", 1.0)]


def test_pipeline_is_written_once_and_reused(tmp_path: Path) -> None:
    nlp_dir = tmp_path / "nlp"
    first = ensure_blank_pipeline(nlp_dir, "en")
    stamp = (first / "meta.json").stat().st_mtime_ns
    build_analyzer(nlp_dir)
    assert first == blank_pipeline_dir(nlp_dir, "en")
    assert (first / "meta.json").stat().st_mtime_ns == stamp
    assert [p.name for p in nlp_dir.iterdir()] == [first.name]  # no temporary directory left behind


def test_other_languages_get_their_own_pipeline(tmp_path: Path) -> None:
    analyzer = build_analyzer(tmp_path, language="zh")
    results = analyzer.analyze("电话13812345678", language="zh")
    assert [r.entity_type for r in results] == ["CN_MOBILE"]
    assert blank_pipeline_dir(tmp_path, "zh").is_dir()
    assert not blank_pipeline_dir(tmp_path, "en").exists()


def test_building_and_analyzing_log_no_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        analyzer = build_analyzer(tmp_path / "nlp")
        analyzer.analyze("联系 zhang.san@example.com 192.168.0.1", language="en")
    assert caplog.records == []
