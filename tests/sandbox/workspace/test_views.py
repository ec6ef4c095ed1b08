from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from policies.levels import ColumnLevel
from sandbox.workspace import Limits, ViewSpec
from sandbox.workspace.runner import open_locked
from sandbox.workspace.units import with_reserved
from sandbox.workspace.views import reads_only_views


@pytest.fixture
def con(people_view: ViewSpec, work_dir: Path) -> duckdb.DuckDBPyConnection:
    connection = open_locked((people_view,), Limits(memory_mb=256), work_dir)
    yield connection
    connection.close()


def test_view_has_only_granted_non_hidden_columns_and_the_reserved_ones(
    con: duckdb.DuckDBPyConnection,
) -> None:
    columns = [row[0] for row in con.execute("DESCRIBE people").fetchall()]
    assert columns == ["person_id", "district", "income", "name", "__unit", "__rank"]


def test_hidden_column_is_not_selectable(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(duckdb.BinderException):
        con.sql("SELECT note FROM people").fetchall()


def test_join_key_is_hmac_of_its_text_under_the_scenario_key(
    con: duckdb.DuckDBPyConnection, people_view: ViewSpec
) -> None:
    rows = con.sql("SELECT person_id FROM people LIMIT 2").fetchall()
    key = people_view.join_key_secret
    expected = [
        hmac.new(key, f"11010119900101{i:04d}".encode(), hashlib.sha256).hexdigest() for i in range(2)
    ]
    assert [r[0] for r in rows] == expected


def test_join_key_hash_depends_on_the_key(people_path: Path, work_dir: Path) -> None:
    def first_id(secret: bytes) -> str:
        spec = ViewSpec("p", people_path, (("person_id", ColumnLevel.join_key),), secret)
        with open_locked((spec,), Limits(memory_mb=128), work_dir) as c:
            return c.sql("SELECT person_id FROM p LIMIT 1").fetchall()[0][0]

    assert first_id(b"one") != first_id(b"two")
    assert first_id(b"x" * 100) == hmac.new(b"x" * 100, b"110101199001010000", hashlib.sha256).hexdigest()


def test_odd_names_and_paths_are_quoted(tmp_path: Path, work_dir: Path) -> None:
    path = tmp_path / 'o\'brien "data".parquet'
    pq.write_table(
        with_reserved(
            pa.table({'收入 "元"': [1, 2, None], "身份证号": ["a", "b", None], "x'y": [1, 1, 1]}), "身份证号"
        ),
        path,
    )
    spec = ViewSpec(
        '人口 "表"',
        path,
        (
            ('收入 "元"', ColumnLevel.aggregate),
            ("身份证号", ColumnLevel.join_key),
            ("x'y", ColumnLevel.hidden),
        ),
        b"k",
    )
    with open_locked((spec,), Limits(memory_mb=128), work_dir) as c:
        rows = c.sql('SELECT SUM("收入 ""元"""), COUNT("身份证号") FROM "人口 ""表"""').fetchall()
        assert rows == [(3, 2)]  # NULL stays NULL after hashing
        described = [r[0] for r in c.execute('DESCRIBE "人口 ""表"""').fetchall()]
        assert described == ['收入 "元"', "身份证号", "__unit", "__rank"]


@pytest.mark.parametrize(
    "sql",
    [
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "RESET lock_configuration",
        "SET allowed_directories = ['/']",
        "SET threads = 8",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM glob('/etc/*')",
        "COPY (SELECT * FROM people) TO '/tmp/leak.csv'",
        "ATTACH '/tmp/leak.duckdb' AS leak",
        "INSTALL httpfs",
        "LOAD httpfs",
    ],
)
def test_locked_connection_refuses_escapes(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    with pytest.raises(duckdb.Error):
        con.execute(sql).fetchall()
    assert con.sql("SELECT COUNT(*) FROM people").fetchall() == [(30,)]
    assert not Path("/tmp/leak.csv").exists()


def test_settings_are_set_before_user_sql(con: duckdb.DuckDBPyConnection, work_dir: Path) -> None:
    def setting(name: str) -> str:
        return str(con.execute("SELECT current_setting(?)", [name]).fetchall()[0][0]).lower()

    assert setting("enable_external_access") == "false"
    assert setting("lock_configuration") == "true"
    assert setting("python_enable_replacements") == "false"
    assert setting("autoload_known_extensions") == "false"
    assert setting("autoinstall_known_extensions") == "false"
    assert setting("threads") == "2"
    assert setting("memory_limit") == "256.0 mib"
    assert setting("temp_directory") == str(work_dir / "tmp").lower()


def test_python_variables_are_not_tables(con: duckdb.DuckDBPyConnection) -> None:
    secrets = pa.table({"x": ["SECRET"]})  # noqa: F841 -- a replacement scan would find it
    with pytest.raises(duckdb.CatalogException):
        con.sql("SELECT * FROM secrets").fetchall()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT district, COUNT(*) FROM people GROUP BY district",
        "SELECT COUNT(*) FROM People",
        "WITH t AS (SELECT * FROM people) SELECT COUNT(*) FROM t JOIN people USING (person_id)",
        "SELECT * FROM (SELECT district FROM people) s UNION ALL SELECT district FROM people",
        "SELECT district FROM people WHERE income > (SELECT AVG(income) FROM people)",
        "SELECT 1",
    ],
)
def test_queries_over_views_are_allowed(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    assert reads_only_views(con, sql, ["people"])


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_parquet('/vault/people.parquet')",
        "SELECT * FROM '/vault/people.parquet'",
        "SELECT sql FROM duckdb_views()",
        "SELECT * FROM duckdb_views",
        "SELECT * FROM information_schema.views",
        "SELECT * FROM main.people",
        "SELECT * FROM memory.main.people",
        "SELECT (SELECT COUNT(*) FROM read_text('/etc/passwd'))",
        'WITH "x.parquet" AS (SELECT 1) SELECT * FROM "x.parquet"',
        # a CTE named like a hidden relation, to get its name past the check in another scope
        "SELECT * FROM (WITH __cache_0 AS (SELECT 1) SELECT * FROM __cache_0) a, __cache_0",
        "SELECT * FROM (WITH __vault_0 AS (SELECT 1) SELECT * FROM __vault_0) a, __vault_0",
        "SELECT 1; SELECT 2",
        "COPY (SELECT 1) TO 'x.csv'",
        "SET threads = 1",
        "SHOW TABLES",
        "DESCRIBE people",
        "SELECT * FROM people PIVOT (SUM(income) FOR district IN ('东城'))",
        "SELECT * FROM range(10)",
        "not sql at all",
    ],
)
def test_anything_but_the_views_is_refused(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    assert not reads_only_views(con, sql, ["people"])


def test_a_cte_cannot_name_a_hidden_relation_of_the_workspace(people_view: ViewSpec, work_dir: Path) -> None:
    """The registered decrypting dataset holds every column, hidden ones too: before the fix a CTE
    of its name in an inner scope let the outer scope read it past `reads_only_views`."""
    con = open_locked((people_view,), Limits(memory_mb=256), work_dir)
    hidden = "__vault_demo"
    con.register(hidden, pa.table({"note": ["SECRET-NOTE"]}))
    sql = f"SELECT * FROM (WITH {hidden} AS (SELECT 1) SELECT * FROM {hidden}) a, {hidden}"
    assert "SECRET-NOTE" in str(con.execute(sql).fetchall())  # DuckDB itself would read it
    assert not reads_only_views(con, sql, ["people"])
    con.close()


def test_cached_views_show_exactly_what_the_view_shows(people_view: ViewSpec, work_dir: Path) -> None:
    plain = open_locked((people_view,), Limits(memory_mb=256), work_dir)
    cached = open_locked((people_view,), Limits(memory_mb=256, cache_mb=64), work_dir)
    sql = "SELECT * FROM people ORDER BY __rank"
    assert cached.sql(sql).to_arrow_table() == plain.sql(sql).to_arrow_table()
    tables = cached.execute("SELECT table_name FROM duckdb_tables()").fetchall()
    assert tables == [("__cache_0",)]  # in memory, with the view's columns only
    columns = [r[0] for r in cached.execute("DESCRIBE __cache_0").fetchall()]
    assert "note" not in columns and columns[-2:] == ["__unit", "__rank"]
    assert not reads_only_views(cached, "SELECT * FROM __cache_0", ["people"])
    plain.close()
    cached.close()


def test_a_file_over_the_cache_size_stays_a_view(people_view: ViewSpec, work_dir: Path) -> None:
    con = open_locked((people_view,), Limits(memory_mb=256, cache_mb=0), work_dir)
    assert con.execute("SELECT table_name FROM duckdb_tables()").fetchall() == []
    assert con.sql("SELECT COUNT(*) FROM people").fetchall() == [(30,)]
    con.close()
