"""Gate, workspace and SDC together under thousands of generated queries: no single release leaks.

In process (the HTTP variant is tests/e2e/test_leaks.py). Two tables hold the same people: `people`
has one row per person (the grant records `max_rows_per_unit=1`, so the rewrite counts rows),
`visits` has one to three rows per person (units are counted distinct). One person carries every
secret: a name and a phone (hidden), a unique income and bonus (aggregate), a unique birth date and
score (compare), and a district of their own with two other people, fewer than K units.

Each generated query goes through `policies.gate.check`. Refused: no reason may quote a secret.
Allowed: the plan runs in an `inprocess` workspace over views of the granted columns, the privacy
layer releases it with K=5, and then
- (a) no released cell holds a secret or any hidden value: every secret here is held by fewer than K
  units, so none may ever appear (the secret income alone least of all);
- (b) every released cell covers at least K privacy units, recounted from the raw table: the operator's
  query runs on the raw rows per group, the units behind each group are collected in Python, and the
  workspace's rows are matched to those groups by their output values (rows with identical values are
  interchangeable, so the check counts per value class). The companion unit counts must match too;
- (c) a failed workspace reports one of the workspace codes and nothing else.
The same holds for queries over aggregate queries (`layered_queries`: UNION ALL, a UNION inside a
CTE, an aggregating CTE filtered on a key, HAVING on a key): their truth is the groups of their parts.
Differencing two releases (tests/e2e/test_leaks.py, issue 6) is out of scope: single releases only.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from policies.gate import Decision, check
from policies.gate.plan import ColumnGrant, GateContext, OutputKind, Plan, TableGrant
from policies.gate.reasons import ReasonCode
from policies.levels import ColumnLevel
from policies.privacy import sdc
from sandbox.errors import WORKSPACE_CODES
from sandbox.workspace import Limits, ViewSpec, WorkspaceRequest, run
from sandbox.workspace.units import with_reserved

K = 5
PEOPLE = 120
SECRET_NAME = "SECRET-NAME-LI-8841"
SECRET_PHONE = "13987654321"
SECRET_NOTE = "SECRET-NOTE-5520"
SECRET_TOWN = "SECRET-TOWN-7731"  # the secret person's district, shared with two others: 3 units
SECRET_INCOME = 987654321
SECRET_BONUS = 31415926
SECRET_BIRTH = datetime.date(1911, 11, 11)
SECRET_SCORE = 101  # everyone else scores 0-99
SECRET_TEXTS = ("SECRET", SECRET_PHONE, str(SECRET_INCOME), str(SECRET_BONUS), SECRET_BIRTH.isoformat())
SECRET_NUMBERS = (SECRET_INCOME, SECRET_BONUS)
DISTRICTS = ("东城", "西城", "朝阳", "海淀")
PUBLIC_DISTRICTS = ("东城", "西城")

LEVELS = {
    "pid": ColumnLevel.join_key,  # the privacy unit
    "name": ColumnLevel.hidden,
    "phone": ColumnLevel.hidden,
    "district": ColumnLevel.group,
    "sex": ColumnLevel.group,
    "age_band": ColumnLevel.group,
    "year": ColumnLevel.public,
    "income": ColumnLevel.aggregate,  # never NULL
    "bonus": ColumnLevel.aggregate,  # often NULL
    "birth_date": ColumnLevel.compare,
    "score": ColumnLevel.compare,
}
UNGRANTED = "note"  # in the file, not in the grant


# --- the seeded tables ----------------------------------------------------------------------------


def _people() -> list[dict[str, Any]]:
    rng = random.Random(8841)
    rows = [
        {
            "pid": f"P{i:04d}",
            "name": f"name-{i:04d}",
            "phone": f"1380000{i:04d}",
            "note": f"note-{i}",
            "district": DISTRICTS[i % len(DISTRICTS)],
            "sex": rng.choice("FM"),
            "age_band": rng.choice(["18-34", "35-59", "60+", None]),
            "year": 2019 + i % 5,
            "income": 1000 + 37 * i,
            "bonus": None if i % 3 == 0 else 100 + 7 * i,
            "birth_date": datetime.date(1950, 1, 1) + datetime.timedelta(days=173 * i),
            "score": rng.randrange(100),
        }
        for i in range(PEOPLE)
    ]
    rows[0].update(
        name=SECRET_NAME,
        phone=SECRET_PHONE,
        note=SECRET_NOTE,
        district=SECRET_TOWN,
        sex="F",
        income=SECRET_INCOME,
        bonus=SECRET_BONUS,
        birth_date=SECRET_BIRTH,
        score=SECRET_SCORE,
    )
    rows[1]["district"] = rows[2]["district"] = SECRET_TOWN
    return rows


def _visits(people: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One to three rows per person; the town has 8 rows but 3 units, the secret person 2 rows."""
    rows = []
    for i, person in enumerate(people):
        repeats = 2 if i == 0 else 3 if person["district"] == SECRET_TOWN else 1 + i * 7 % 3
        for r in range(repeats):
            row = dict(person, year=2019 + (i + r) % 5)
            if i == 0:
                row["bonus"] = SECRET_BONUS if r == 0 else None
            else:
                row["income"] = person["income"] + 11 * r
                row["bonus"] = None if (i + r) % 3 == 0 else 100 + 7 * i + r
            rows.append(row)
    return rows


SCHEMA = pa.schema(
    [
        ("pid", pa.string()),
        ("name", pa.string()),
        ("phone", pa.string()),
        ("note", pa.string()),
        ("district", pa.string()),
        ("sex", pa.string()),
        ("age_band", pa.string()),
        ("year", pa.int32()),
        ("income", pa.int64()),
        ("bonus", pa.int64()),
        ("birth_date", pa.date32()),
        ("score", pa.int32()),
    ]
)
HIDDEN_VALUES = frozenset(row[column] for row in _people() for column in ("pid", "name", "phone", "note"))


@dataclass(frozen=True)
class World:
    ctx: GateContext
    views: dict[str, ViewSpec]
    public_keys: dict[str, list[str]]
    raw: duckdb.DuckDBPyConnection  # every column of both tables, for the brute-force recount
    work_dir: Path


def _grant(name: str, table: pa.Table, max_rows: int | None) -> TableGrant:
    columns = {
        column: ColumnGrant(
            column,
            level,
            PUBLIC_DISTRICTS if column == "district" else None,
            nullable=table.column(column).null_count > 0,
        )
        for column, level in LEVELS.items()
    }
    return TableGrant(name, f"ds-{name}", columns, frozenset(SCHEMA.names), "pid", max_rows)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("generated")
    people = _people()
    tables = {
        "people": (pa.Table.from_pylist(people, schema=SCHEMA), 1),
        "visits": (pa.Table.from_pylist(_visits(people), schema=SCHEMA), None),
    }
    raw = duckdb.connect()
    raw.execute("SET threads = 1")
    grants, views = {}, {}
    for name, (table, max_rows) in tables.items():
        path = home / f"{name}.parquet"
        pq.write_table(with_reserved(table, "pid"), path)
        raw.execute(f"CREATE TABLE {name} AS SELECT * FROM read_parquet('{path}')")
        grants[name] = _grant(name, table, max_rows)
        views[name] = ViewSpec(name, path, tuple(LEVELS.items()), b"scenario-key-generated")
    work_dir = home / "job"
    work_dir.mkdir()
    yield World(GateContext(tables=grants), views, {"district": list(PUBLIC_DISTRICTS)}, raw, work_dir)
    raw.close()


# --- generated queries ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    sql: str
    kind: OutputKind | None  # None: outside this test's model; the gate is expected to refuse it
    source: str | None = None


@dataclass(frozen=True)
class Query:
    table: str
    items: tuple[Item, ...]
    where: str | None
    keys: tuple[str, ...]
    sql: str
    names: tuple[str, ...] = ()  # each item's output name as written (alias, else its text)
    parts: tuple[Query, ...] = ()  # a layered query's cores, as plain queries with the filters it pushes


GROUPABLE = ("district", "sex", "age_band", "year")
EVERY_COLUMN = (*LEVELS, UNGRANTED, "nope")
SAFE_ALIASES = ("n", "total", "mean", "units", "k1", "x")
RISKY_ALIASES = ("district", "income", "__units", "n")  # a column's name, reserved, or maybe taken
_TEXT = [f"'{SECRET_TOWN}'", f"'{SECRET_NAME}'", f"'{SECRET_PHONE}'", "NULL"]
_NUMBER = [str(SECRET_INCOME), str(SECRET_BONUS), SECRET_PHONE, "-1", "1.5", "NULL"]
# Literals of each column's type, the secrets among them: the data's own values, several times over.
TYPED_LITERALS = {
    "district": [*(f"'{d}'" for d in DISTRICTS), f"'{SECRET_TOWN}'", "'nowhere'"] * 3 + _TEXT,
    "sex": ["'F'", "'M'"] * 3 + _TEXT,
    "age_band": ["'18-34'", "'35-59'", "'60+'"] * 3 + _TEXT,
    "year": ["2019", "2020", "2021", "2023", "1999"] * 3 + _NUMBER,
    "birth_date": [
        f"DATE '{SECRET_BIRTH.isoformat()}'",
        "DATE '1970-01-01'",
        "DATE '1990-06-30'",
        "TIMESTAMP '1911-11-11 00:00:00'",
        f"'{SECRET_BIRTH.isoformat()}'",
        "NULL",
    ],
    "score": [str(SECRET_SCORE), "0", "50", "99"] * 3 + _NUMBER,
}
# Literals of any type: a mismatch may fail in the engine, which must report a code only.
ANY_LITERALS = [*dict.fromkeys(_TEXT + _NUMBER), f"'{SECRET_BIRTH.isoformat()}'", "TRUE", "E'SECRET-\\x41'"]


def literal_for(column: str, refusable: bool) -> st.SearchStrategy[str]:
    typed = TYPED_LITERALS.get(column, [])
    return st.sampled_from(typed + ANY_LITERALS if refusable else typed or ANY_LITERALS)


@st.composite
def where_test(draw: st.DrawFn, columns: tuple[str, ...], refusable: bool) -> str:
    """One WHERE test, including tests that isolate the secret person."""
    column = draw(st.sampled_from(columns))
    literal = literal_for(column, refusable)
    forms = ["cmp", "cmp", "flip", "in", "between", "null"]
    if refusable or column in GROUPABLE:
        forms.append("like")
    if refusable:
        forms += ["columns", "function", "cast", "arithmetic", "subquery"]
    form = draw(st.sampled_from(forms))
    op = draw(st.sampled_from(["=", "<>", "<", "<=", ">", ">="]))
    if form == "cmp":
        return f"{column} {op} {draw(literal)}"
    if form == "flip":
        return f"{draw(literal)} {op} {column}"
    if form == "in":
        values = draw(st.lists(literal, min_size=1, max_size=3))
        return f"{column} {draw(st.sampled_from(['IN', 'NOT IN']))} ({', '.join(values)})"
    if form == "between":
        return f"{column} BETWEEN {draw(literal)} AND {draw(literal)}"
    if form == "null":
        return f"{column} IS {draw(st.sampled_from(['', 'NOT ']))}NULL"
    if form == "like":
        pattern = draw(st.sampled_from(["'%城'", f"'%{SECRET_TOWN[7:]}%'", "'SECRET%'", "'_'"]))
        return f"{column} {draw(st.sampled_from(['LIKE', 'NOT LIKE']))} {pattern}"
    if form == "columns":
        return f"{column} {op} {draw(st.sampled_from(EVERY_COLUMN))}"
    if form == "function":
        return f"upper({column}) {op} {draw(literal)}"
    if form == "cast":
        return f"CAST({column} AS VARCHAR) {op} {draw(literal)}"
    if form == "arithmetic":
        return f"{column} + 1 {op} {draw(literal)}"
    return f"{column} IN (SELECT {column} FROM people WHERE name = '{SECRET_NAME}')"


@st.composite
def where_clause(draw: st.DrawFn, columns: tuple[str, ...], refusable: bool) -> str | None:
    tests = draw(st.lists(where_test(columns, refusable), max_size=3))
    if not tests:
        return None
    clause = tests[0]
    for test in tests[1:]:
        clause = f"({clause}) {draw(st.sampled_from(['AND', 'OR']))} {test}"
    return f"NOT ({clause})" if draw(st.booleans()) and draw(st.booleans()) else clause


GOOD_AGGREGATES = (
    Item("COUNT(*)", OutputKind.count),
    Item("COUNT(DISTINCT pid)", OutputKind.count_units, "pid"),
    Item("SUM(income)", OutputKind.sum, "income"),
    Item("SUM(bonus)", OutputKind.sum, "bonus"),
    Item("AVG(income)", OutputKind.avg, "income"),
    Item("AVG(bonus)", OutputKind.avg, "bonus"),
)


def refused_items() -> st.SearchStrategy[Item]:
    """SELECT items outside the model: raw values, value-returning aggregates, casts, literals (the gate
    refuses them), and a few it may come to allow (stddev, variance), held to their group's units."""
    column = st.sampled_from(EVERY_COLUMN)
    templates = [
        "{c}",
        "MIN({c})",
        "MAX({c})",
        "string_agg({c}, ',')",
        "list({c})",
        "any_value({c})",
        "arg_max(name, {c})",
        "SUM({c}) + 1",
        "AVG({c}) * 2",
        "COUNT({c})",
        "COUNT(DISTINCT {c})",
        "stddev({c})",
        "variance({c})",
        "CAST({c} AS VARCHAR)",
        "CAST(SUM({c}) AS VARCHAR)",
        "{c} * 2",
        "COUNT(*) FILTER (WHERE {c} = 1)",
        f"'{SECRET_NAME}'",
        f"{SECRET_INCOME}",
        f"'{SECRET_TOWN}' || {{c}}",
        f"CASE WHEN {{c}} = '{SECRET_NAME}' THEN 1 END",
        "*",
    ]
    return st.builds(lambda template, c: Item(template.format(c=c), None), st.sampled_from(templates), column)


def good_items(keys: tuple[str, ...]) -> st.SearchStrategy[Item]:
    keyed = [Item(key, OutputKind.group, key) if key in GROUPABLE else Item(key, None) for key in keys]
    choices = keyed + list(GOOD_AGGREGATES)
    return st.sampled_from(choices)


@st.composite
def queries(draw: st.DrawFn, refusable: bool, plain: bool = False) -> Query:
    """Allowed shapes only (`refusable=False`: most pass the gate), or mixed with refused items."""
    table = draw(st.sampled_from(["people", "visits"]))
    group_pool = GROUPABLE + (("income", "pid", "name", "birth_date", "score") if refusable else ())
    keys = tuple(draw(st.lists(st.sampled_from(group_pool), max_size=3, unique=True)))
    item = good_items(keys)
    if refusable:
        item = st.one_of(item, item, refused_items())
    items = draw(st.lists(item, min_size=1, max_size=5, unique_by=lambda chosen: chosen.sql))
    aliases = list(draw(st.permutations(SAFE_ALIASES)))
    written, names = [], list(keys)
    for chosen in items:
        alias = aliases.pop() if draw(st.integers(0, 2)) == 0 else None
        if refusable and draw(st.integers(0, 4)) == 0:
            alias = draw(st.sampled_from([*RISKY_ALIASES, f"'{SECRET_NAME}'"]))  # clashes, literals
        written.append(chosen.sql if alias is None else f"{chosen.sql} AS {alias}")
        names.append(alias or chosen.sql)
    where_columns = (*GROUPABLE, "birth_date", "score")
    if refusable:
        where_columns += ("pid", "name", "phone", "income", "bonus", UNGRANTED)
    where = draw(where_clause(where_columns, refusable))
    sql = f"SELECT {', '.join(written)} FROM {table}"
    if where is not None:
        sql += f" WHERE {where}"
    if keys:
        sql += f" GROUP BY {', '.join(keys)}"
    outputs = tuple(names[len(keys) :])
    if plain:
        return Query(table, tuple(items), where, keys, sql, outputs)
    # Only group keys are orderable (ordering by an aggregate would rank withheld cells among released
    # ones); default names (count, ...) are not orderable at all. Refusable queries try the rest too.
    aggregates = [name for name in names[len(keys) :] if "(" not in name]
    names = [name for name in names[: len(keys)] if "(" not in name]
    if refusable:
        names += [*aggregates, "count", "income", "1", "COUNT(*)", "name", "score"]
    order = draw(st.lists(st.sampled_from(names), max_size=2, unique=True)) if names else []
    if order:
        sql += " ORDER BY " + ", ".join(f"{n} {draw(st.sampled_from(['ASC', 'DESC']))}" for n in order)
    limit = draw(st.sampled_from([None, None, None, 0, 1, 3, 10]))
    if limit is not None:
        sql += f" LIMIT {limit}"
    return Query(table, tuple(items), where, keys, sql, outputs)


def _and(where: str | None, test: str) -> str:
    return test if where is None else f"({where}) AND {test}"


@st.composite
def layered_queries(draw: st.DrawFn) -> Query:
    """Allowed shapes over aggregate queries: UNION ALL of two aggregate queries (the second's keys
    other columns, its table and WHERE its own), as written or inside a CTE, and an aggregating CTE or
    HAVING filtered on a group key (which the gate moves into WHERE: the parts say so)."""
    first = draw(queries(refusable=False, plain=True))
    shape = draw(st.sampled_from(["union", "union in cte", "filtered cte", "having"]))
    if shape.startswith("union"):
        texts = iter(draw(st.permutations(["district", "sex", "age_band"])))
        swap = {key: key if key == "year" else next(texts) for key in first.keys}  # same types: no casts
        items = tuple(
            Item(swap[i.sql], OutputKind.group, swap[i.sql]) if i.sql in swap else i for i in first.items
        )
        keys = tuple(swap[key] for key in first.keys)
        table = draw(st.sampled_from(["people", "visits"]))
        where = draw(where_clause((*GROUPABLE, "birth_date", "score"), False))
        sql = f"SELECT {', '.join(item.sql for item in items)} FROM {table}"
        sql += f" WHERE {where}" if where is not None else ""
        sql += f" GROUP BY {', '.join(keys)}" if keys else ""
        second = Query(table, items, where, keys, sql, tuple(item.sql for item in items))
        union = f"{first.sql} UNION ALL {second.sql}"
        text = union if shape == "union" else f"WITH u AS ({union}) SELECT * FROM u"
        return Query(first.table, first.items, None, (), text, first.names, (first, second))
    grouped = [index for index, item in enumerate(first.items) if item.kind is OutputKind.group]
    if not grouped:
        return Query(
            first.table,
            first.items,
            None,
            (),
            f"WITH a AS ({first.sql}) SELECT * FROM a",
            first.names,
            (first,),
        )
    index = draw(st.sampled_from(grouped))
    column = first.items[index].sql
    test = f"{{}} {draw(st.sampled_from(['=', '<>', '>=']))} {draw(st.sampled_from(TYPED_LITERALS[column]))}"
    part = dataclasses.replace(first, where=_and(first.where, test.format(column)))
    if shape == "having":
        return Query(
            first.table,
            first.items,
            None,
            (),
            f"{first.sql} HAVING {test.format(column)}",
            first.names,
            (part,),
        )
    outer = f"WITH a AS ({first.sql}) SELECT * FROM a WHERE {test.format(first.names[index])}"
    return Query(first.table, first.items, None, (), outer, first.names, (part,))


# --- the checks -----------------------------------------------------------------------------------


def assert_quotes_nothing(query: Query, decision: Decision) -> None:
    """A refusal gives stable codes, and no reason quotes a secret the query carried."""
    assert decision.plan is None and decision.reasons
    assert all(isinstance(reason.code, ReasonCode) for reason in decision.reasons)
    text = json.dumps([reason.to_dict() for reason in decision.reasons], ensure_ascii=False)
    assert not any(secret in text for secret in SECRET_TEXTS), (query.sql, text)


def release(query: Query, plan: Plan, world: World) -> tuple[pa.Table, pa.Table] | None:
    """Run the plan in a workspace and release it; None when the workspace failed (with a code)."""
    views = tuple(world.views[name.lower()] for name in plan.tables)
    limits = Limits(memory_mb=256, threads=1, timeout_s=30)
    result = run(WorkspaceRequest("generated", views, plan.sql, world.work_dir, limits), backend="inprocess")
    if not result.ok:
        assert result.error in WORKSPACE_CODES and result.result_path is None and result.rows == 0
        assert not any(secret in repr(result) for secret in SECRET_TEXTS)
        return None
    assert result.result_path is not None
    with pa.OSFile(str(result.result_path)) as source:
        raw = pa.ipc.open_file(source).read_all()
    released, report = sdc.apply(raw, plan.outputs, plan.group_units_column, K, public_keys(plan))
    names = [o.name for o in plan.outputs]
    assert released.column_names == [*names, *map(sdc.flag_column, names), sdc.SUPPRESSED]
    assert not any(secret in json.dumps(report.to_dict()) for secret in SECRET_TEXTS)
    return raw, released


def public_keys(plan: Plan) -> dict[str, list[str]]:
    """As sandbox/run.py gives them: by output name, for each group key drawn from `district`."""
    return {
        output.name: list(PUBLIC_DISTRICTS)
        for output in plan.outputs
        if output.kind is OutputKind.group and output.source_column == "district"
    }


def assert_no_secret_cell(released: pa.Table, sql: str) -> None:
    """(a) Every secret here is held by fewer than K units, so none may appear in any cell."""
    for row in released.to_pylist():
        for value in row.values():
            if isinstance(value, str):
                assert value not in HIDDEN_VALUES, (sql, row)
                assert not any(secret in value for secret in SECRET_TEXTS), (sql, row)
            elif isinstance(value, int | float | Decimal):  # SUM of integers arrives as Decimal
                assert value not in SECRET_NUMBERS, (sql, row)


@dataclass(frozen=True)
class Group:
    values: tuple[Any, ...]  # the operator's outputs, computed on the raw rows
    units: tuple[int, ...]  # distinct privacy units behind each output cell
    group_units: int


def brute_force(query: Query, world: World) -> list[Group]:
    """Every group of the query over the raw table (no ORDER BY or LIMIT), with its units recounted."""
    where = f" WHERE {query.where}" if query.where else ""
    keys = ", ".join(query.keys)
    items = ", ".join(item.sql for item in query.items)
    key_items = "".join(f", {key} AS __k{i}" for i, key in enumerate(query.keys))
    group_by = f" GROUP BY {keys}" if keys else ""
    computed = world.raw.execute(f"SELECT {items}{key_items} FROM {query.table}{where}{group_by}").fetchall()
    width = len(query.items)
    values = {tuple(row[width:]): tuple(row[:width]) for row in computed}

    sources = sorted({item.source for item in query.items if item.kind in (OutputKind.sum, OutputKind.avg)})
    picked = ", ".join([*query.keys, "pid", *sources])
    units: dict[tuple[Any, ...], dict[str | None, set[str]]] = defaultdict(lambda: defaultdict(set))
    if not query.keys:
        units[()][None] = set()  # one row even when nothing matches
    for row in world.raw.execute(f"SELECT {picked} FROM {query.table}{where}").fetchall():
        key, unit, measured = row[: len(query.keys)], row[len(query.keys)], row[len(query.keys) + 1 :]
        units[key][None].add(unit)
        for source, value in zip(sources, measured, strict=True):
            if value is not None:
                units[key][source].add(unit)
    assert set(units) == set(values), query.sql
    groups = []
    for key, by_source in units.items():
        per_cell = tuple(
            len(by_source[item.source if item.kind in (OutputKind.sum, OutputKind.avg) else None])
            for item in query.items
        )
        groups.append(Group(values[key], per_cell, len(by_source[None])))
    return groups


def _known(item: Item) -> bool:
    """Items whose units this test recounts per cell; for any other item the gate lets through, its
    cell is held to its group's units, which no released cell may fall short of either."""
    return item.kind is not None


def assert_cells_cover_k_units(
    query: Query, plan: Plan, raw: pa.Table, released: pa.Table, groups: list[Group], world: World
) -> None:
    """(b) Recounted units: the companions tell the truth, and each released cell covers >= K units."""
    width = len(plan.outputs)
    raw_rows = [tuple(row.values()) for row in raw.to_pylist()]
    by_name = raw.column_names

    def companion(row: tuple[Any, ...], column: str | None) -> int:
        return int(row[by_name.index(column or plan.group_units_column)] or 0)

    known = [_known(item) for item in query.items]

    def recounted(units: tuple[int, ...]) -> tuple[int | None, ...]:
        return tuple(u if k else None for u, k in zip(units, known, strict=True))

    claimed = Counter(
        (row[:width], recounted(tuple(companion(row, o.units_column) for o in plan.outputs)))
        for row in raw_rows
    )
    truth = Counter((g.values, recounted(g.units)) for g in groups)
    assert not claimed - truth, (query.sql, claimed - truth)  # a sub-multiset: LIMIT may cut rows
    if "LIMIT" not in query.sql:
        assert claimed == truth, query.sql

    visible: Counter[tuple[tuple[Any, ...], int]] = Counter()
    for raw_row, released_row in zip(raw_rows, released.to_pylist(), strict=True):
        for j, output in enumerate(plan.outputs):
            value = released_row[output.name]
            if value is None:
                continue
            if output.kind is OutputKind.group and str(value) in world.public_keys.get(
                output.source_column or "", []
            ):
                continue  # a declared public key may be shown in any row
            visible[(raw_row[:width], j)] += 1
    for (values, j), shown in visible.items():
        covering = sum(1 for g in groups if g.values == values and min(g.units[j], g.group_units) >= K)
        assert shown <= covering, (query.sql, plan.outputs[j].name, values)


def exercise(query: Query, world: World) -> None:
    """Gate, workspace, release and every check for one query."""
    event(_exercise(query, world))


def _exercise(query: Query, world: World) -> str:
    decision = check(query.sql, world.ctx)
    if not decision.allowed:
        assert_quotes_nothing(query, decision)
        return "refused"
    assert decision.plan is not None and not decision.reasons
    outputs = decision.plan.outputs
    assert len(outputs) == len(query.items), query.sql
    for output, item in zip(outputs, query.items, strict=True):
        assert item.kind is None or output.kind is item.kind, (query.sql, output)
    released = release(query, decision.plan, world)
    if released is None:
        return "failed"
    raw, table = released
    assert_no_secret_cell(table, query.sql)
    try:
        groups = [group for part in query.parts or (query,) for group in brute_force(part, world)]
    except duckdb.ConversionException:
        # A literal of another type fails on the raw table, where the workspace's plan never
        # evaluated it (LIMIT 0, or a contradiction folded away): nothing to recount; (a) held.
        return "released, not recounted"
    assert_cells_cover_k_units(query, decision.plan, raw, table, groups, world)
    return "released" if all(_known(item) for item in query.items) else "released, beyond the model"


HYPOTHESIS: dict[str, Any] = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
}


@settings(max_examples=600, **HYPOTHESIS)
@given(query=queries(refusable=False))
def test_allowed_shapes_never_release_a_secret_or_a_small_cell(world: World, query: Query, capfd) -> None:
    exercise(query, world)
    out, err = capfd.readouterr()
    assert not any(secret in out + err for secret in SECRET_TEXTS)


@settings(max_examples=2000, **HYPOTHESIS)
@given(query=queries(refusable=True))
def test_mixed_queries_never_leak_in_reasons_errors_or_releases(world: World, query: Query, capfd) -> None:
    exercise(query, world)
    out, err = capfd.readouterr()
    assert not any(secret in out + err for secret in SECRET_TEXTS)


@settings(max_examples=200, **HYPOTHESIS)
@given(query=layered_queries())
def test_unions_and_aggregating_ctes_never_release_a_small_cell(world: World, query: Query, capfd) -> None:
    exercise(query, world)
    out, err = capfd.readouterr()
    assert not any(secret in out + err for secret in SECRET_TEXTS)
