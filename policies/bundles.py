"""Policy bundles: what each classification level demands, from YAML handed in (never read here)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from policies.levels import Classification


@dataclass(frozen=True)
class LevelPolicy:
    k: int
    modes: tuple[str, ...]
    reviewers: int = 1  # approvals from distinct reviewers an output needs before release


@dataclass(frozen=True)
class Bundle:
    levels: dict[Classification, LevelPolicy]

    def for_level(self, classification: Classification) -> LevelPolicy:
        return self.levels[classification]

    def strictest(self, classifications: list[Classification]) -> LevelPolicy:
        """Outputs over several datasets take the highest k and only the modes all inputs allow."""
        policies = [self.levels[c] for c in classifications]
        k = max(p.k for p in policies)
        modes = tuple(m for m in policies[0].modes if all(m in p.modes for p in policies))
        return LevelPolicy(k=k, modes=modes, reviewers=max(p.reviewers for p in policies))


def parse(text: str) -> Bundle:
    """Build a bundle from YAML text.

    >>> text = "general: {k: 10}\\nimportant: {k: 20}\\ncore: {k: 50, modes: [sdc]}"
    >>> parse(text).for_level(Classification.core).k
    50
    >>> parse(text).for_level(Classification.core).reviewers  # absent: one reviewer
    1
    """
    raw: dict[str, Any] = yaml.safe_load(text) or {}
    levels: dict[Classification, LevelPolicy] = {}
    for c in Classification:
        entry = raw.get(c.value)
        if not isinstance(entry, dict):
            raise ValueError(f"policy bundle lacks level {c.value!r}")
        k = int(entry["k"])
        if k < 1:
            raise ValueError(f"policy bundle level {c.value!r}: k must be at least 1")
        reviewers = int(entry.get("reviewers", 1))
        if reviewers < 1:
            raise ValueError(f"policy bundle level {c.value!r}: reviewers must be at least 1")
        levels[c] = LevelPolicy(
            k=k, modes=tuple(str(m) for m in entry.get("modes", ["sdc"])), reviewers=reviewers
        )
    return Bundle(levels=levels)


def default_text() -> str:
    """The shipped default bundle, as text (the caller decides where bundles come from)."""
    return resources.files("policies").joinpath("default_bundle.yaml").read_text(encoding="utf-8")
