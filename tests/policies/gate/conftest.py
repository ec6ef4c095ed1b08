"""The gate's fixture: the `residents` grant (and a Chinese-named table), and public DuckDB data for it.

For joins, two more tables are granted to the same scenario: `visits` (1-3 rows per resident, keyed by
the same `resident_id` as its privacy unit, some of them of residents not in `residents`) and
`districts`, a reference table of public columns only.

The residents table has a column of every level, a group date (`visit_date`, with NULLs), a public
timestamp, nullable aggregates (`income`, `age`, `spend`) and one recorded as holding no NULL (`rooms`).
Two variants: `one` has one row per resident and records `max_rows_per_unit=1`, so the rewrite counts
units with COUNT(*); `many` repeats residents and records nothing, so it counts distinct units.
The data is generated, public and small; DuckDB serves it through a view holding only the granted,
non-hidden columns, as the workspace does, so a rewrite that touched anything else would fail.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Iterator

import duckdb
import pyarrow as pa
import pytest

from policies.gate.plan import ColumnGrant, GateContext, TableGrant
from policies.levels import ColumnLevel
from sandbox.workspace.units import with_reserved

ROWS = 300
DISTRICTS = ["Dongcheng", "Xicheng", "Chaoyang", "Haidian", "Daxing", None]
CN_DISTRICTS = ["东城", "西城", "朝阳", "海淀"]

RESIDENT_LEVELS = {
    "resident_id": ColumnLevel.join_key,
    "name": ColumnLevel.hidden,
    "phone": ColumnLevel.hidden,
    "district": ColumnLevel.group,
    "sex": ColumnLevel.group,
    "age": ColumnLevel.aggregate,
    "income": ColumnLevel.aggregate,
    "birth_date": ColumnLevel.compare,
    "year": ColumnLevel.public,
    "visit_date": ColumnLevel.group,
    "visited_at": ColumnLevel.public,
    "household": ColumnLevel.group,
    "spend": ColumnLevel.aggregate,
    "rooms": ColumnLevel.aggregate,
}
NOT_NULL = {"rooms"}  # recorded at registration as holding no NULL: its cells' units are the row's
CN_LEVELS = {
    "身份证号": ColumnLevel.join_key,
    "姓名": ColumnLevel.hidden,
    "区": ColumnLevel.group,
    "收入": ColumnLevel.aggregate,
}


VISIT_LEVELS = {
    "resident_id": ColumnLevel.join_key,
    "diagnosis": ColumnLevel.hidden,
    "clinic": ColumnLevel.group,
    "district": ColumnLevel.public,
    "cost": ColumnLevel.aggregate,
    "kind": ColumnLevel.public,
    "year": ColumnLevel.public,
}
DISTRICT_LEVELS = {
    "district": ColumnLevel.public,
    "population": ColumnLevel.public,
    "census_year": ColumnLevel.public,
}


def _types(name: str) -> dict[str, str]:
    """The registered (Arrow) type of each fixture column, as the catalog records it."""
    make = {"residents": _residents, "visits": _visits, "districts": _districts}.get(name, _chinese)
    return {field.name: str(field.type) for field in make(random.Random(0), ROWS).schema}


def _grant(name: str, levels: dict[str, ColumnLevel], unit: str, max_rows: int | None) -> TableGrant:
    types = _types(name)
    columns = {
        column: ColumnGrant(
            column,
            level,
            ("Dongcheng", "Xicheng") if column == "district" else None,
            type=types[column],
            nullable=column not in NOT_NULL,
        )
        for column, level in levels.items()
    }
    return TableGrant(
        name=name,
        dataset_id=f"ds-{name}",
        columns=columns,
        all_columns=frozenset(levels) | {"secret_col"},
        privacy_unit=unit,
        max_rows_per_unit=max_rows,
    )


def gate_context(rows_per_unit: str = "one") -> GateContext:
    max_rows = 1 if rows_per_unit == "one" else None
    return GateContext(
        tables={
            "residents": _grant("residents", RESIDENT_LEVELS, "resident_id", max_rows),
            "居民": _grant("居民", CN_LEVELS, "身份证号", max_rows),
            "visits": _grant("visits", VISIT_LEVELS, "resident_id", None),
            "districts": _grant("districts", DISTRICT_LEVELS, "district", 1),
        }
    )


def _residents(rng: random.Random, units: int) -> pa.Table:
    ids = (
        [f"R{i:04d}" for i in range(ROWS)]
        if units == ROWS
        else [f"R{rng.randrange(units):04d}" for _ in range(ROWS)]
    )

    def maybe(value: int) -> int | None:
        return None if rng.random() < 0.08 else value

    return pa.table(
        {
            "resident_id": ids,
            "name": [f"Name {i}" for i in range(ROWS)],
            "phone": [f"1380000{i:04d}" for i in range(ROWS)],
            "district": [rng.choice(DISTRICTS) for _ in range(ROWS)],
            "sex": [rng.choice(["F", "M"]) for _ in range(ROWS)],
            "age": pa.array([maybe(rng.randrange(18, 90)) for _ in range(ROWS)], pa.int32()),
            "income": pa.array([maybe(rng.randrange(0, 200_000)) for _ in range(ROWS)], pa.int64()),
            "birth_date": [
                datetime.date(1940, 1, 1) + datetime.timedelta(days=rng.randrange(25_000))
                for _ in range(ROWS)
            ],
            "year": pa.array([rng.randrange(2018, 2024) for _ in range(ROWS)], pa.int32()),
            "secret_col": ["s" for _ in range(ROWS)],
            "visit_date": [
                None
                if rng.random() < 0.05
                else datetime.date(2023, 1, 1) + datetime.timedelta(rng.randrange(500))
                for _ in range(ROWS)
            ],
            "visited_at": [
                datetime.datetime(2023, 1, 1) + datetime.timedelta(minutes=rng.randrange(1_000_000))
                for _ in range(ROWS)
            ],
            "household": pa.array([rng.randrange(1, 9) for _ in range(ROWS)], pa.int32()),
            "spend": pa.array(
                [None if rng.random() < 0.1 else rng.randrange(0, 100_000) / 8 for _ in range(ROWS)],
                pa.float64(),
            ),
            "rooms": pa.array([rng.randrange(1, 7) for _ in range(ROWS)], pa.int32()),
        }
    )


def _chinese(rng: random.Random, units: int) -> pa.Table:
    ids = [f"1101{rng.randrange(units) if units < ROWS else i:014d}" for i in range(ROWS)]
    return pa.table(
        {
            "身份证号": ids,
            "姓名": [f"姓名{i}" for i in range(ROWS)],
            "区": [rng.choice(CN_DISTRICTS) for _ in range(ROWS)],
            "收入": pa.array(
                [None if rng.random() < 0.1 else rng.randrange(50_000) for _ in range(ROWS)], pa.int64()
            ),
            "secret_col": ["s" for _ in range(ROWS)],
        }
    )


def _visits(rng: random.Random, units: int) -> pa.Table:
    """1-3 visits for most residents of `R0000`..`R{units-1}`, and a few of residents not in the table."""
    ids = [f"R{i:04d}" for i in range(units) if rng.random() < 0.8 for _ in range(rng.randint(1, 3))]
    ids += [f"R9{i:03d}" for i in range(12)]
    count = len(ids)
    return pa.table(
        {
            "resident_id": ids,
            "diagnosis": [f"Diagnosis {i}" for i in range(count)],
            "clinic": [rng.choice(["North", "South", "East", None]) for _ in range(count)],
            "district": [rng.choice(DISTRICTS) for _ in range(count)],
            "cost": pa.array(
                [None if rng.random() < 0.1 else rng.randrange(10, 5_000) for _ in range(count)], pa.int64()
            ),
            "kind": [rng.choice(["outpatient", "inpatient"]) for _ in range(count)],
            "year": pa.array([rng.randrange(2018, 2024) for _ in range(count)], pa.int32()),
            "secret_col": ["s" for _ in range(count)],
        }
    )


def _districts(rng: random.Random, units: int) -> pa.Table:
    names = [name for name in DISTRICTS if name is not None] + ["Fengtai"]
    return pa.table(
        {
            "district": names,
            "population": pa.array([rng.randrange(100_000, 2_000_000) for _ in names], pa.int64()),
            "census_year": pa.array([2018 + index for index in range(len(names))], pa.int32()),
            "secret_col": ["s" for _ in names],
        }
    )


def _connect(rows_per_unit: str) -> duckdb.DuckDBPyConnection:
    rng = random.Random(20240531)
    units = ROWS if rows_per_unit == "one" else 120
    connection = duckdb.connect()
    connection.execute("SET threads = 1")
    ctx = gate_context(rows_per_unit)
    raws = {
        "residents": ("raw_residents", _residents(rng, units)),
        "居民": ("raw_cn", _chinese(rng, units)),
        "visits": ("raw_visits", _visits(rng, units)),
        "districts": ("raw_districts", _districts(rng, units)),
    }
    for table, (raw, data) in raws.items():
        # Every vault file carries the reserved `__unit`/`__rank` columns (sandbox/workspace/units.py).
        connection.from_arrow(with_reserved(data, ctx.tables[table].privacy_unit)).create(raw)
    for table, (raw, _) in raws.items():
        grant = ctx.tables[table]
        visible = ", ".join(f'"{c.name}"' for c in grant.columns.values() if c.level != ColumnLevel.hidden)
        connection.execute(f'CREATE VIEW "{grant.name}" AS SELECT {visible}, "__unit", "__rank" FROM {raw}')
    return connection


@pytest.fixture(scope="session")
def databases() -> Iterator[dict[str, duckdb.DuckDBPyConnection]]:
    connections = {variant: _connect(variant) for variant in ("one", "many")}
    yield connections
    for connection in connections.values():
        connection.close()


@pytest.fixture(scope="session")
def ctx() -> GateContext:
    return gate_context()


@pytest.fixture(scope="session")
def contexts() -> dict[str, GateContext]:
    return {variant: gate_context(variant) for variant in ("one", "many")}
