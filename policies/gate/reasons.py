"""Why the gate rejects a query: stable codes, one message template per code, and a hint.

A reason names only things the operator wrote as SQL structure (a column, a function, a keyword) and
never a value: templates interpolate `construct` alone, and `describe` turns a node into a keyword or
class name, never into literal text. Codes are API; a released code never changes meaning.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlglot import exp

from policies.levels import ColumnLevel


class ReasonCode(StrEnum):
    parse_error = "parse_error"
    multiple_statements = "multiple_statements"
    not_a_query = "not_a_query"
    unknown_table = "unknown_table"
    table_function = "table_function"
    construct_not_allowed = "construct_not_allowed"
    raw_projection = "raw_projection"
    aggregate_not_allowed = "aggregate_not_allowed"
    function_not_allowed = "function_not_allowed"
    hidden_column = "hidden_column"
    level_violation = "level_violation"
    column_not_granted = "column_not_granted"
    unknown_column = "unknown_column"
    ambiguous_name = "ambiguous_name"
    duplicate_output_name = "duplicate_output_name"
    reserved_output_name = "reserved_output_name"
    literal_type_mismatch = "literal_type_mismatch"
    internal_error = "internal_error"
    dp_aggregate_not_supported = "dp_aggregate_not_supported"
    dp_bounds_missing = "dp_bounds_missing"
    dp_join_not_on_unit = "dp_join_not_on_unit"
    dp_construct_not_supported = "dp_construct_not_supported"
    dp_keyset_too_large = "dp_keyset_too_large"


AGGREGATE_HINT = (
    "Use COUNT(*), COUNT(DISTINCT <privacy unit>), COUNT, SUM, AVG, STDDEV or VARIANCE of an aggregate "
    "column, SUM or AVG of CASE WHEN <condition> THEN <aggregate column> END, or MIN or MAX of a public "
    "column."
)
TRANSFORM_HINT = (
    "Only these functions are allowed, over one column: date_trunc('<unit>', c), extract(<part> FROM c), "
    "year, quarter, month, week, day, dayofweek, dayofyear, hour, floor(c / n) * n, c // n, lower, upper, "
    "trim, coalesce(c, <literal>) and CASE WHEN <test of c> THEN <literal> ... END."
)

_MESSAGES: dict[ReasonCode, str] = {
    ReasonCode.parse_error: "the query could not be parsed",
    ReasonCode.multiple_statements: "only one statement may be submitted",
    ReasonCode.not_a_query: "'{construct}' statements are not allowed; only SELECT is",
    ReasonCode.unknown_table: "table '{construct}' is not granted to this scenario",
    ReasonCode.table_function: "'{construct}' cannot be read: only granted tables can",
    ReasonCode.construct_not_allowed: "{construct} is not allowed here",
    ReasonCode.raw_projection: "column '{construct}' is output without being grouped or aggregated",
    ReasonCode.aggregate_not_allowed: "aggregate '{construct}' is not allowed",
    ReasonCode.function_not_allowed: "function '{construct}' is not allowed",
    ReasonCode.hidden_column: "column '{construct}' is hidden and cannot be used anywhere",
    ReasonCode.level_violation: "column '{construct}' cannot be used here at its level",
    ReasonCode.column_not_granted: "column '{construct}' exists but is not granted to this scenario",
    ReasonCode.unknown_column: "column '{construct}' does not exist in the table",
    ReasonCode.ambiguous_name: (
        "name '{construct}' is ambiguous: it is both an output alias and a table column, or a column of "
        "more than one joined table"
    ),
    ReasonCode.duplicate_output_name: "output name '{construct}' is used more than once",
    ReasonCode.reserved_output_name: "output name '{construct}' is reserved",
    ReasonCode.literal_type_mismatch: "text column '{construct}' is compared with a non-text literal",
    ReasonCode.internal_error: "the gate could not check this query",
    ReasonCode.dp_aggregate_not_supported: "aggregate '{construct}' is not supported in dp mode",
    ReasonCode.dp_bounds_missing: "column '{construct}' has no declared bounds, which dp mode needs",
    ReasonCode.dp_join_not_on_unit: "'{construct}' is not an equality join on the privacy units",
    ReasonCode.dp_construct_not_supported: "{construct} is not supported in dp mode",
    ReasonCode.dp_keyset_too_large: "the public key sets of '{construct}' give too many groups for dp mode",
}

HINTS: dict[ReasonCode, str] = {
    ReasonCode.parse_error: "Write one SELECT statement in DuckDB syntax; check it near the position given.",
    ReasonCode.multiple_statements: "Submit exactly one SELECT statement per job.",
    ReasonCode.not_a_query: "Write a single SELECT over one granted table.",
    ReasonCode.unknown_table: "Read only tables granted to this scenario, each by its bare name.",
    ReasonCode.table_function: "Read a granted table by name; files and table functions are not available.",
    ReasonCode.construct_not_allowed: (
        "Use one SELECT of group keys and allowed aggregates with optional WHERE, GROUP BY, "
        "ORDER BY and LIMIT."
    ),
    ReasonCode.raw_projection: "Add the column to GROUP BY, or use it inside an allowed aggregate.",
    ReasonCode.aggregate_not_allowed: AGGREGATE_HINT,
    ReasonCode.function_not_allowed: TRANSFORM_HINT,
    ReasonCode.hidden_column: "Remove the column: hidden columns may not be used in any part of a query.",
    ReasonCode.level_violation: "Use the column only where its level allows.",
    ReasonCode.column_not_granted: "Remove the column, or ask for it to be added to the scenario grant.",
    ReasonCode.unknown_column: "Check the column name and qualifier against the table's schema.",
    ReasonCode.ambiguous_name: "Give the output an alias that is not also a column name.",
    ReasonCode.duplicate_output_name: "Give each output column a distinct name with AS.",
    ReasonCode.reserved_output_name: "Choose an output name that does not start with two underscores.",
    ReasonCode.literal_type_mismatch: (
        "Compare text columns with string literals only ('...'): any other literal would convert every "
        "value of the column, and a conversion that fails on some values would tell which values exist."
    ),
    ReasonCode.internal_error: "Simplify the query; if this persists, report it to the administrator.",
    ReasonCode.dp_aggregate_not_supported: (
        "In dp mode use COUNT(*), COUNT(DISTINCT <privacy unit>), SUM or AVG of an aggregate column with "
        "declared bounds, or MEDIAN(c), QUANTILE_CONT(c, p) or PERCENTILE_CONT(p) WITHIN GROUP (ORDER BY c) "
        "of one; STDDEV, VARIANCE, COUNT(c), MIN, MAX and conditional aggregates are not offered in dp mode."
    ),
    ReasonCode.dp_bounds_missing: (
        "Ask the data owner to declare the column's lower and upper bounds; values are clamped to them."
    ),
    ReasonCode.dp_join_not_on_unit: (
        "In dp mode join tables only with ON a.<privacy unit> = b.<privacy unit>, so each person's rows "
        "can be bounded."
    ),
    ReasonCode.dp_construct_not_supported: (
        "In dp mode drop ORDER BY and LIMIT (sort the released result instead), and output every "
        "GROUP BY key."
    ),
    ReasonCode.dp_keyset_too_large: "Group by fewer columns with public key sets.",
}

# Where each level may be used, told to the operator when a column of that level is used elsewhere.
LEVEL_HINTS: dict[ColumnLevel, str] = {
    ColumnLevel.hidden: "Column '{column}' is hidden and may not be used in any part of a query.",
    ColumnLevel.join_key: (
        "Column '{column}' is a join key and may only be counted with COUNT(DISTINCT {column}) "
        "when it is the privacy unit."
    ),
    ColumnLevel.aggregate: (
        "Column '{column}' is an aggregate column and may only be used inside COUNT, SUM, AVG, STDDEV or "
        "VARIANCE."
    ),
    ColumnLevel.compare: (
        "Column '{column}' is a compare column and may only be compared with literals in WHERE "
        "(=, <>, <, <=, >, >=, IN, BETWEEN, IS NULL), directly or through a listed transform such as "
        "year(...)."
    ),
    ColumnLevel.group: (
        "Column '{column}' is a group column and may be used in GROUP BY, as a grouped output, and in WHERE, "
        "directly or through a listed transform."
    ),
    ColumnLevel.public: (
        "Column '{column}' is a public column and may be used in GROUP BY, as a grouped output, in WHERE, "
        "and in MIN or MAX."
    ),
}


@dataclass(frozen=True)
class Reason:
    """One problem with a query, as the operator sees it (in `POST /v1/jobs` 422 detail)."""

    code: ReasonCode
    construct: str
    position: tuple[int, int] | None
    hint: str

    @property
    def message(self) -> str:
        return _MESSAGES[self.code].format(construct=self.construct)

    def to_dict(self) -> dict[str, Any]:
        position = None if self.position is None else {"line": self.position[0], "column": self.position[1]}
        return {
            "code": str(self.code),
            "construct": self.construct,
            "position": position,
            "hint": self.hint,
            "message": self.message,
        }


def reason(
    code: ReasonCode, construct: str, position: tuple[int, int] | None, hint: str | None = None
) -> Reason:
    """A reason with the code's default hint unless a more specific one is given."""
    return Reason(code, construct, position, hint or HINTS[code])


_OPERATORS: dict[type[exp.Expr], str] = {
    exp.Add: "+",
    exp.Sub: "-",
    exp.Mul: "*",
    exp.Div: "/",
    exp.IntDiv: "//",
    exp.Mod: "%",
    exp.Pow: "**",
    exp.Neg: "unary minus",
    exp.DPipe: "||",
    exp.BitwiseAnd: "&",
    exp.BitwiseOr: "|",
    exp.BitwiseXor: "xor",
    exp.BitwiseNot: "~",
    exp.NullSafeEQ: "IS NOT DISTINCT FROM",
    exp.NullSafeNEQ: "IS DISTINCT FROM",
    exp.SimilarTo: "SIMILAR TO",
    exp.Window: "window function (OVER)",
    exp.Subquery: "subquery",
    exp.Select: "subquery",
    exp.Star: "*",
    exp.Literal: "literal",
    exp.Null: "NULL",
    exp.Boolean: "boolean literal",
    exp.Placeholder: "parameter",
    exp.Dot: "field access",
    exp.Bracket: "subscript",
    exp.TableSample: "SAMPLE",
    exp.Lateral: "LATERAL",
    exp.With: "WITH",
    exp.CTE: "WITH",
    exp.Join: "JOIN",
    exp.Union: "UNION",
    exp.Intersect: "INTERSECT",
    exp.Except: "EXCEPT",
    exp.Distinct: "DISTINCT",
    exp.Having: "HAVING",
    exp.Qualify: "QUALIFY",
    exp.Offset: "OFFSET",
    exp.Fetch: "FETCH",
    exp.Columns: "COLUMNS",
    exp.Tuple: "tuple",
    exp.Lambda: "lambda",
    exp.Comprehension: "list comprehension",
    exp.Struct: "struct literal",
    exp.Array: "list literal",
    exp.JSONExtractScalar: "->>",
    exp.JSONExtract: "->",
    exp.PositionalColumn: "positional reference (#n)",
    exp.HistoricalData: "AT (time travel)",
    exp.Values: "VALUES",
    exp.Unnest: "UNNEST",
    exp.Explode: "UNNEST",
    exp.Collate: "COLLATE",
    exp.Interval: "INTERVAL",
    exp.WithinGroup: "WITHIN GROUP",
    exp.Exists: "EXISTS (subquery)",
}


def describe(node: exp.Expr) -> str:
    """A keyword or class name for `node`, never its text: safe to show whatever the node holds.

    >>> describe(exp.Add(this=exp.column("a"), expression=exp.Literal.string("secret")))
    '+'
    """
    if isinstance(node, exp.IgnoreNulls | exp.RespectNulls) and isinstance(node.this, exp.Expr):
        return describe(node.this)
    if isinstance(node, exp.Pivot):
        return "UNPIVOT" if node.args.get("unpivot") else "PIVOT"
    if isinstance(node, exp.Array) and any(isinstance(item, exp.Comprehension) for item in node.expressions):
        return "list comprehension"
    for kind, name in _OPERATORS.items():
        if isinstance(node, kind):
            return name
    if isinstance(node, exp.Anonymous):
        return node.name.upper()
    if isinstance(node, exp.Func):
        return node.sql_name()
    return node.key.upper()
