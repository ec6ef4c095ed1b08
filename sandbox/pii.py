"""The Presidio analyzer the sandbox classifies and scans with, built without any downloaded model.

No spaCy model can be fetched inside the domain, and none is needed: every recognizer we register
is a pattern (`policies.classify.recognizers`), so the NLP engine only has to tokenize. A blank
spaCy pipeline is written to disk once and loaded by path, which also keeps Presidio from trying
to download `en_core_web_lg`.

Building takes well under a second once the pipeline exists; callers build one engine and hold it
(there is no module-level cache).

>>> analyzer = build_analyzer(Path(tmp) / "nlp")                              # doctest: +SKIP
>>> [r.entity_type for r in analyzer.analyze("电话 13812345678", language="en")]  # doctest: +SKIP
['CN_MOBILE']
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import spacy
from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
from presidio_analyzer.nlp_engine import SpacyNlpEngine

from policies.classify.recognizers import all_recognizers


def blank_pipeline_dir(nlp_dir: Path, language: str) -> Path:
    """Where the blank pipeline for `language` lives under `nlp_dir`.

    The spaCy version is part of the name: a pipeline saved by another version would make
    `spacy.load` warn, so an upgrade simply writes a fresh one beside the old.
    """
    return nlp_dir / f"blank-{language}-spacy{spacy.__version__}"


def ensure_blank_pipeline(nlp_dir: Path, language: str) -> Path:
    """Save `spacy.blank(language)` under `nlp_dir` unless it is already there; return its path.

    Written to a temporary directory beside the target and renamed into place, so a concurrent
    builder or a crash never leaves a half-written pipeline where `spacy.load` would find it.
    """
    target = blank_pipeline_dir(nlp_dir, language)
    if (target / "meta.json").exists():
        return target
    nlp_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=nlp_dir))
    try:
        spacy.blank(language).to_disk(tmp)
        try:
            tmp.rename(target)
        except OSError:
            if not (target / "meta.json").exists():  # not a lost race: a real failure
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def build_analyzer(nlp_dir: Path, language: str = "en") -> AnalyzerEngine:
    """An AnalyzerEngine with only our recognizers, over a blank spaCy pipeline kept in `nlp_dir`.

    `language` is both the spaCy tokenizer language and the analyzer's only supported language;
    callers pass the same value to `analyze`. "en" tokenizes Chinese text well enough for
    patterns, which is all the recognizers use.
    """
    model_dir = ensure_blank_pipeline(nlp_dir, language)
    nlp_engine = SpacyNlpEngine(models=[{"lang_code": language, "model_name": str(model_dir)}])
    nlp_engine.load()
    registry = RecognizerRegistry(recognizers=all_recognizers(language), supported_languages=[language])
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=[language])
