"""sandbox.client against a real server on loopback: the whole path, typed answers, one error type."""

from __future__ import annotations

import asyncio
import io
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from support import Stack

from policies.privacy import sdc
from sandbox.client import AsyncClient, Client, SandboxAPIError, format_reasons
from sandbox.demo_data import residents
from sandbox.server import free_port
from sandbox.settings import ClientSettings

MAIN_JOB = (
    "SELECT district, COUNT(*) AS n, AVG(income) AS avg_income\nFROM residents\n"
    "GROUP BY district ORDER BY district"
)
LEVELS_YAML = """\
columns:
  resident_id: join_key
  district: {level: group, public_keys: %s}
  sex: group
  income: {level: aggregate, lower: 0, upper: 5000000}
"""

# the outputs, their flags and the row mark (docs/outputs.md)
OUTPUTS = ["district", "n", "avg_income"]
RELEASED_COLUMNS = [*OUTPUTS, *(f"{c}__flag" for c in OUTPUTS), "suppressed"]
RELEASED_CSV = pacsv.ConvertOptions(null_values=["", sdc.CSV_MARKER], strings_can_be_null=True)


@pytest.fixture
def c(stack: Stack) -> Iterator[dict[str, Client]]:
    """One sandbox.client.Client per role of the stack."""
    clients = {who: Client(stack.url, stack.tokens[who], timeout=60) for who in stack.tokens}
    yield clients
    for client in clients.values():
        client.close()


def test_whole_path_through_the_client(stack: Stack, c: dict[str, Client], tmp_path: Path) -> None:
    table = residents(2000, seed=3, small_count=4)
    assert c["source"].me().roles == ["source_unit"]

    ds = c["source"].register_dataset(
        table, name="residents", privacy_unit="resident_id", classification="general"
    )
    proposed = {col.name: col.proposed_level for col in ds.columns}
    assert ds.rows == 2000 and proposed["name"] == "hidden" and proposed["phone"] == "hidden"

    districts = sorted(set(table.column("district").to_pylist()))
    levels = tmp_path / "levels.yaml"
    levels.write_text(LEVELS_YAML % ("[" + ", ".join(districts) + "]"), encoding="utf-8")
    ds = c["source"].set_levels(ds.id, levels)
    by_name = {col.name: col for col in ds.columns}
    assert by_name["income"].level == "aggregate" and by_name["income"].upper == 5_000_000
    assert by_name["district"].public_keys == districts and by_name["resident_id"].confirmed

    # a second dataset from a path; listing follows next_cursor across pages of one
    path = tmp_path / "other.csv"
    pacsv.write_csv(residents(300, seed=4, small_count=2), path)
    other = c["source"].register_dataset(path, name="other", privacy_unit="resident_id", progress=True)
    assert [d.id for d in c["source"].list_datasets(page_size=1)] == [ds.id, other.id]
    assert c["source"].get_dataset(other.id).name == "other"

    sc = c["operator"].apply_scenario(
        name="income by district",
        purpose="planning",
        datasets={ds.id: ["resident_id", "district", "sex", "age", "income"]},
    )
    assert sc.state == "pending"
    sc = c["admin"].approve_scenario(sc.id, "fits the purpose")
    assert sc.state == "approved" and c["operator"].get_scenario(sc.id).decision_reason == "fits the purpose"
    assert [s.id for s in c["operator"].list_scenarios(page_size=1)] == [sc.id]

    # preview and dry run: their routes come from another branch; until then, a 404/405 as SandboxAPIError
    paths = c["operator"]._http.get("/openapi.json").json()["paths"]
    if "/v1/datasets/{dataset_id}/preview" in paths:
        shown = c["operator"].preview(ds.id, rows=5)
        assert shown["synthetic"] is True and len(shown["rows"]) == 5
    else:
        with pytest.raises(SandboxAPIError) as missing:
            c["operator"].preview(ds.id, rows=5)
        assert missing.value.status == 404 and missing.value.code == "not_found"
    if "/v1/jobs/dry-run" in paths:
        dry = c["operator"].dry_run(sc.id, MAIN_JOB)
        assert dry.synthetic and dry.columns[:3] == ["district", "n", "avg_income"] and dry.rows
        with pytest.raises(SandboxAPIError) as dry_refused:
            c["operator"].dry_run(sc.id, "SELECT name FROM residents")
        assert dry_refused.value.code == "gate_rejected" and dry_refused.value.reasons
    else:
        with pytest.raises(SandboxAPIError) as missing:
            c["operator"].dry_run(sc.id, MAIN_JOB)
        assert missing.value.status in (404, 405)

    raw = "SELECT district,\n       name FROM residents"
    with pytest.raises(SandboxAPIError) as refused:
        c["operator"].submit(sc.id, raw)
    err = refused.value
    assert err.status == 422 and err.code == "gate_rejected" and err.job_id
    assert "column_not_granted" in [r["code"] for r in err.reasons]
    text = format_reasons(raw, err.reasons)
    print(text)
    assert "   2 |        name FROM residents\n     |        ^~~~\ncolumn_not_granted: column 'name'" in text

    job = c["operator"].submit(sc.id, MAIN_JOB, "sdc")
    assert job.state in ("queued", "running", "checking", "pending_review")
    job = c["operator"].wait(job.id, timeout=60, progress=True)
    # the small district and its complement (secondary suppression, policies/privacy/sdc.py)
    assert job.state == "pending_review" and job.check_report["sdc"]["suppressed_rows"] == 2
    with pytest.raises(SandboxAPIError) as early:
        c["operator"].result(job.id)
    assert early.value.status == 409 and early.value.code == "not_released" and early.value.reasons == []

    assert [j.id for j in c["reviewer"].review_queue()] == [job.id]
    cand = c["reviewer"].candidate(job.id)
    assert cand.columns == RELEASED_COLUMNS
    review = c["reviewer"].decide(job.id, "approve", "aggregates only")
    assert review.job_state == "released"

    csv = c["operator"].result(job.id, "csv")
    released = c["operator"].result_table(job.id)
    from_csv = pacsv.read_csv(io.BytesIO(csv), convert_options=RELEASED_CSV)  # [c]: withheld
    assert released.num_rows == len(districts) and released.column_names == cand.columns
    assert released.equals(from_csv.cast(released.schema)), (released.schema, from_csv.schema)
    got = c["operator"].download(job.id, "json")
    assert got.verified and got.media_type.startswith("application/json")
    assert {a.format for a in c["operator"].get_job(job.id).artifacts or []} >= {"csv", "parquet"}
    assert [j.state for j in c["operator"].list_jobs(state="released")] == ["released"]

    other_job = c["operator"].submit(sc.id, MAIN_JOB)
    assert c["operator"].cancel(other_job.id).state == "cancelled"
    assert c["operator"].wait(other_job.id, timeout=5).state == "cancelled"
    third = c["operator"].wait(c["operator"].submit(sc.id, MAIN_JOB).id, timeout=60)
    assert c["reviewer"].decide(third.id, "reject", "not needed").job_state == "rejected"
    late = c["operator"].apply_scenario(name="late", purpose="p", datasets={ds.id: ["district"]})
    assert c["admin"].reject_scenario(late.id, "no").state == "rejected"
    assert c["admin"].revoke_scenario(sc.id, "finished").state == "revoked"

    assert c["auditor"].audit_verify().ok
    released_events = list(c["auditor"].audit_events(event_type="job.released"))
    assert [e.object_id for e in released_events] == [job.id]
    every = list(c["auditor"].audit_events(page_size=7))
    # pages of 7 chained by next_cursor: every event once, in order (reads may themselves be audited)
    seqs = [e.seq for e in every]
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) > 14
    assert len(seqs) <= c["auditor"].audit_verify().events

    try:
        import pandas  # noqa: F401  (not a dependency: to_pandas works only where it is installed)
    except ImportError:
        with pytest.raises(ImportError, match="needs pandas"):
            c["operator"].to_pandas(job.id)
    else:
        assert c["operator"].to_pandas(job.id).shape == (released.num_rows, released.num_columns)

    async def async_path() -> pa.Table:
        async with AsyncClient(stack.url, stack.tokens["operator"]) as a:
            assert (await a.me()).name == "operator"
            assert (await a.wait(job.id)).state == "released"
            return await a.result_table(job.id)

    assert asyncio.run(async_path()).equals(released)


def test_errors_are_one_type_with_the_api_code(stack: Stack) -> None:
    with Client(stack.url, "sbx_not_a_token") as bad:
        with pytest.raises(SandboxAPIError) as e:
            bad.me()
        assert e.value.status == 401 and e.value.code == "unauthenticated"
    with Client(stack.url, stack.tokens["operator"]) as op:
        with pytest.raises(SandboxAPIError) as e:
            op.register_dataset(pa.table({"a": [1]}), name="x", privacy_unit="a")
        assert e.value.status == 403 and e.value.body()["error"]["code"] == e.value.code
        with pytest.raises(SandboxAPIError) as e:
            op.get_job("no-such-job")
        assert e.value.status == 404 and e.value.code == "not_found"
    with Client(f"http://127.0.0.1:{free_port()}", "t", timeout=5) as down:
        with pytest.raises(SandboxAPIError) as e:
            down.me()
        assert e.value.status == 0 and e.value.code == "connection_failed"


def test_client_settings_read_url_and_token(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_URL", "http://example.test:8000")
    monkeypatch.setenv("SANDBOX_TOKEN", "sbx_abc")
    cs = ClientSettings()
    assert (cs.url, cs.token) == ("http://example.test:8000", "sbx_abc")
    monkeypatch.setenv("SANDBOX_URL", stack.url)
    monkeypatch.setenv("SANDBOX_TOKEN", stack.tokens["reviewer"])
    with Client.from_settings() as c:
        assert c.me().roles == ["reviewer"]
    monkeypatch.delenv("SANDBOX_URL")
    with pytest.raises(SandboxAPIError, match="SANDBOX_URL"):
        Client.from_settings()
    text = (Path(__file__).resolve().parents[2] / "docs" / "settings.md").read_text(encoding="utf-8")
    for name in ClientSettings.model_fields:
        assert f"`SANDBOX_{name.upper()}`" in text, name


def test_caret_counts_terminal_cells_and_groups_reasons_by_position() -> None:
    from sandbox.client.render import caret

    assert caret("SELECT 区县, name FROM t", 1, 12, "name") == [
        "   1 | SELECT 区县, name FROM t",
        "     |              ^~~~",  # 区县 is four cells wide: the caret stays under `name`
    ]
    assert caret("SELECT 1", 3, 1) == []  # a position outside the SQL draws no caret
    reasons = [
        {
            "code": "a",
            "message": "first",
            "hint": "h",
            "construct": "x",
            "position": {"line": 1, "column": 8},
        },
        {
            "code": "b",
            "message": "second",
            "hint": "",
            "construct": "x",
            "position": {"line": 1, "column": 8},
        },
        {"code": "c", "message": "nowhere", "hint": "", "construct": "", "position": None},
    ]
    text = format_reasons("SELECT x FROM t", reasons)
    assert text == (
        "line 1, column 8:\n   1 | SELECT x FROM t\n     |        ^\n"
        "a: first\n  hint: h\nb: second\n\nc: nowhere"
    )


def test_the_readme_worked_example_runs(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Python blocks of the README's worked example, run in order against a real server."""
    import re

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## A worked example", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(python|yaml)\n(.*?)```", section, flags=re.S)
    code = "\n".join(textwrap.dedent(body) for kind, body in blocks if kind == "python")
    (levels,) = [textwrap.dedent(body) for kind, body in blocks if kind == "yaml"]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "levels.yaml").write_text(levels, encoding="utf-8")
    pacsv.write_csv(residents(2000, seed=9, small_count=4), tmp_path / "residents.csv")
    ns: dict[str, object] = {"URL": stack.url} | {
        f"{k}_TOKEN": stack.tokens[v]
        for k, v in {"SRC": "source", "OP": "operator", "ADMIN": "admin", "REVIEWER": "reviewer"}.items()
    }
    try:
        exec(compile(code, "README.md", "exec"), ns)
    finally:
        for name in ("src", "op", "admin", "rev"):
            client = ns.get(name)
            if isinstance(client, Client):
                client.close()
    table = ns["table"]
    assert isinstance(table, pa.Table) and table.column_names == RELEASED_COLUMNS
    assert ns["csv"] and table.num_rows == 10 and ns["pending"] == [ns["job"].id]  # type: ignore[attr-defined]
