"""Column levels only narrow under a grant; bundles give k and modes per classification."""

from __future__ import annotations

import doctest

import pytest

import policies.bundles
import policies.levels
from policies.bundles import default_text, parse
from policies.levels import Classification, ColumnLevel, narrows


def test_doctests_run() -> None:
    for module in (policies.levels, policies.bundles):
        assert doctest.testmod(module).failed == 0


@pytest.mark.parametrize("level", list(ColumnLevel))
def test_every_level_narrows_to_itself_and_to_hidden(level: ColumnLevel) -> None:
    assert narrows(level, level) and narrows(level, ColumnLevel.hidden)


def test_a_grant_cannot_widen_a_level() -> None:
    assert not narrows(ColumnLevel.hidden, ColumnLevel.public)
    assert not narrows(ColumnLevel.aggregate, ColumnLevel.group)
    assert not narrows(ColumnLevel.join_key, ColumnLevel.aggregate)
    assert narrows(ColumnLevel.public, ColumnLevel.group)


def test_default_bundle_has_the_seed_thresholds() -> None:
    bundle = parse(default_text())
    assert [bundle.for_level(c).k for c in Classification] == [10, 20, 50]
    assert bundle.strictest([Classification.general, Classification.core]).k == 50


def test_a_bundle_missing_a_level_is_refused() -> None:
    with pytest.raises(ValueError, match="core"):
        parse("general: {k: 10}\nimportant: {k: 20}\n")
    with pytest.raises(ValueError, match="k must be"):
        parse("general: {k: 0}\nimportant: {k: 20}\ncore: {k: 50}\n")
