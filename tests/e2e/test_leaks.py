"""Leak tests over real HTTP: seeded secrets never appear in a response, a log line or a released file.

One dataset carries secrets in every kind of protected column: a name, a phone and a note (hidden),
an income (aggregate), an occupation (compare) and a resident ID (join key, the privacy unit), all on
one row in the small district, so any cell that could isolate that row is suppressed. Every response
of every client is recorded by an httpx hook, and every log record the server thread emits is
captured; both are searched for the secrets (and for any phone number or resident ID of the data)
at the end of each test. The operator's own SQL is echoed back in job objects by design (`sql`),
so that one field is left out of the search; nothing else may repeat a literal the operator typed.
"""

from __future__ import annotations

import io
import json
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from support import Stack

from policies.classify.recognizers import valid_resident_id
from sandbox.demo_data import residents

SECRET_NAME = "SECRET-LI-8841"
SECRET_PHONE = "13987654321"
SECRET_NOTE = "SECRET-NOTE-5520"
SECRET_OCCUPATION = "SECRET-OCC-7731"
SECRET_INCOME = 987654321
SECRET_AGE = 77
SMALL = "大鹏新区"
OCCUPATIONS = ("教师", "工程师", "医生", "司机", "会计")
FINISHED = ("pending_review", "released", "rejected", "failed", "cancelled", "gate_rejected")

_ID = re.compile(r"\d{17}[\dX]")
_PHONE = re.compile(r"1\d{10}")


# --- the seeded dataset -------------------------------------------------------------------------


def seeded_table(n: int = 1200) -> tuple[pa.Table, str]:
    """`n` residents with the secret row first (engines quote the first value they fail on)."""
    table = residents(n, seed=23, small_count=4)
    districts = table.column("district").to_pylist()
    secret = districts.index(SMALL)
    order = [secret, *(i for i in range(n) if i != secret)]
    table = table.take(order)
    rows = table.to_pylist()
    for i, row in enumerate(rows):
        row["occupation"] = OCCUPATIONS[i % len(OCCUPATIONS)]
        row["note"] = f"备注{i % 7}"
        if row["age"] == SECRET_AGE and row["district"] == SMALL:
            row["age"] = SECRET_AGE - 1  # the secret row alone has this age in its district
    rows[0].update(
        name=SECRET_NAME,
        phone=SECRET_PHONE,
        income=SECRET_INCOME,
        age=SECRET_AGE,
        occupation=SECRET_OCCUPATION,
        note=SECRET_NOTE,
    )
    return pa.Table.from_pylist(rows), rows[0]["resident_id"]


def csv_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pacsv.write_csv(table, buf)
    return buf.getvalue()


# --- recording every response and log record ----------------------------------------------------


@dataclass
class Recorded:
    method: str
    url: str
    status: int
    headers: list[tuple[str, str]]
    content: bytes


@dataclass
class Watch:
    """Every response any client of the stack received, kept for the final search."""

    responses: list[Recorded] = field(default_factory=list)

    def hook(self, response: httpx.Response) -> None:
        response.read()
        self.responses.append(
            Recorded(
                response.request.method,
                str(response.request.url),
                response.status_code,
                list(response.headers.items()),
                response.content,
            )
        )


def without_operator_sql(value: Any) -> Any:
    """A job object echoes the operator's own SQL by design; everything else in it is searched."""
    if isinstance(value, dict):
        is_job = "sql" in value and "submitter_id" in value
        return {k: without_operator_sql(v) for k, v in value.items() if not (is_job and k == "sql")}
    if isinstance(value, list):
        return [without_operator_sql(v) for v in value]
    return value


def body_text(content: bytes) -> str:
    """The searchable text of a body: JSON without operator SQL, a Parquet table's values, or bytes."""
    if content.startswith(b"PAR1"):
        return json.dumps(pq.read_table(io.BytesIO(content)).to_pylist(), ensure_ascii=False, default=str)
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return content.decode("latin-1")
    try:
        return json.dumps(without_operator_sql(json.loads(text)), ensure_ascii=False)
    except ValueError:
        return text


@dataclass(frozen=True)
class Secrets:
    strings: tuple[str, ...]
    resident_ids: frozenset[str]
    phones: frozenset[str]

    def found_in(self, text: str) -> list[str]:
        found = [s for s in self.strings if s in text]
        found += [m for m in _ID.findall(text) if m in self.resident_ids]
        found += [m for m in _PHONE.findall(text) if m in self.phones]
        return found


@dataclass
class Seeded:
    stack: Stack
    watch: Watch
    caplog: pytest.LogCaptureFixture
    capfd: pytest.CaptureFixture[str]
    secrets: Secrets
    dataset: dict[str, Any]
    scenario_id: str
    public_keys: list[str]

    def submit(self, sql: str) -> httpx.Response:
        return self.stack["operator"].post(
            "/v1/jobs", json={"scenario_id": self.scenario_id, "sql": sql, "mode": "sdc"}
        )

    def wait(self, job_id: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            r = self.stack["operator"].get(f"/v1/jobs/{job_id}", params={"wait": 10})
            assert r.status_code == 200, r.text
            job = r.json()
            if job["state"] in FINISHED or time.monotonic() > deadline:
                return job

    def assert_no_leaks(self) -> None:
        """Search every response (body and headers), log record and captured output so far."""
        problems = []
        for rec in self.watch.responses:
            text = body_text(rec.content) + "\n" + "\n".join(f"{k}: {v}" for k, v in rec.headers)
            for found in self.secrets.found_in(text):
                problems.append(f"{rec.method} {rec.url} -> {rec.status}: {found!r}")
        formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        for record in self.caplog.records:
            for found in self.secrets.found_in(formatter.format(record)):
                problems.append(f"log {record.name}: {found!r}")
        out, err = self.capfd.readouterr()
        for found in self.secrets.found_in(out + err):
            problems.append(f"captured output: {found!r}")
        assert not problems, "\n".join(problems)


UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


@pytest.fixture
def seeded(
    stack: Stack, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> Iterator[Seeded]:
    """The seeded dataset registered, levels confirmed, and an approved scenario over it."""
    caplog.set_level(logging.DEBUG)
    # uvicorn's loggers do not propagate to the root logger: hand them the capture handler directly.
    saved = []
    for name in UVICORN_LOGGERS:
        lg = logging.getLogger(name)
        saved.append((lg, lg.level))
        lg.setLevel(logging.DEBUG)
        if name in ("uvicorn", "uvicorn.access"):
            lg.addHandler(caplog.handler)
    watch = Watch()
    for client in stack.clients.values():
        client.event_hooks["response"].append(watch.hook)
    try:
        yield _seed(stack, watch, caplog, capfd)
    finally:
        for lg, level in saved:
            lg.setLevel(level)
            lg.removeHandler(caplog.handler)


def _seed(
    stack: Stack, watch: Watch, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> Seeded:
    table, secret_id = seeded_table()
    metadata = {"name": "residents", "classification": "general", "privacy_unit": "resident_id"}
    r = stack["source"].post(
        "/v1/datasets",
        files={"file": ("residents.csv", csv_bytes(table), "text/csv")},
        data={"metadata": json.dumps(metadata)},
    )
    assert r.status_code == 201, r.text
    ds = r.json()
    public_keys = sorted(set(table.column("district").to_pylist()))
    r = stack["source"].put(
        f"/v1/datasets/{ds['id']}/columns",
        json={
            "columns": {
                "resident_id": {"level": "join_key"},
                "name": {"level": "hidden"},
                "phone": {"level": "hidden"},
                "note": {"level": "hidden"},
                "district": {"level": "group", "public_keys": public_keys},
                "sex": {"level": "group"},
                "age": {"level": "compare"},
                "occupation": {"level": "compare"},
                "income": {"level": "aggregate", "lower": 0, "upper": 1_000_000_000},
            }
        },
    )
    assert r.status_code == 200, r.text
    granted = ["resident_id", "district", "sex", "age", "occupation", "income"]
    r = stack["operator"].post(
        "/v1/scenarios",
        json={"name": "leaks", "purpose": "leak tests", "datasets": {ds["id"]: granted}, "modes": ["sdc"]},
    )
    assert r.status_code == 201, r.text
    sc = r.json()
    r = stack["admin"].post(f"/v1/scenarios/{sc['id']}/approve", json={"reason": "ok"})
    assert r.status_code == 200, r.text
    secrets = Secrets(
        strings=(SECRET_NAME, SECRET_PHONE, SECRET_NOTE, SECRET_OCCUPATION, str(SECRET_INCOME), secret_id),
        resident_ids=frozenset(table.column("resident_id").to_pylist()),
        phones=frozenset(table.column("phone").to_pylist()),
    )
    return Seeded(stack, watch, caplog, capfd, secrets, ds, sc["id"], public_keys)


def assert_error_shape(r: httpx.Response, code: str) -> dict[str, Any]:
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "detail"}, body
    assert body["error"]["code"] == code, body
    return body["error"]


# --- dangerous query forms ----------------------------------------------------------------------

# Queries that must be refused by the gate, before anything runs.
REFUSED: list[str] = [
    # raw projection
    "SELECT name FROM residents",
    "SELECT resident_id FROM residents",
    "SELECT income FROM residents",
    "SELECT occupation FROM residents",
    "SELECT * FROM residents",
    "SELECT residents.* FROM residents",
    "SELECT COLUMNS(*) FROM residents",
    "SELECT COLUMNS('.*') FROM residents",
    "SELECT district, income FROM residents",
    "SELECT DISTINCT occupation FROM residents",
    # hidden columns in WHERE, GROUP BY, ORDER BY and inside aggregates
    f"SELECT COUNT(*) FROM residents WHERE name = '{SECRET_NAME}'",
    "SELECT COUNT(*) FROM residents WHERE name LIKE 'SECRET%'",
    f"SELECT COUNT(*) FROM residents WHERE phone = '{SECRET_PHONE}'",
    f"SELECT COUNT(*) FROM residents WHERE note IN ('{SECRET_NOTE}', 'x')",
    "SELECT name, COUNT(*) FROM residents GROUP BY name",
    "SELECT COUNT(*) AS n FROM residents GROUP BY note",
    "SELECT district, COUNT(*) AS n FROM residents GROUP BY district ORDER BY phone",
    "SELECT SUM(LENGTH(name)) FROM residents",
    "SELECT COUNT(DISTINCT name) FROM residents",
    "SELECT COUNT(name) FROM residents",
    "SELECT SUM(CASE WHEN name = 'x' THEN 1 ELSE 0 END) FROM residents",
    # protected columns where their level forbids
    f"SELECT COUNT(*) FROM residents WHERE income = {SECRET_INCOME}",
    f"SELECT COUNT(*) FROM residents WHERE income BETWEEN {SECRET_INCOME - 1} AND {SECRET_INCOME + 1}",
    "SELECT income, COUNT(*) FROM residents GROUP BY income",
    "SELECT occupation, COUNT(*) FROM residents GROUP BY occupation",
    "SELECT age, COUNT(*) FROM residents GROUP BY age",
    "SELECT resident_id, COUNT(*) FROM residents GROUP BY resident_id",
    "SELECT COUNT(*) FROM residents WHERE resident_id = '440303199001011234'",
    "SELECT COUNT(*) FROM residents WHERE occupation LIKE 'SECRET%'",
    "SELECT SUM(age) FROM residents",
    "SELECT COUNT(DISTINCT occupation) FROM residents",
    # aggregates that return one person's value
    "SELECT MIN(income), MAX(income) FROM residents",
    "SELECT MAX(occupation) FROM residents",
    "SELECT MIN(resident_id) FROM residents",
    "SELECT string_agg(occupation, ',') FROM residents",
    "SELECT string_agg(name, ',') FROM residents",
    "SELECT group_concat(district) FROM residents",
    "SELECT list(income) FROM residents",
    "SELECT array_agg(resident_id) FROM residents",
    "SELECT first(income) FROM residents",
    "SELECT last(occupation) FROM residents",
    "SELECT any_value(income) FROM residents",
    "SELECT mode(income) FROM residents",
    "SELECT mode(occupation) FROM residents",
    "SELECT quantile_disc(income, 0.999) FROM residents",
    "SELECT quantile_cont(income, 1.0) FROM residents",
    "SELECT median(income) FROM residents",
    "SELECT arg_max(occupation, income) FROM residents",
    "SELECT max_by(resident_id, income) FROM residents",
    "SELECT min_by(income, age) FROM residents",
    "SELECT histogram(income) FROM residents",
    "SELECT bit_or(income) FROM residents",
    "SELECT approx_top_k(occupation, 3) FROM residents",
    "SELECT district, SUM(income) FILTER (WHERE age = 77) FROM residents GROUP BY district",
    "SELECT district, MAX(income) OVER () FROM residents",
    # casts of protected columns
    "SELECT CAST(name AS INTEGER) FROM residents",
    "SELECT SUM(CAST(phone AS BIGINT)) FROM residents",
    "SELECT SUM(TRY_CAST(phone AS BIGINT)) FROM residents",
    "SELECT COUNT(*) FROM residents WHERE TRY_CAST(occupation AS INTEGER) = 1",
    "SELECT SUM(income::VARCHAR) FROM residents",
    "SELECT COUNT(*) FROM residents WHERE CAST(income AS VARCHAR) LIKE '98765%'",
    "SELECT SUM(income // 1000000) FROM residents",
    "SELECT SUM(income) / COUNT(*) FROM residents",
    # statements that are not a query
    "COPY residents TO '/tmp/leak.csv'",
    "COPY (SELECT name FROM residents) TO '/tmp/leak.csv' (FORMAT csv)",
    "ATTACH '/tmp/leak.duckdb' AS leak",
    "INSTALL httpfs",
    "LOAD httpfs",
    "PRAGMA table_info('residents')",
    "SET enable_external_access = true",
    "RESET lock_configuration",
    "EXPORT DATABASE '/tmp/leak'",
    "CREATE TABLE t AS SELECT * FROM residents",
    "INSERT INTO residents VALUES (1)",
    "UPDATE residents SET income = 0",
    "DELETE FROM residents",
    "DESCRIBE residents",
    "SUMMARIZE residents",
    "SHOW TABLES",
    "CALL pragma_table_info('residents')",
    "EXPLAIN SELECT name FROM residents",
    "EXPLAIN ANALYZE SELECT COUNT(*) FROM residents",
    "DETACH memory",
    "USE memory",
    "CHECKPOINT",
    "VACUUM",
    "CREATE MACRO m(x) AS x",
    "CREATE SECRET s (TYPE s3)",
    # files and the vault
    "SELECT COUNT(*) FROM read_csv('/etc/passwd')",
    "SELECT COUNT(*) FROM read_text('/etc/hostname')",
    "SELECT COUNT(*) FROM glob('/*')",
    "SELECT COUNT(*) FROM 'https://example.com/x.csv'",
    # duckdb_* catalog functions and system views
    "SELECT COUNT(*) FROM duckdb_tables()",
    "SELECT COUNT(*) FROM duckdb_views()",
    "SELECT COUNT(*) FROM duckdb_settings()",
    "SELECT COUNT(*) FROM duckdb_columns()",
    "SELECT COUNT(*) FROM information_schema.tables",
    "SELECT COUNT(*) FROM pragma_database_list()",
    "SELECT COUNT(*) FROM residents WHERE district = current_setting('allowed_paths')",
    "SELECT COUNT(*) FROM residents WHERE district = getenv('HOME')",
    # multiple statements
    "SELECT COUNT(*) FROM residents; SELECT name FROM residents",
    "SELECT COUNT(*) FROM residents; COPY residents TO '/tmp/leak.csv'",
    "SELECT COUNT(*) FROM residents;\nATTACH '/tmp/leak.duckdb'",
    # CTE and subquery smuggling
    "WITH t AS (SELECT name FROM residents) SELECT COUNT(*) FROM t",
    "WITH residents AS (SELECT name AS district FROM residents) "
    "SELECT district, COUNT(*) AS n FROM residents GROUP BY district",
    "SELECT district, COUNT(*) AS n FROM (SELECT occupation AS district FROM residents) GROUP BY district",
    "SELECT COUNT(*) FROM residents WHERE district IN (SELECT occupation FROM residents)",
    f"SELECT COUNT(*) FROM residents WHERE EXISTS (SELECT 1 FROM residents r WHERE r.name = '{SECRET_NAME}')",
    "SELECT (SELECT MAX(income) FROM residents) AS m FROM residents",
    "SELECT district, COUNT(*) FROM residents GROUP BY district "
    "UNION ALL SELECT occupation, 1 FROM residents",
    "SELECT COUNT(*) FROM residents a JOIN residents b ON a.resident_id = b.resident_id",
    "SELECT COUNT(*) FROM residents, LATERAL (SELECT occupation) t",
    "(SELECT occupation FROM residents)",
    "FROM residents SELECT occupation",
    "FROM residents",
    "PIVOT residents ON occupation USING SUM(income)",
    # comments hiding a second statement or a hidden column
    "SELECT COUNT(*) /* harmless */, name FROM residents",
    "SELECT COUNT(*) FROM residents -- trailing\nWHERE name = 'x'",
    "SELECT COUNT(*) FROM residents /* ; */ ; SELECT name FROM residents",
    "SELECT COUNT(*) FROM residents -- */ ; SELECT name FROM residents\n; SELECT phone FROM residents",
    # unicode tricks
    "ＳＥＬＥＣＴ name FROM residents",
    "SELECT nａme, COUNT(*) FROM residents GROUP BY nａme",
    "SELECT na\u200bme, COUNT(*) FROM residents GROUP BY na\u200bme",
    'SELECT "NAME", COUNT(*) FROM residents GROUP BY "NAME"',
    'SELECT "Occupation", COUNT(*) FROM residents GROUP BY "Occupation"',
    'SELECT U&"n\\0061me", COUNT(*) FROM residents GROUP BY U&"n\\0061me"',
    f"SELECT COUNT(*) FROM residents WHERE name = U&'{SECRET_NAME}'",
    f"SELECT COUNT(*) FROM residents WHERE note = $${SECRET_NOTE}$$",
    "SELECT COUNT(*) FROM residents WHERE name = E'SECRET\\x2dLI'",
    "SELECT COUNT(*) FROM residents WHERE \u202ename = 'x'",
    f"SELECT '{SECRET_NAME}' AS x FROM residents",
    f"SELECT COUNT(*) AS '{SECRET_NAME}' FROM residents",
    f"SELECT COUNT(*) FROM residents WHERE district = '{SECRET_NAME}",  # unterminated
    f"SELECT COUNT(*) FROM residents WHERE district = {SECRET_INCOME}abc'",
    f"SELECT COUNT(*) FROM residents AS '{SECRET_NAME}'",
]


def vault_queries(seeded: Seeded) -> list[str]:
    """Direct reads of the registered dataset's Parquet file in the vault, by every route we know."""
    files = [p for p in seeded.stack.settings.vault_dir.rglob("*") if p.is_file()]
    assert files, "the vault holds the registered dataset"
    path = str(files[0])
    folder = str(files[0].parent)
    return [
        f"SELECT * FROM read_parquet('{path}')",
        f"SELECT COUNT(*) FROM read_parquet('{path}')",
        f"SELECT COUNT(*) FROM read_csv('{path}')",
        f"SELECT name FROM parquet_scan('{path}')",
        f"SELECT * FROM '{path}'",
        f'SELECT COUNT(*) FROM "{path}"',
        f"SELECT district, COUNT(*) FROM '{path}' GROUP BY district",
        f"SELECT COUNT(*) FROM residents WHERE district IN (SELECT name FROM read_parquet('{path}'))",
        f"SELECT COUNT(*) FROM glob('{folder}/*')",
        f"SELECT COUNT(*) FROM parquet_metadata('{path}')",
        f"ATTACH '{path}' AS v",
        f"COPY residents FROM '{path}'",
    ]


def test_dangerous_queries_are_refused_without_values(seeded: Seeded) -> None:
    problems = []
    for sql in [*REFUSED, *vault_queries(seeded)]:
        r = seeded.submit(sql)
        if r.status_code != 422:
            problems.append(f"{r.status_code} for {sql!r}: {r.text[:300]}")
            continue
        err = assert_error_shape(r, "gate_rejected")
        reasons = err["detail"]["reasons"]
        if not reasons or any(
            set(x) != {"code", "construct", "position", "hint", "message"} for x in reasons
        ):
            problems.append(f"bad reasons for {sql!r}: {reasons}")
    assert not problems, "\n".join(problems)
    # the refused jobs are on record, with reason codes and no values
    jobs = seeded.stack["operator"].get("/v1/jobs", params={"state": "gate_rejected", "limit": 200})
    assert jobs.status_code == 200 and jobs.json()["items"]
    assert seeded.stack["auditor"].get("/v1/audit", params={"limit": 1000}).status_code == 200
    seeded.assert_no_leaks()


UPLOADS: list[tuple[str, bytes, dict[str, Any]]] = [
    # (file name, content, metadata overrides): each refused, none may quote a cell
    ("ragged.csv", f"resident_id,name\n1,a\n2,{SECRET_NAME},{SECRET_PHONE}\n".encode(), {}),
    ("short.csv", f"resident_id,name,income\n1,a,1\n{SECRET_NAME}\n".encode(), {}),
    ("quote.csv", f'resident_id,name\n1,a\n2,"{SECRET_NAME}\n3,b\n'.encode(), {}),
    (
        "bad.jsonl",
        f'{{"resident_id": "1", "name": "a"}}\n{{"resident_id": "2", "name": "{SECRET_NAME}"\n'.encode(),
        {},
    ),
    ("list.jsonl", f'{{"resident_id": "1"}}\n["{SECRET_NAME}", {SECRET_INCOME}]\n'.encode(), {}),
    ("scalar.jsonl", f'"{SECRET_NAME}"\n'.encode(), {}),
    ("bad.parquet", b"PAR1" + SECRET_NAME.encode() + b"PAR1", {}),
    ("enc.csv", f"resident_id,name\n1,{SECRET_NAME}\n".encode() + b"\x80\xff\xfe\n", {}),
    ("table.xlsx", SECRET_NAME.encode(), {}),
    ("ok.csv", f"resident_id,name\n1,{SECRET_NAME}\n".encode(), {"privacy_unit": "nobody"}),
    ("ok.csv", f"resident_id,name\n1,{SECRET_NAME}\n".encode(), {"name": f"{SECRET_NAME}!"}),
    ("ok.csv", f"resident_id,name\n1,{SECRET_NAME}\n".encode(), {"classification": SECRET_NAME}),
    ("ok.csv", f"resident_id,name\n1,{SECRET_NAME}\n".encode(), {"encoding": SECRET_NAME}),
    ("ok.csv", f"resident_id,name\n1,{SECRET_NAME}\n".encode(), {"format": SECRET_NAME}),
    ("ok.csv", f"resident_id,name\n1,{SECRET_NAME}\n".encode(), {"unknown": SECRET_NAME}),
]


def test_refused_uploads_quote_no_cell(seeded: Seeded) -> None:
    for filename, content, meta in UPLOADS:
        metadata = {"name": "refused", "privacy_unit": "resident_id", **meta}
        r = seeded.stack["source"].post(
            "/v1/datasets",
            files={"file": (filename, content, "application/octet-stream")},
            data={"metadata": json.dumps(metadata)},
        )
        assert r.status_code == 422, (filename, meta, r.text)
        err = r.json()["error"]
        assert err["code"] in (
            "malformed_file",
            "unsupported_format",
            "unknown_encoding",
            "unknown_column",
            "invalid_request",
        ), (filename, err)
    names = [d["name"] for d in seeded.stack["source"].get("/v1/datasets").json()["items"]]
    assert names == ["residents"]
    seeded.assert_no_leaks()


# Queries the gate allows: comments must not smuggle a second statement or a hidden column in, and a
# filter that isolates the secret row gives suppressed cells only (True: every row is suppressed).
ALLOWED_BUT_HARMLESS: list[tuple[str, bool]] = [
    (
        "SELECT district, COUNT(*) AS n FROM residents GROUP BY district /* ; SELECT name FROM residents */",
        False,
    ),
    (
        "SELECT district, COUNT(*) AS n FROM residents -- ; SELECT name FROM residents\nGROUP BY district",
        False,
    ),
    (
        "SELECT district, COUNT(*) AS n FROM residents -- */ SELECT name FROM residents /*\n"
        "GROUP BY district",
        False,
    ),
    ("/* x */ SELECT district, SUM(income) AS s FROM residents WHERE age = 77 GROUP BY district", False),
    ('SELECT "district", COUNT(*) AS "人数" FROM "residents" GROUP BY "district"', False),
    (f"SELECT COUNT(*) AS n, SUM(income) AS s FROM residents WHERE occupation = '{SECRET_OCCUPATION}'", True),
    (
        f"SELECT district, COUNT(*) AS n FROM residents WHERE occupation = '{SECRET_OCCUPATION}' "
        "GROUP BY district",
        True,
    ),
    (
        f"SELECT sex, AVG(income) AS a FROM residents WHERE age = {SECRET_AGE} AND district = '{SMALL}' "
        "GROUP BY sex",
        True,
    ),
]


def test_comments_and_isolating_filters_release_nothing(seeded: Seeded) -> None:
    for sql, isolating in ALLOWED_BUT_HARMLESS:
        r = seeded.submit(sql)
        assert r.status_code == 202, (sql, r.text)
        job = seeded.wait(r.json()["id"])
        assert job["state"] == "pending_review", (sql, job)
        cand = seeded.stack["reviewer"].get(f"/v1/reviews/{job['id']}")
        assert cand.status_code == 200, cand.text
        body = cand.json()
        assert not {"name", "phone", "note"} & set(body["columns"]), (sql, body["columns"])
        assert body["rows"], sql
        if isolating:
            suppressed = body["columns"].index("suppressed")
            assert all(row[suppressed] for row in body["rows"]), (sql, body["rows"])
    seeded.assert_no_leaks()


def test_conversions_that_would_fail_on_a_secret_value_are_refused(seeded: Seeded) -> None:
    """DuckDB would convert every occupation and fail on the secret one (row one), quoting it; whether
    the job failed would tell that such a value exists. The gate refuses the comparison up front."""
    sqls = [
        "SELECT COUNT(*) AS n FROM residents WHERE occupation > DATE '2020-01-01'",
        "SELECT COUNT(*) AS n FROM residents WHERE occupation = 1",
        "SELECT COUNT(*) AS n FROM residents WHERE occupation > TIMESTAMP '2020-01-01 00:00:00'",
    ]
    for sql in sqls:
        r = seeded.submit(sql)
        assert r.status_code == 422, (sql, r.text)
        codes = [x["code"] for x in r.json()["error"]["detail"]["reasons"]]
        assert codes == ["literal_type_mismatch"], (sql, codes)
    seeded.assert_no_leaks()


# --- generated SQL ------------------------------------------------------------------------------

COLUMNS = ["resident_id", "name", "phone", "note", "district", "sex", "age", "occupation", "income"]
SECRET_LITERALS = [
    f"'{SECRET_NAME}'",
    f"'{SECRET_PHONE}'",
    f"'{SECRET_NOTE}'",
    f"'{SECRET_OCCUPATION}'",
    str(SECRET_INCOME),
    f"'{SECRET_INCOME}'",
    f"'{SMALL}'",
    "'男'",
    str(SECRET_AGE),
    "30",
    "NULL",
    "DATE '2020-01-01'",
]
AGGREGATES = [
    "COUNT",
    "SUM",
    "AVG",
    "MIN",
    "MAX",
    "string_agg",
    "list",
    "first",
    "any_value",
    "mode",
    "median",
    "arg_max",
]

column = st.sampled_from(COLUMNS)
literal = st.sampled_from(SECRET_LITERALS)


@st.composite
def aggregate(draw: st.DrawFn) -> str:
    fn = draw(st.sampled_from(AGGREGATES))
    if fn == "COUNT":
        arg = draw(st.one_of(st.just("*"), column, column.map(lambda c: f"DISTINCT {c}")))
    elif fn == "string_agg":
        arg = f"{draw(column)}, ','"
    elif fn == "arg_max":
        arg = f"{draw(column)}, {draw(column)}"
    else:
        arg = draw(st.one_of(column, column.map(lambda c: f"CAST({c} AS VARCHAR)")))
    return f"{fn}({arg})"


@st.composite
def select_item(draw: st.DrawFn) -> str:
    item = draw(st.one_of(column, aggregate(), aggregate(), literal))
    if draw(st.booleans()):
        item += f" AS c{draw(st.integers(0, 9))}"
    return item


@st.composite
def condition(draw: st.DrawFn) -> str:
    col = draw(column)
    op = draw(st.sampled_from(["=", "<>", "<", ">=", "LIKE", "IN", "BETWEEN", "IS NULL"]))
    if op == "IN":
        return f"{col} IN ({draw(literal)}, {draw(literal)})"
    if op == "BETWEEN":
        return f"{col} BETWEEN {draw(literal)} AND {draw(literal)}"
    if op == "IS NULL":
        return f"{col} IS NULL"
    return f"{col} {op} {draw(literal)}"


@st.composite
def generated_sql(draw: st.DrawFn) -> str:
    items = draw(st.lists(select_item(), min_size=1, max_size=4))
    sql = f"SELECT {', '.join(items)} FROM residents"
    conditions = draw(st.lists(condition(), max_size=3))
    if conditions:
        joiner = draw(st.sampled_from([" AND ", " OR "]))
        sql += " WHERE " + joiner.join(conditions)
    keys = draw(st.lists(column, max_size=3, unique=True))
    if keys:
        sql += " GROUP BY " + ", ".join(keys)
    if draw(st.booleans()):
        sql += f" LIMIT {draw(st.sampled_from([1, 10, SECRET_INCOME]))}"
    return sql


def grouped_sql() -> st.SearchStrategy[str]:
    """Queries the gate mostly allows, so the workspace and the privacy layer run too."""
    keys = st.lists(st.sampled_from(["district", "sex"]), max_size=2, unique=True)
    aggs = st.lists(
        st.sampled_from(
            [
                "COUNT(*)",
                "SUM(income)",
                "AVG(income)",
                "COUNT(DISTINCT resident_id)",
                "MAX(income)",
                "SUM(age)",
            ]
        ),
        min_size=1,
        max_size=3,
        unique=True,
    )
    where = st.one_of(st.just(""), condition().map(lambda c: f" WHERE {c}"))

    def build(k: list[str], a: list[str], w: str) -> str:
        items = [*k, *(f"{x} AS a{i}" for i, x in enumerate(a))]
        group = f" GROUP BY {', '.join(k)}" if k else ""
        return f"SELECT {', '.join(items)} FROM residents{w}{group}"

    return st.builds(build, keys, aggs, where)


@hsettings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sql=st.one_of(generated_sql(), grouped_sql()))
def test_generated_sql_never_leaks(seeded: Seeded, sql: str) -> None:
    r = seeded.submit(sql)
    assert r.status_code in (202, 422), (sql, r.status_code, r.text)
    if r.status_code == 422:
        err = assert_error_shape(r, "gate_rejected")
        assert err["detail"]["reasons"], sql
        # reasons name columns, functions and keywords: never a literal the operator typed
        for s in seeded.secrets.strings:
            assert s not in json.dumps(err, ensure_ascii=False), (sql, s)
    else:
        job = seeded.wait(r.json()["id"])
        assert job["state"] in ("pending_review", "failed"), (sql, job)
        if job["state"] == "failed":
            assert job["reason_code"], (sql, job)
        text = json.dumps(without_operator_sql(job), ensure_ascii=False)
        assert not seeded.secrets.found_in(text), (sql, job)
        if job["state"] == "pending_review":
            cand = seeded.stack["reviewer"].get(f"/v1/reviews/{job['id']}")
            assert cand.status_code == 200, cand.text
    seeded.assert_no_leaks()


# --- released outputs ---------------------------------------------------------------------------


def test_released_outputs_hold_no_seeded_secret(seeded: Seeded) -> None:
    stack = seeded.stack
    sqls = [
        "SELECT district, COUNT(*) AS n, SUM(income) AS total, AVG(income) AS mean "
        "FROM residents GROUP BY district ORDER BY district",
        # the secret row is alone in its district at this age: its SUM would be its income
        f"SELECT district, COUNT(*) AS n, SUM(income) AS total FROM residents WHERE age = {SECRET_AGE} "
        "GROUP BY district ORDER BY district",
        f"SELECT district, sex, SUM(income) AS total FROM residents WHERE age >= {SECRET_AGE} "
        "GROUP BY district, sex",
    ]
    for sql in sqls:
        r = seeded.submit(sql)
        assert r.status_code == 202, r.text
        job = seeded.wait(r.json()["id"])
        assert job["state"] == "pending_review", job
        assert job["check_report"]["sdc"]["suppressed_rows"] >= 1, job["check_report"]
        d = stack["reviewer"].post(f"/v1/reviews/{job['id']}", json={"decision": "approve", "reason": "ok"})
        assert d.status_code == 200 and d.json()["job_state"] == "released", d.text
        for fmt in ("csv", "json", "parquet"):
            resp = stack["operator"].get(f"/v1/jobs/{job['id']}/result", params={"format": fmt})
            assert resp.status_code == 200, resp.text
            assert str(SECRET_INCOME).encode() not in resp.content
            if fmt == "parquet":
                rows = pq.read_table(io.BytesIO(resp.content)).to_pylist()
                small = [row for row in rows if row["district"] == SMALL]
                assert small and all(row["suppressed"] and row["total"] is None for row in small), rows
                assert SECRET_INCOME not in [row["total"] for row in rows]
        # the files on disk are what was downloaded; search them too
        for path in (stack.settings.releases_dir / job["id"]).iterdir():
            assert not seeded.secrets.found_in(body_text(path.read_bytes())), path
        released = stack["operator"].get(f"/v1/jobs/{job['id']}").json()
        assert released["state"] == "released"
        assert not seeded.secrets.found_in(json.dumps(released["check_report"], ensure_ascii=False))
    seeded.assert_no_leaks()


def test_previews_and_dry_runs_hold_no_seeded_secret(seeded: Seeded) -> None:
    """Previews and dry runs are drawn from the schema alone: no real value of any column, only
    format-valid fakes (checked: the resident IDs are valid and none is a real one)."""
    stack, ds = seeded.stack, seeded.dataset
    for who in ("operator", "source", "admin"):
        r = stack[who].get(f"/v1/datasets/{ds['id']}/preview", params={"rows": 200})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["synthetic"] is True and len(body["rows"]) == 200
        names = [c["name"] for c in body["columns"]]
        assert names == [c["name"] for c in ds["columns"]]
        ids = [row[names.index("resident_id")] for row in body["rows"]]
        assert all(valid_resident_id(i) for i in ids) and not set(ids) & seeded.secrets.resident_ids
        districts = {row[names.index("district")] for row in body["rows"]}
        assert districts <= set(seeded.public_keys)  # group columns draw from the declared public keys
    assert stack["reviewer"].get(f"/v1/datasets/{ds['id']}/preview").status_code == 403
    for sql in (
        "SELECT district, COUNT(*) AS n, SUM(income) AS total, AVG(income) AS mean FROM residents "
        "GROUP BY district ORDER BY district",
        "SELECT COUNT(*) AS n, SUM(income) AS total FROM residents",
        f"SELECT sex, COUNT(*) AS n FROM residents WHERE occupation = '{SECRET_OCCUPATION}' GROUP BY sex",
    ):
        r = stack["operator"].post(
            "/v1/jobs/dry-run", json={"scenario_id": seeded.scenario_id, "sql": sql, "mode": "sdc"}
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"synthetic", "columns", "rows", "gate_report", "check_report"}
        assert body["synthetic"] is True and body["check_report"]["synthetic"] is True
        assert body["columns"][-1] == "suppressed" and body["gate_report"] == []
    refused = stack["operator"].post(
        "/v1/jobs/dry-run", json={"scenario_id": seeded.scenario_id, "sql": "SELECT name FROM residents"}
    )
    assert_error_shape(refused, "gate_rejected")
    assert refused.json()["error"]["detail"]["reasons"]
    # nothing queued, nothing to review, nothing spent; each dry run audited as one event
    assert stack["operator"].get("/v1/jobs").json()["items"] == []
    events = stack["auditor"].get("/v1/audit", params={"object_id": seeded.scenario_id, "limit": 100}).json()
    outcomes = [e["detail"]["outcome"] for e in events["items"] if e["event_type"] == "job.dry_run"]
    assert outcomes == ["ok", "ok", "ok", "gate_rejected"]
    seeded.assert_no_leaks()


# --- known bugs (strict xfail: each turns into a failure once fixed, to be unmarked) -------------


def released_rows(seeded: Seeded, sql: str) -> list[dict[str, Any]]:
    """Submit, approve as the reviewer, download the Parquet artifact as the operator."""
    stack = seeded.stack
    r = seeded.submit(sql)
    assert r.status_code == 202, r.text
    job = seeded.wait(r.json()["id"])
    assert job["state"] == "pending_review", job
    d = stack["reviewer"].post(f"/v1/reviews/{job['id']}", json={"decision": "approve", "reason": "ok"})
    assert d.status_code == 200 and d.json()["job_state"] == "released", d.text
    resp = stack["operator"].get(f"/v1/jobs/{job['id']}/result", params={"format": "parquet"})
    assert resp.status_code == 200, resp.text
    return pq.read_table(io.BytesIO(resp.content)).to_pylist()


def test_differencing_two_released_totals_does_not_reveal_one_income(seeded: Seeded) -> None:
    everyone = released_rows(seeded, "SELECT COUNT(*) AS n, SUM(income) AS total FROM residents")
    all_but_one = released_rows(
        seeded,
        "SELECT COUNT(*) AS n, SUM(income) AS total FROM residents "
        f"WHERE district <> '{SMALL}' OR age <> {SECRET_AGE}",
    )
    revealed = [
        a["total"] - b["total"]
        for a, b in zip(everyone, all_but_one, strict=True)
        if a["total"] is not None and b["total"] is not None
    ]
    assert SECRET_INCOME not in revealed
    assert everyone[0]["total"] is not None and all_but_one[0]["suppressed"]  # the second is withheld


def on_postgres(request: pytest.FixtureRequest) -> bool:
    return bool(request.node.callspec.params.get("catalog_url") == "postgres")


def test_internal_errors_log_no_request_values(seeded: Seeded, request: pytest.FixtureRequest) -> None:
    """Requests that once ended in unhandled exceptions (and tracebacks quoting the request in the log)
    are refused with 422 now; the log may name an exception type, never a request's values."""
    stack = seeded.stack
    for who, method, url, kwargs in [
        # a cursor past int64 (SQLite: OverflowError; PostgreSQL: DataError)
        ("auditor", "GET", "/v1/audit", {"params": {"cursor": 10**20}}),
        # a NUL byte in the SQL (PostgreSQL text cannot hold it)
        (
            "operator",
            "POST",
            "/v1/jobs",
            {
                "json": {
                    "scenario_id": seeded.scenario_id,
                    "sql": f"SELECT COUNT(*) AS n FROM residents "
                    f"WHERE occupation = '{SECRET_OCCUPATION}\x00'",
                }
            },
        ),
    ]:
        hooks = {"response": [seeded.watch.hook]}
        with httpx.Client(base_url=stack.url, headers=stack[who].headers, event_hooks=hooks) as client:
            r = client.request(method, url, **kwargs)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request", r.text
    seeded.assert_no_leaks()
