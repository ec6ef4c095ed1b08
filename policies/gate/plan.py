"""The gate's typed inputs and outputs: what a grant lets a query touch, and the plan it allows.

These types are the contract between the gate (which builds a Plan), the workspace (which runs
`Plan.sql`) and the privacy layer (which reads `Plan.outputs` to know which result column is a group
key, which is an aggregate, and which hidden companion column counts the privacy units behind it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from policies.levels import ColumnLevel

# Names the privacy layer adds to every released SDC table, so no output may take them: the row's
# `suppressed` mark, and one `<output>__flag` status column per output (see `policies.privacy.sdc`).
SUPPRESSED_COLUMN = "suppressed"
FLAG_SUFFIX = "__flag"


def is_reserved_output_name(name: str) -> bool:
    """Companions start with `__`; the release marks take `suppressed` and the `__flag` suffix.

    >>> [is_reserved_output_name(n) for n in ("__units", "n__flag", "Suppressed", "n_flag")]
    [True, True, True, False]
    """
    lowered = name.lower()
    return lowered.startswith("__") or lowered.endswith(FLAG_SUFFIX) or lowered == SUPPRESSED_COLUMN


@dataclass(frozen=True)
class ColumnGrant:
    """One granted column with its effective level (the registered level, narrowed by the grant)."""

    name: str
    level: ColumnLevel
    public_keys: tuple[str, ...] | None = None  # group keys that may be shown even in a suppressed row
    type: str | None = None  # the Arrow type registered ("string", "int64", "date32[day]"); None if unknown
    nullable: bool = True  # False when the dataset version holds no NULL here: a cell's units are its row's
    table: str | None = None  # the table's SQL name; set by the gate's scope, so a column knows its table
    lower: float | None = None  # declared bounds of an `aggregate` column: dp mode clamps to them
    upper: float | None = None


@dataclass(frozen=True)
class TableGrant:
    """A dataset as the query sees it: its SQL name, granted columns, and privacy unit."""

    name: str
    dataset_id: str
    columns: Mapping[str, ColumnGrant]  # granted columns only, keyed by exact column name
    all_columns: frozenset[str]  # every column of the dataset, to tell "not granted" from "no such column"
    privacy_unit: str
    max_rows_per_unit: int | None = None  # recorded at registration; 1 lets COUNT(*) stand in for distinct


@dataclass(frozen=True)
class GateContext:
    tables: Mapping[str, TableGrant]  # keyed by lower-case table name
    mode: str = "sdc"
    dp_contributions: int = 1  # dp mode: rows kept per privacy unit (the bundle's c), see gate.bounded


class OutputKind(StrEnum):
    group = "group"  # a GROUP BY key
    count = "count"  # COUNT(*)
    count_units = "count_units"  # COUNT(DISTINCT <privacy unit>)
    sum = "sum"
    avg = "avg"
    count_values = "count_values"  # COUNT(<aggregate column>): its non-NULL values
    stddev_samp = "stddev_samp"  # STDDEV, STDDEV_SAMP
    stddev_pop = "stddev_pop"
    var_samp = "var_samp"  # VARIANCE, VAR_SAMP
    var_pop = "var_pop"
    min = "min"  # of a public column only
    max = "max"  # of a public column only
    quantile = "quantile"  # dp mode only: MEDIAN, QUANTILE_CONT, PERCENTILE_CONT ... WITHIN GROUP


@dataclass(frozen=True)
class OutputColumn:
    """One column of the operator's result, in order.

    `units_column` names the hidden companion column of the rewritten query that counts the distinct
    privacy units behind this cell (None for group keys: the row's `Plan.group_units_column` covers them).
    """

    name: str
    kind: OutputKind
    source_column: str | None = None
    units_column: str | None = None
    source_table: str | None = None  # the table of `source_column` (several tables when joined)
    # SUM/AVG only (policies.gate.companions): the total of the absolute per-unit contributions, and
    # the two largest absolute per-unit contributions (a list), for the dominance rules.
    dominance_total: str | None = None
    dominance_top: str | None = None


@dataclass(frozen=True)
class Plan:
    """An allowed query, rewritten for the workspace.

    `sql` selects the operator's outputs (named as in `outputs`), then `group_units_column`, then each
    aggregate's `units_column`. The privacy layer drops every companion column before anything leaves.
    """

    sql: str
    tables: tuple[str, ...]
    outputs: tuple[OutputColumn, ...]
    group_units_column: str
    columns_used: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # table -> columns touched
    dp: Mapping[str, Any] | None = None  # dp mode: the measurement spec (`policies.privacy.dp.Spec.to_dict`)
