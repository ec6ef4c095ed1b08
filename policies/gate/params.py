"""Template parameters: typed placeholders (`:district`, `:year`) that stand only where a literal may.

A data product's SQL is approved once and called many times with different values, so the gate must
hold for EVERY admissible value, not one example. Two facts make that checkable:

1. Placement. A placeholder may stand only as the literal side of a one-column test (`=`, `<>`, `<`,
   `<=`, `>`, `>=`, `IN (...)`, `BETWEEN`) of a `group`, `compare` or `public` column: the place the
   gate's `conditions` read a literal. Anywhere else (the SELECT list, LIMIT, arithmetic, a CASE
   result, a test of an `aggregate` or `join_key` column) it is refused here, before any value.
2. Value independence. Where a literal stands in a test, the gate's verdict depends on its kind only
   (text, number, typed DATE), never on its value (`conditions._operand_with`, `nodes.literal_reason`).
   Each parameter has exactly one kind, so checking the bound SQL with each enum value, and with both
   ends of each range, covers every admissible value: `check_template` does exactly that.

Types: `enum` (text; values drawn from a column's declared public key set, optionally a subset),
`int` (an integer range), `date` (an ISO date range, bound as a typed `DATE '...'` literal).

Binding is on the sqlglot tree: each placeholder node is replaced by a literal node built from the
validated value, then the tree is rendered; the SQL is never assembled from strings. Pure: no I/O.

>>> from policies.levels import ColumnLevel
>>> from policies.gate.plan import ColumnGrant, TableGrant
>>> cols = {"district": ColumnGrant("district", ColumnLevel.group, ("a", "b"), "string"),
...         "pid": ColumnGrant("pid", ColumnLevel.join_key, None, "string")}
>>> t = {"r": TableGrant("r", "ds-1", cols, frozenset(cols), "pid", 1)}
>>> schema = parse_schema({"d": {"type": "enum", "column": "r.district"}}, t)
>>> bind("SELECT COUNT(*) AS n FROM r WHERE district = :d", schema, {"d": "b"})
"SELECT COUNT(*) AS n FROM r WHERE district = 'b'"
>>> try:
...     bind("SELECT COUNT(*) AS n FROM r WHERE district = :d", schema, {"d": "zz"})
... except ParamError as e:
...     print(e.code, e.param)
param_not_admissible d
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB

from policies.gate import Decision, check
from policies.gate.nodes import column_refs, unparen
from policies.gate.parse import parse
from policies.gate.plan import ColumnGrant, GateContext, TableGrant
from policies.levels import ColumnLevel

PLACEABLE = (ColumnLevel.group, ColumnLevel.compare, ColumnLevel.public)
MAX_ENUM_VALUES = 1000  # each value is gated at approval; a larger key set is a different product
_TESTS = (exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE)
_TEXT = ("string", "large_string", "utf8", "large_utf8")
_NUMERIC = ("int", "uint", "float", "double", "decimal")
_DATES = ("date", "timestamp")


class ParamType(StrEnum):
    enum = "enum"
    int = "int"
    date = "date"


class ParamProblem(StrEnum):
    """Stable codes of a parameter problem (API: the call's or template's error detail)."""

    param_not_admissible = "param_not_admissible"  # a value outside its admissible set
    param_missing = "param_missing"
    param_unknown = "param_unknown"
    param_misplaced = "param_misplaced"  # a placeholder where no literal of a placeable column may be
    param_schema_invalid = "param_schema_invalid"


class ParamError(ValueError):
    """A parameter problem; names the parameter and the reason, never the value given."""

    def __init__(self, code: ParamProblem, param: str, why: str) -> None:
        super().__init__(f"{code}: parameter {param!r}: {why}")
        self.code, self.param, self.why = code, param, why


@dataclass(frozen=True)
class Param:
    name: str
    type: ParamType
    values: tuple[str, ...] = ()  # enum: the admissible values, in order
    column: str | None = None  # enum: "table.column" the values come from
    min: int | str | None = None  # int: an integer; date: ISO text
    max: int | str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.type.value}
        if self.type is ParamType.enum:
            d |= {"column": self.column, "values": list(self.values)}
        else:
            d |= {"min": self.min, "max": self.max}
        return d

    def coerce(self, value: Any) -> int | str | dt.date:
        """The value as its type, or ParamError if it is outside the admissible set."""
        bad = ParamError(ParamProblem.param_not_admissible, self.name, f"not an admissible {self.type} value")
        if self.type is ParamType.enum:
            if not isinstance(value, str) or value not in self.values:
                raise bad
            return value
        if self.type is ParamType.int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise bad
            assert isinstance(self.min, int) and isinstance(self.max, int)
            if not self.min <= value <= self.max:
                raise bad
            return value
        try:
            day = dt.date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
        except ValueError:
            day = None
        if day is None or not (
            dt.date.fromisoformat(str(self.min)) <= day <= dt.date.fromisoformat(str(self.max))
        ):
            raise bad
        return day

    def probes(self) -> tuple[Any, ...]:
        """The values `check_template` gates: every enum value, both ends of a range."""
        if self.type is ParamType.enum:
            return self.values
        return (self.min, self.max) if self.min != self.max else (self.min,)


@dataclass(frozen=True)
class ParamSchema:
    params: tuple[Param, ...]

    def by_name(self) -> dict[str, Param]:
        return {p.name: p for p in self.params}

    def to_dict(self) -> dict[str, Any]:
        return {p.name: p.to_dict() for p in self.params}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ParamSchema:
        """A schema as `to_dict` stored it (already resolved and validated)."""
        return cls(
            tuple(
                Param(
                    name,
                    ParamType(s["type"]),
                    tuple(s.get("values", ())),
                    s.get("column"),
                    s.get("min"),
                    s.get("max"),
                )
                for name, s in d.items()
            )
        )


def _column(ref: str, tables: Mapping[str, TableGrant]) -> ColumnGrant | None:
    table, _, name = ref.rpartition(".")
    grants = [tables[table.lower()]] if table else list(tables.values())
    found = [g.columns[name] for g in grants if g is not None and name in g.columns]
    return found[0] if len(found) == 1 else None


def parse_schema(raw: Mapping[str, Any], tables: Mapping[str, TableGrant]) -> ParamSchema:
    """The typed schema from plain data; an enum's values are resolved from its column's public keys."""
    params = []
    for name, spec in raw.items():
        bad = ParamProblem.param_schema_invalid
        if not name.isidentifier() or not isinstance(spec, Mapping):
            raise ParamError(bad, name, "a name is an identifier and its spec an object")
        try:
            kind = ParamType(spec.get("type"))
        except ValueError:
            raise ParamError(bad, name, "type is one of enum, int, date") from None
        if kind is ParamType.enum:
            ref = spec.get("column")
            col = (
                _column(ref, tables)
                if isinstance(ref, str) and ref.rpartition(".")[0].lower() in tables
                else None
            )
            if col is None or not col.public_keys:
                raise ParamError(bad, name, "an enum names a granted table.column with declared public keys")
            values = spec.get("values", list(col.public_keys))
            if not isinstance(values, list) or not values or not set(values) <= set(col.public_keys):
                raise ParamError(bad, name, "enum values are a non-empty subset of the column's public keys")
            if len(values) > MAX_ENUM_VALUES:
                raise ParamError(bad, name, f"an enum has at most {MAX_ENUM_VALUES} values")
            params.append(Param(name, kind, tuple(dict.fromkeys(values)), column=ref))
            continue
        low, high = spec.get("min"), spec.get("max")
        if kind is ParamType.int:
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high)) or low > high:
                raise ParamError(bad, name, "an int range has integer min <= max")
        else:
            try:
                ok = dt.date.fromisoformat(low) <= dt.date.fromisoformat(high)
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise ParamError(bad, name, "a date range has ISO dates min <= max")
        params.append(Param(name, kind, min=low, max=high))
    return ParamSchema(tuple(params))


class _Generator(DuckDB.Generator):  # type: ignore[misc,name-defined]
    """DuckDB SQL, except that a cast marked as a typed literal is written `DATE '...'` again."""

    def cast_sql(self, expression: exp.Cast, safe_prefix: str | None = None) -> str:
        if expression.meta.get("typed_literal"):
            return f"{self.sql(expression, 'to')} {self.sql(expression, 'this')}"
        return super().cast_sql(expression, safe_prefix)


class _Dialect(DuckDB):
    Generator = _Generator


def _tree(sql: str) -> exp.Expr:
    parsed, _ = parse(sql)
    if parsed.tree is None:
        raise ParamError(ParamProblem.param_schema_invalid, "sql", "the template does not parse")
    for cast in parsed.tree.find_all(exp.Cast):
        if parsed.source.is_typed_literal(cast):
            cast.meta["typed_literal"] = True
    return parsed.tree


def placeholders(tree: exp.Expr) -> Iterator[exp.Placeholder]:
    yield from tree.find_all(exp.Placeholder)


def _operand(node: exp.Placeholder) -> exp.Expr | None:
    """The tested expression a placeholder is the literal of, or None when it is not in a test."""
    child: exp.Expr = node
    parent = node.parent
    while isinstance(parent, exp.Paren):
        child, parent = parent, parent.parent
    if isinstance(parent, _TESTS):
        other = parent.expression if child is parent.this else parent.this
        return other if column_refs(unparen(other)) else None
    if isinstance(parent, exp.In) and child in parent.expressions:
        return parent.this
    if isinstance(parent, exp.Between) and child in (parent.args.get("low"), parent.args.get("high")):
        return parent.this
    return None


def _kind_fits(param: Param, column: ColumnGrant) -> bool:
    kind = column.type or ""
    if param.type is ParamType.enum:
        return column.type is None or kind.startswith(_TEXT)
    if param.type is ParamType.int:
        return column.type is None or kind.startswith(_NUMERIC)
    return column.type is None or kind.startswith(_DATES)


def check_placement(sql: str, schema: ParamSchema, tables: Mapping[str, TableGrant]) -> None:
    """Every placeholder stands where a literal of a placeable column of its type may, and every
    declared parameter is used; ParamError otherwise."""
    tree = _tree(sql)
    declared = schema.by_name()
    used: set[str] = set()
    for node in placeholders(tree):
        name = node.name
        if name not in declared:
            raise ParamError(
                ParamProblem.param_unknown, name or "?", "the template uses an undeclared parameter"
            )
        operand = _operand(node)
        refs = column_refs(operand) if operand is not None else []
        if len(refs) != 1:
            raise ParamError(
                ParamProblem.param_misplaced, name, "a parameter is the literal of a one-column test"
            )
        ref = refs[0]
        col = _column(f"{ref.table}.{ref.name}" if ref.table else ref.name, tables)
        if col is None or col.level not in PLACEABLE:
            raise ParamError(
                ParamProblem.param_misplaced,
                name,
                "only a group, compare or public column is tested against it",
            )
        if not _kind_fits(declared[name], col):
            raise ParamError(ParamProblem.param_misplaced, name, "its type does not match the tested column")
        used.add(name)
    unused = sorted(set(declared) - used)
    if unused:
        raise ParamError(ParamProblem.param_schema_invalid, unused[0], "a declared parameter is not used")


def _literal(value: int | str | dt.date) -> exp.Expr:
    if isinstance(value, dt.date):
        cast = exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.build("date"))
        cast.meta["typed_literal"] = True
        return cast
    if isinstance(value, int):
        return exp.Literal.number(value)
    return exp.Literal.string(value)


def bind(sql: str, schema: ParamSchema, values: Mapping[str, Any]) -> str:
    """The template with every placeholder replaced by its validated value (a literal node)."""
    declared = schema.by_name()
    unknown = sorted(set(values) - set(declared))
    if unknown:
        raise ParamError(ParamProblem.param_unknown, unknown[0], "no such parameter")
    missing = [name for name in declared if name not in values]
    if missing:
        raise ParamError(ParamProblem.param_missing, missing[0], "a value is required")
    bound = {name: declared[name].coerce(values[name]) for name in declared}
    tree = _tree(sql)
    for node in list(placeholders(tree)):
        node.replace(_literal(bound[node.name]))
    return tree.sql(dialect=_Dialect)


@dataclass(frozen=True)
class TemplateCheck:
    """The gate's verdict on a template: refused with the first refusing probe's reasons, else allowed."""

    decision: Decision
    probes: int  # how many bound variants were gated
    refused_with: dict[str, Any] | None = None  # the parameter values of the refused probe (admissible ones)


def check_template(sql: str, schema: ParamSchema, ctx: GateContext) -> TemplateCheck:
    """Placement first, then the gate over each probe: one parameter varies, the others hold their first
    probe. By value independence (module docstring) this covers every admissible combination."""
    check_placement(sql, schema, ctx.tables)
    base = {p.name: p.probes()[0] for p in schema.params}
    variants: list[dict[str, Any]] = [base]
    for p in schema.params:
        variants.extend({**base, p.name: v} for v in p.probes()[1:])
    decision: Decision | None = None
    for values in variants:
        decision = check(bind(sql, schema, values), ctx)
        if not decision.allowed:
            return TemplateCheck(decision, len(variants), values)
    assert decision is not None
    return TemplateCheck(decision, len(variants))


class ContextKey:
    """A GateContext as a cache key: equal when their text forms are (the grant as the gate sees it).
    A caller that checks many values against one context (a product call) builds it once: the text
    form of a whole grant costs more than the cached check it looks up."""

    __slots__ = ("ctx", "key")

    def __init__(self, ctx: GateContext) -> None:
        self.ctx, self.key = ctx, repr(ctx)

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ContextKey) and other.key == self.key


def bind_and_check(
    sql: str, schema: ParamSchema, values: Mapping[str, Any], ctx: GateContext | ContextKey
) -> tuple[str, Decision]:
    """`bind`, then the gate on the bound SQL. Both are pure functions of (SQL, schema, values, grant),
    so the pair is memoized: a product called again with the same values against the same grant reuses
    the decision. Values are validated first, so an inadmissible one never reaches (or hits) the cache."""
    declared = schema.by_name()
    for name, value in values.items():
        if name in declared:
            declared[name].coerce(value)
    key = ctx if isinstance(ctx, ContextKey) else ContextKey(ctx)
    return _bind_check(sql, schema, tuple(sorted(values.items())), key)


@functools.lru_cache(maxsize=4096)
def _bind_check(
    sql: str, schema: ParamSchema, items: tuple[tuple[str, Any], ...], ctx: ContextKey
) -> tuple[str, Decision]:
    bound = bind(sql, schema, dict(items))
    return bound, check(bound, ctx.ctx)
