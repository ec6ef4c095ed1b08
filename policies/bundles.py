"""Policy bundles: what each classification level demands, from YAML handed in (never read here)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from policies.levels import Classification

ROUNDING_RULES = ("nearest", "up", "down")


@dataclass(frozen=True)
class SdcRules:
    """Dominance, zero-cell and rounding parameters of the SDC layer (defaults: SACRO's ACRO).

    N-K: a sum or mean cell is disclosive when its `nk_n` largest per-unit contributions exceed
    `nk_k` percent of the cell's total (1 <= nk_n <= 2: the plan computes the two largest). p%: it is
    disclosive when the rest (total minus the two largest) is less than `p_percent` percent of the
    largest, so the second largest contributor could estimate the largest within p%. `zeros_disclosive`:
    a cell with no unit behind it is withheld (a structural zero tells that nobody has the property).
    `rounding_base`: counts of released cells are rounded to a multiple of it by `rounding_rule`.
    """

    nk_n: int = 2
    nk_k: float = 90.0
    p_percent: float = 10.0
    zeros_disclosive: bool = True
    rounding_base: int | None = None
    rounding_rule: str = "nearest"

    def stricter(self, other: SdcRules) -> SdcRules:
        """The stricter of each parameter: more contributions, a lower N-K share, a higher p."""
        bases = [b for b in (self.rounding_base, other.rounding_base) if b]
        base = max(bases) if bases else None
        rule = self.rounding_rule if base == self.rounding_base else other.rounding_rule
        return SdcRules(
            nk_n=max(self.nk_n, other.nk_n),
            nk_k=min(self.nk_k, other.nk_k),
            p_percent=max(self.p_percent, other.p_percent),
            zeros_disclosive=self.zeros_disclosive or other.zeros_disclosive,
            rounding_base=base,
            rounding_rule=rule,
        )


@dataclass(frozen=True)
class LevelPolicy:
    k: int
    modes: tuple[str, ...]
    reviewers: int = 1  # approvals from distinct reviewers an output needs before release
    sdc: SdcRules = SdcRules()
    per_output_review: bool = False  # a data product's every call output waits for a reviewer


@dataclass(frozen=True)
class DpPolicy:
    """dp mode defaults: a job's epsilon (default, maximum), a scenario's maximum, and c, the rows per
    privacy unit kept (`"__rank" <= c`); `partition_delta` is the delta a job spends on selecting group
    keys that have no public key set."""

    epsilon_default: float = 1.0
    epsilon_max_job: float = 2.0
    epsilon_max_scenario: float = 10.0
    contributions: int = 1
    partition_delta: float = 1e-8


@dataclass(frozen=True)
class Bundle:
    levels: dict[Classification, LevelPolicy]
    dp: DpPolicy = DpPolicy()

    def requires_dp(self, classification: Classification) -> bool:
        """A level whose only mode is dp requires it."""
        return self.levels[classification].modes == ("dp",)

    def for_level(self, classification: Classification) -> LevelPolicy:
        return self.levels[classification]

    def strictest(self, classifications: list[Classification]) -> LevelPolicy:
        """Outputs over several datasets take the highest k, the strictest SDC rules of their inputs
        and only the modes all inputs allow."""
        policies = [self.levels[c] for c in classifications]
        k = max(p.k for p in policies)
        modes = tuple(m for m in policies[0].modes if all(m in p.modes for p in policies))
        rules = policies[0].sdc
        for p in policies[1:]:
            rules = rules.stricter(p.sdc)
        reviewers = max(p.reviewers for p in policies)
        review = any(p.per_output_review for p in policies)
        return LevelPolicy(k=k, modes=modes, reviewers=reviewers, sdc=rules, per_output_review=review)


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
        modes = tuple(str(m) for m in entry.get("modes", ["sdc"]))
        rules = _sdc_rules(c.value, entry.get("sdc") or {})
        review = bool(entry.get("per_output_review", False))
        levels[c] = LevelPolicy(k=k, modes=modes, reviewers=reviewers, sdc=rules, per_output_review=review)
    return Bundle(levels=levels, dp=_dp(raw.get("dp") or {}))


def _dp(raw: dict[str, Any]) -> DpPolicy:
    """The optional `dp:` section; a bundle without one keeps the defaults."""
    policy = DpPolicy(
        epsilon_default=float(raw.get("epsilon_default", DpPolicy.epsilon_default)),
        epsilon_max_job=float(raw.get("epsilon_max_job", DpPolicy.epsilon_max_job)),
        epsilon_max_scenario=float(raw.get("epsilon_max_scenario", DpPolicy.epsilon_max_scenario)),
        contributions=int(raw.get("contributions", DpPolicy.contributions)),
        partition_delta=float(raw.get("partition_delta", DpPolicy.partition_delta)),
    )
    if not 0 < policy.epsilon_default <= policy.epsilon_max_job <= policy.epsilon_max_scenario:
        raise ValueError(
            "policy bundle dp: need 0 < epsilon_default <= epsilon_max_job <= epsilon_max_scenario"
        )
    if policy.contributions < 1 or not 0 <= policy.partition_delta < 1:
        raise ValueError("policy bundle dp: contributions must be at least 1 and partition_delta in [0, 1)")
    return policy


def _sdc_rules(level: str, raw: dict[str, Any]) -> SdcRules:
    """The `sdc:` block of a level; unknown keys are refused so a typo cannot weaken a rule."""
    known = set(SdcRules.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f"policy bundle level {level!r}: unknown sdc settings {unknown}")
    base = raw.get("rounding_base")
    rules = SdcRules(
        nk_n=int(raw.get("nk_n", 2)),
        nk_k=float(raw.get("nk_k", 90.0)),
        p_percent=float(raw.get("p_percent", 10.0)),
        zeros_disclosive=bool(raw.get("zeros_disclosive", True)),
        rounding_base=int(base) if base is not None else None,
        rounding_rule=str(raw.get("rounding_rule", "nearest")),
    )
    if rules.nk_n not in (1, 2) or not 0 < rules.nk_k <= 100 or not 0 <= rules.p_percent <= 100:
        raise ValueError(f"policy bundle level {level!r}: need nk_n 1 or 2, 0 < nk_k <= 100, 0 <= p <= 100")
    if (base is not None and int(base) < 1) or rules.rounding_rule not in ROUNDING_RULES:
        raise ValueError(f"policy bundle level {level!r}: rounding_base >= 1, rule one of {ROUNDING_RULES}")
    return rules


def default_text() -> str:
    """The shipped default bundle, as text (the caller decides where bundles come from)."""
    return resources.files("policies").joinpath("default_bundle.yaml").read_text(encoding="utf-8")
