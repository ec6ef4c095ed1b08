"""The bundle's dp section: defaults when absent (old bundles still parse), validated when present."""

from __future__ import annotations

import pytest

from policies.bundles import DpPolicy, default_text, parse
from policies.levels import Classification

OLD = "general: {k: 10}\nimportant: {k: 20}\ncore: {k: 50, modes: [dp]}\n"


def test_a_bundle_without_dp_keeps_the_defaults_and_a_dp_only_level_requires_it() -> None:
    bundle = parse(OLD)
    assert bundle.dp == DpPolicy()
    assert bundle.requires_dp(Classification.core) and not bundle.requires_dp(Classification.general)


def test_default_bundle_allows_dp_with_its_limits() -> None:
    bundle = parse(default_text())
    assert "dp" in bundle.for_level(Classification.core).modes
    assert bundle.dp.epsilon_default <= bundle.dp.epsilon_max_job <= bundle.dp.epsilon_max_scenario


@pytest.mark.parametrize(
    "section",
    ["{epsilon_default: 3, epsilon_max_job: 2}", "{contributions: 0}", "{partition_delta: 1.5}"],
)
def test_inconsistent_dp_sections_are_refused(section: str) -> None:
    with pytest.raises(ValueError, match="dp"):
        parse(OLD + f"dp: {section}\n")
