"""PII classification: checksummed Chinese recognizers and proposed column levels.

`classify(sample, analyzer)` proposes a level per column; the analyzer comes from `sandbox.pii`,
since building one touches the disk and this package does no I/O.
"""

from policies.classify.propose import FOUND_SHARE, ColumnProposal, classify
from policies.classify.recognizers import ALL_ENTITIES, DETECTED_ENTITIES, all_recognizers, name_hint

__all__ = [
    "ALL_ENTITIES",
    "DETECTED_ENTITIES",
    "FOUND_SHARE",
    "ColumnProposal",
    "all_recognizers",
    "classify",
    "name_hint",
]
