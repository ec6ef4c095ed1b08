"""The gate, driven by its case files: allowed queries are rewritten and executed, refused ones say why."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
import sqlglot
from sqlglot import exp

import policies.gate
from policies.gate import Decision, check, core, lineage
from policies.gate.companions import without as without_dominance
from policies.gate.merge import merge
from policies.gate.parse import parse
from policies.gate.plan import GateContext, OutputKind, Plan, TableGrant
from policies.gate.reasons import ReasonCode
from policies.levels import ColumnLevel

CASES = Path(__file__).parent / "cases"


@dataclass(frozen=True)
class Case:
    title: str
    options: dict[str, str]
    statements: tuple[str, ...]


def load(name: str) -> list[Case]:
    """Cases start at `-- title:` lines; `-- key: value` lines right after it are options; then SQL
    statements, each ended by `;` at the end of a line (so `SELECT 1; SELECT 2;` is one statement)."""
    text = (CASES / name).read_text(encoding="utf-8")
    parts = re.split(r"^-- title:[ \t]*(.+?)[ \t]*$", text, flags=re.MULTILINE)
    cases = []
    for title, body in zip(parts[1::2], parts[2::2], strict=True):
        lines = body.strip("\n").splitlines()
        options = {}
        while lines and (option := re.fullmatch(r"--[ \t]*(\w+):[ \t]*(.*)", lines[0].strip())):
            options[option[1]] = option[2].strip()
            lines.pop(0)
        sql = "\n".join(lines) + "\n"
        statements = tuple(s.strip() for s in re.split(r";[ \t]*\n", sql) if s.strip())
        cases.append(Case(title, options, statements))
    titles = [case.title for case in cases]
    assert len(titles) == len(set(titles)), "case titles must be unique"
    return cases


ALLOWED = load("allowed.sql")
REJECTED = load("rejected.sql")


def _normal(sql: str) -> str:
    return sqlglot.parse_one(sql, read="duckdb").sql(dialect="duckdb", identify=True)


def _flat(sql: str, ctx: GateContext) -> exp.Select:
    """The query with its CTEs and derived tables merged, as the gate's later passes see it."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    assert isinstance(tree, exp.Select)
    return merge(tree, ctx)[0]


def _grants(ctx: GateContext, sql: str) -> dict[str, TableGrant]:
    """The grant of each table the query reads, by the name that qualifies its columns (its alias)."""
    tree = _flat(sql, ctx)
    tables = [tree.args["from_"].this, *(join.this for join in tree.args.get("joins") or [])]
    return {(table.alias or table.name).lower(): ctx.tables[table.name.lower()] for table in tables}


def test_case_files_are_big_enough() -> None:
    assert len(ALLOWED) + len(REJECTED) >= 220 and len(ALLOWED) >= 70
    assert all(len(case.statements) == 2 for case in ALLOWED)
    assert all(len(case.statements) == 1 and "expect" in case.options for case in REJECTED)


def test_every_reason_code_has_a_rejected_case() -> None:
    expected = {code.strip() for case in REJECTED for code in case.options["expect"].split(",")}
    assert expected <= set(ReasonCode)
    dp_codes = {
        code for code in ReasonCode if code.value.startswith("dp_")
    }  # tests/policies/gate/test_dp_gate.py
    assert set(ReasonCode) - expected - dp_codes == {
        ReasonCode.internal_error
    }  # tested below, by breaking a pass


def test_every_output_kind_has_an_allowed_case(contexts: dict[str, GateContext]) -> None:
    kinds = set()
    for case in ALLOWED:
        plan = check(case.statements[0], contexts[case.options.get("rows_per_unit", "one")]).plan
        assert plan is not None, case.title
        kinds |= {output.kind for output in plan.outputs}
    assert kinds == set(OutputKind) - {
        OutputKind.quantile
    }  # dp mode only: tests/policies/gate/test_dp_gate.py


@pytest.mark.parametrize("case", ALLOWED, ids=[case.title for case in ALLOWED])
def test_allowed_case_is_rewritten_and_agrees_with_the_original(
    case: Case, contexts: dict[str, GateContext], databases: dict[str, duckdb.DuckDBPyConnection]
) -> None:
    sql, expected = case.statements
    variant = case.options.get("rows_per_unit", "one")
    decision = check(sql, contexts[variant])
    assert decision.allowed, [reason.to_dict() for reason in decision.reasons]
    assert decision.reasons == ()
    plan = decision.plan
    assert plan is not None
    checked = without_dominance(plan.sql)  # dominance companions: tests/policies/gate/test_companions.py
    assert _normal(checked) == _normal(expected)

    connection = databases[variant]
    original = connection.execute(sql).fetchall()
    result = connection.execute(checked)
    names = [column[0] for column in result.description]
    rows = result.fetchall()
    width = len(plan.outputs)
    assert names[:width] == [output.name for output in plan.outputs]
    assert names[width] == plan.group_units_column == "__units"
    assert names[width + 1 :] == [
        output.units_column
        for output in plan.outputs
        if output.units_column is not None and output.units_column != plan.group_units_column
    ]
    cells = [row[:width] for row in rows]
    if sqlglot.parse_one(sql, read="duckdb").args.get("order") is not None:
        assert cells == original
    else:
        assert sorted(cells, key=repr) == sorted(original, key=repr)
    if lineage.layered(sqlglot.parse_one(sql, read="duckdb")):
        _assert_layered_units(sql, plan, names, rows, contexts[variant], connection)
        return
    grants = _grants(contexts[variant], sql)
    flat = _flat(sql, contexts[variant]).sql(dialect="duckdb")
    _assert_units_match_brute_force(flat, plan, names, rows, connection, grants)
    assert plan.tables == tuple(grant.name for grant in grants.values())
    for grant in grants.values():
        visible = {name for name, column in grant.columns.items() if column.level != ColumnLevel.hidden}
        assert set(plan.columns_used[grant.name]) <= visible


def _cells(plan: Plan, names: list[str], row: tuple[object, ...]) -> tuple[object, ...]:
    """A result row's outputs, then each output's units, then the row's units."""
    width = len(plan.outputs)
    units = [row[names.index(output.units_column or plan.group_units_column)] for output in plan.outputs]
    return (*row[:width], *units, row[names.index(plan.group_units_column)])


def _assert_layered_units(
    sql: str,
    plan: Plan,
    names: list[str],
    rows: list[tuple[object, ...]],
    ctx: GateContext,
    connection: duckdb.DuckDBPyConnection,
) -> None:
    """A query over aggregate queries releases rows of its cores: each core, checked as a query of
    its own, has its units verified by brute force like any case, and every row of the layered result
    (its outputs and each output's units) is a row of a core, projected through the lineage."""
    parsed = parse(sql)[0]
    assert parsed.tree is not None
    found = lineage.cores(parsed.tree, parsed.source, lambda tree: core(tree, ctx, parsed.source))
    assert found
    available: Counter[tuple[object, ...]] = Counter()
    tables: set[str] = set()
    for tree, mapping in found:
        core_sql = tree.sql(dialect="duckdb")
        core_plan = check(core_sql, ctx).plan
        assert core_plan is not None, core_sql
        result = connection.execute(without_dominance(core_plan.sql))
        core_names = [column[0] for column in result.description]
        core_rows = result.fetchall()
        grants = _grants(ctx, core_sql)
        flat = _flat(core_sql, ctx).sql(dialect="duckdb")
        _assert_units_match_brute_force(flat, core_plan, core_names, core_rows, connection, grants)
        tables |= set(core_plan.tables)
        width = len(core_plan.outputs)
        for row in core_rows:
            cells = _cells(core_plan, core_names, row)
            units = cells[width:]
            available[(*(cells[i] for i in mapping), *(units[i] for i in mapping), units[-1])] += 1
    released = Counter(_cells(plan, names, row) for row in rows)
    assert not released - available, released - available
    if "LIMIT" not in sql.upper() and not re.search(r"UNION(?!\s+ALL)", sql, re.IGNORECASE):
        assert released == available
    assert set(plan.tables) == tables


def _contributing(grants: dict[str, TableGrant]) -> list[str]:
    """The qualifiers of the tables whose units a row depends on: every table but a reference table
    (all of its granted columns public); when every table is one, all of them."""
    protected = [
        qualifier
        for qualifier, grant in grants.items()
        if any(column.level != ColumnLevel.public for column in grant.columns.values())
    ]
    return protected or list(grants)


def _assert_units_match_brute_force(
    sql: str,
    plan: Plan,
    names: list[str],
    rows: list[tuple[object, ...]],
    connection: duckdb.DuckDBPyConnection,
    grants: dict[str, TableGrant],
) -> None:
    """Recount each group's distinct privacy units in Python from the filtered (and joined) raw rows.

    A GROUP BY alias stands for its SELECT item. Each companion `__units_<i>` must count the units with
    a non-NULL argument of aggregate <i>; for a conditional aggregate, the argument is its CASE without
    the ELSE (a unit the condition does not match adds a zero, not information). After a join, each
    count is the least, over the tables that contribute a non-public column, of that table's units."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    items = [item.this if isinstance(item, exp.Alias) else item for item in tree.expressions]
    aliases = {item.alias.lower(): item.this for item in tree.expressions if isinstance(item, exp.Alias)}
    table_columns = {column.lower() for grant in grants.values() for column in grant.all_columns}
    group = tree.args.get("group")
    keys = []
    for key in group.expressions if group is not None else []:
        name = key.name.lower() if isinstance(key, exp.Column) and not key.table else ""
        keys.append((aliases[name] if name in aliases and name not in table_columns else key).copy())
    width = len(plan.outputs)
    counted = []
    for name in names[width + 1 :]:
        if not re.fullmatch(r"__units_[0-9]+", name):
            continue  # dominance and unit-set companions: tests/policies/gate/test_companions.py
        argument = items[int(name.rsplit("_", 1)[1])].this.copy()
        if isinstance(argument, exp.Case):
            argument.set("default", None)
        counted.append(argument)
    raw = tree.copy()
    for clause in ("group", "order", "limit"):
        raw.set(clause, None)
    contributing = _contributing(grants)
    left_joined = {
        (join.this.alias or join.this.name).lower()
        for join in tree.args.get("joins") or []
        if str(join.args.get("side") or "").upper() == "LEFT"
    }
    # A left-joined table no row of a group matched does not count (unless every counted table is one).
    optional = [qualifier in left_joined for qualifier in contributing]
    if all(optional):
        optional = [False] * len(contributing)
    units = [
        exp.column(grants[qualifier].privacy_unit, table=qualifier, quoted=True) for qualifier in contributing
    ]
    raw.set("expressions", [*keys, *units, *counted])
    tables = len(units)
    groups: dict[tuple[object, ...], list[list[set[object]]]] = defaultdict(
        lambda: [[set() for _ in range(tables)] for _ in range(len(counted) + 1)]
    )
    if not keys:
        groups[()]  # one row even when nothing matches
    for row in connection.execute(raw.sql(dialect="duckdb")).fetchall():
        sets = groups[row[: len(keys)]]
        row_units = row[len(keys) : len(keys) + tables]
        for table, unit in enumerate(row_units):
            if unit is not None:  # an unmatched row of a left-joined table carries none of its units
                sets[0][table].add(unit)
        for index, value in enumerate(row[len(keys) + tables :]):
            if value is not None:
                for table, unit in enumerate(row_units):
                    if unit is not None:
                        sets[index + 1][table].add(unit)
    expected = {
        key: tuple(
            min(len(units) for units, skip in zip(per_table, optional, strict=True) if units or not skip)
            for per_table in sets
        )
        for key, sets in groups.items()
    }
    actual = [tuple(row[width:]) for row in rows]

    texts = [item.sql(dialect="duckdb") for item in items]
    positions = [
        next((i for i, text in enumerate(texts) if text == key.sql(dialect="duckdb")), None) for key in keys
    ]
    if None not in positions:
        for row, counts in zip(rows, actual, strict=True):
            assert counts == expected[tuple(row[i] for i in positions)]
    else:
        missing = Counter(actual) - Counter(expected.values())
        assert not missing
        if tree.args.get("limit") is None:
            assert Counter(actual) == Counter(expected.values())


@pytest.mark.parametrize("case", REJECTED, ids=[case.title for case in REJECTED])
def test_rejected_case_gives_every_reason(case: Case, contexts: dict[str, GateContext]) -> None:
    (sql,) = case.statements
    decision = check(sql, contexts[case.options.get("rows_per_unit", "one")])
    assert not decision.allowed and decision.plan is None
    expected = {ReasonCode(code.strip()) for code in case.options["expect"].split(",")}
    assert {reason.code for reason in decision.reasons} == expected, [r.to_dict() for r in decision.reasons]
    assert len(set(decision.reasons)) == len(decision.reasons)
    for reason in decision.reasons:
        body = reason.to_dict()
        assert set(body) == {"code", "construct", "position", "hint", "message"}
        assert body["hint"].endswith(".") and body["construct"]
        assert body["position"] is None or set(body["position"]) == {"line", "column"}


def test_hidden_column_in_where_is_placed_at_its_line_and_column(ctx: GateContext) -> None:
    decision = check("SELECT COUNT(*) AS n\nFROM residents\nWHERE  name = 'Zhang San'", ctx)
    (reason,) = decision.reasons
    assert reason.code is ReasonCode.hidden_column
    assert reason.position == (3, 8)
    assert reason.to_dict() == {
        "code": "hidden_column",
        "construct": "name",
        "position": {"line": 3, "column": 8},
        "hint": reason.hint,
        "message": "column 'name' is hidden and cannot be used anywhere",
    }


def test_function_is_placed_at_its_name(ctx: GateContext) -> None:
    (reason,) = check("SELECT district, max( income ) FROM residents GROUP BY district", ctx).reasons
    assert (reason.code, reason.construct, reason.position) == (
        ReasonCode.aggregate_not_allowed,
        "MAX",
        (1, 18),
    )


def test_parse_error_keeps_position_but_not_the_text(ctx: GateContext) -> None:
    decision = check("SELECT COUNT(*)\nFROM residents WHERE district = = 'SECRET-PARSE'", ctx)
    (reason,) = decision.reasons
    assert reason.code is ReasonCode.parse_error and reason.position is not None
    assert reason.position[0] == 2
    assert "SECRET-PARSE" not in str(reason.to_dict())


@pytest.mark.parametrize("sql", ["", "   ", "-- only a comment\n", ";", ";;\n;", "'unterminated"])
def test_empty_or_broken_text_is_a_parse_error(sql: str, ctx: GateContext) -> None:
    assert [reason.code for reason in check(sql, ctx).reasons] == [ReasonCode.parse_error]


def test_reasons_across_passes_are_all_reported(ctx: GateContext) -> None:
    sql = (
        "SELECT name, MIN(age) FROM residents WHERE income > 5 GROUP BY 1 HAVING COUNT(*) > 1 "
        "LIMIT 1 OFFSET 2"
    )
    codes = Counter(reason.code for reason in check(sql, ctx).reasons)
    assert codes == {
        ReasonCode.hidden_column: 1,
        ReasonCode.raw_projection: 1,
        ReasonCode.aggregate_not_allowed: 1,
        ReasonCode.level_violation: 1,
        ReasonCode.construct_not_allowed: 3,  # HAVING, OFFSET, GROUP BY ordinal
    }


def test_plan_describes_outputs_and_their_unit_counts(contexts: dict[str, GateContext]) -> None:
    sql = (
        "SELECT district, COUNT(*), SUM(income) AS total, AVG(age), COUNT(DISTINCT resident_id) "
        "FROM residents GROUP BY district"
    )
    plan = check(sql, contexts["many"]).plan
    assert plan is not None
    assert [(o.name, o.kind, o.source_column, o.units_column) for o in plan.outputs] == [
        ("district", OutputKind.group, "district", None),
        ("count", OutputKind.count, None, "__units"),
        ("total", OutputKind.sum, "income", "__units_2"),
        ("avg_age", OutputKind.avg, "age", "__units_3"),
        ("count_distinct_resident_id", OutputKind.count_units, "resident_id", "__units"),
    ]
    assert plan.tables == ("residents",) and plan.group_units_column == "__units"
    assert plan.columns_used == {"residents": ("age", "district", "income", "resident_id")}


def test_one_row_per_unit_counts_rows_instead_of_distinct_units(contexts: dict[str, GateContext]) -> None:
    sql = "SELECT district, SUM(income) FROM residents GROUP BY district"
    one, many = (check(sql, contexts[variant]).plan for variant in ("one", "many"))
    assert one is not None and many is not None
    assert "DISTINCT" not in one.sql and 'COUNT("residents"."income") AS "__units_1"' in one.sql
    assert 'COUNT(DISTINCT "residents"."__unit") AS "__units"' in many.sql
    assert one.columns_used == {"residents": ("district", "income")}


def test_internal_failure_refuses_the_query(ctx: GateContext, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(tree: exp.Select, scope: object) -> tuple[exp.Select, list[object]]:
        raise RuntimeError("a bug in a pass")

    monkeypatch.setattr(policies.gate, "PASSES", (broken,))
    decision = check("SELECT COUNT(*) FROM residents", ctx)
    assert decision == Decision(False, decision.reasons, None)
    assert [reason.code for reason in decision.reasons] == [ReasonCode.internal_error]


def test_doctests_in_the_gate_pass() -> None:
    names = ["policies.gate"] + [
        f"policies.gate.{module.name}" for module in pkgutil.iter_modules(policies.gate.__path__)
    ]
    results = {name: doctest.testmod(importlib.import_module(name)) for name in names}
    assert all(result.failed == 0 for result in results.values()), results
    assert results["policies.gate"].attempted > 0
