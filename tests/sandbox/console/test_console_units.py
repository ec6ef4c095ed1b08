"""Console pieces as plain functions: working days, SQL highlighting, SVG charts, catalogues, sessions."""

from __future__ import annotations

import doctest
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from policies import bundles
from policies.levels import Classification
from policies.privacy import sdc
from sandbox import review
from sandbox.auth import Role, add_user
from sandbox.catalog.models import ConsoleSession
from sandbox.console import charts, highlight, i18n, sessions
from sandbox.jobs import JobState
from sandbox.runtime import Runtime
from sandbox.settings import Settings

TEMPLATES = Path(highlight.__file__).parent / "templates"


def test_doctests_run() -> None:
    for module in (highlight, review):
        assert doctest.testmod(module).failed == 0


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        (datetime(2026, 12, 1, 9), 10, datetime(2026, 12, 15, 9)),  # Tuesday: two full weeks
        (datetime(2026, 12, 4, 17), 1, datetime(2026, 12, 7, 17)),  # Friday -> Monday
        (datetime(2026, 12, 5, 10), 1, datetime(2026, 12, 8, 10)),  # Saturday counts from Monday
        (datetime(2026, 12, 6, 10), 10, datetime(2026, 12, 21, 10)),  # Sunday
        (datetime(2026, 12, 3, 8), 5, datetime(2026, 12, 10, 8)),  # Thursday, over one weekend
    ],
)
def test_review_due_dates_count_working_days_only(start: datetime, days: int, due: datetime) -> None:
    assert review.working_days_after(start, days) == due
    assert due.weekday() < 5


def test_highlight_marks_the_construct_of_each_reason_and_escapes_text() -> None:
    sql = "SELECT name,\n  COUNT(*) FROM t WHERE x = '<script>'"
    html = str(highlight.render(sql, [{"line": 1, "column": 8}, None, {"line": 2, "column": 3}]))
    assert '<span class="i mark" id="r0" data-reason="0">name</span>' in html
    assert '<span class="f mark" id="r2" data-reason="2">COUNT</span>' in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert html.count('<td class="ln">') == 2
    assert highlight.offset_of(sql, 2, 3) == sql.index("COUNT")


def test_highlight_shows_untokenizable_text_plainly() -> None:
    html = str(highlight.render("SELECT 'unterminated"))
    assert "unterminated" in html and "mark" not in html


def test_bar_chart_draws_released_values_and_skips_suppressed_rows() -> None:
    columns = ["district", "n", "suppressed"]
    rows = [["南山区", 120, False], [None, None, True], ["<b>", 30, False]]
    svg = str(charts.bar_chart(columns, rows))
    assert svg.startswith("<svg") and svg.count('class="bar"') == 2
    assert "南山区" in svg and "&lt;b&gt;" in svg and "<b>" not in svg
    assert charts.bar_chart(["n"], [[1], [2]]) is None  # no labels
    assert charts.bar_chart(["d", "n"], [["a", None]]) is None  # nothing released


def test_output_table_shows_flags_as_marks_not_columns() -> None:
    from sandbox.console.web import environment

    columns = ["district", "n", "district__flag", "n__flag", "suppressed"]
    rows = [["南山区", 120, None, "rounded", False], [None, None, "key_not_public", "min_units", True]]
    macro = '{% from "macros.html" import output_table with context %}{{ output_table(columns, rows) }}'
    html = environment().from_string(macro).render(t=i18n.translator("en"), columns=columns, rows=rows)
    assert "<th>district</th>" in html and "__flag</th>" not in html  # flags are marks, not columns
    assert html.count('class="supp"') == 2 and 'data-rule="min_units"' in html and "[c]" in html
    assert "fewer than k privacy units" in html and 'class="rounded"' in html and ">120<" in html
    assert charts.pick_columns(columns, rows) == (0, 1)  # a flag is never the label or the value


def test_budget_chart_accumulates_spends_against_the_budget() -> None:
    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    svg = str(charts.budget_chart([(t0, 0.25), (t0 + timedelta(hours=1), 0.5)], 1.0))
    assert "ε 0.75" in svg and 'class="budget"' in svg
    assert charts.budget_chart([], 1.0) is None


def test_both_catalogues_have_every_key_the_templates_use() -> None:
    zh, en = i18n.catalogue("zh"), i18n.catalogue("en")
    assert set(zh) == set(en)
    used: set[str] = set()
    for path in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"t\('([a-z_]+\.[a-z_]+)'", path.read_text(encoding="utf-8")))
    used |= {f"state.{s.value}" for s in JobState} | {f"role.{r.value}" for r in Role}
    used |= {f"class.{c.value}" for c in Classification} | {f"rule.{code}" for code in sdc.FLAGS}
    missing = sorted(k for k in used if k not in zh)
    assert not missing, missing
    assert i18n.translator("en")("home.welcome", name="x") == "Welcome, x"
    assert i18n.pick("fr") == "zh"


def test_bundle_reviewers_default_to_one_and_core_needs_two() -> None:
    old = "general: {k: 10}\nimportant: {k: 20}\ncore: {k: 50, modes: [sdc]}"
    assert {p.reviewers for p in bundles.parse(old).levels.values()} == {1}
    shipped = bundles.parse(bundles.default_text())
    assert shipped.for_level(Classification.core).reviewers == 2
    assert shipped.strictest([Classification.general, Classification.core]).reviewers == 2
    with pytest.raises(ValueError, match="reviewers"):
        bundles.parse(old.replace("core: {k: 50", "core: {reviewers: 0, k: 50"))


def test_an_expired_or_signed_out_session_is_no_session(settings: Settings) -> None:
    rt = Runtime(settings)
    try:
        with rt.catalog.session() as s:
            _, token = add_user(s, "rev", [Role.reviewer])
        cookie, viewer = sessions.sign_in(rt, token)
        found = sessions.lookup(rt, cookie)
        assert found is not None and (found.user.id, found.csrf) == (viewer.user.id, viewer.csrf)
        assert sessions.lookup(rt, cookie + "x") is None and sessions.lookup(rt, None) is None
        with rt.catalog.session() as s:
            stored = s.get(ConsoleSession, sessions._hash(cookie))
            assert stored is not None and cookie not in (stored.id_hash, stored.csrf)
            s.execute(update(ConsoleSession).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        assert sessions.lookup(rt, cookie) is None
        cookie2, viewer2 = sessions.sign_in(rt, token)
        sessions.sign_out(rt, cookie2, viewer2)
        assert sessions.lookup(rt, cookie2) is None
    finally:
        rt.close()


def test_review_page_renders_dp_reports_and_output_pii_generically() -> None:
    """The dp report (another workstream's keys) and the output PII scan render from whatever they hold."""
    from types import SimpleNamespace

    from sandbox.api.schemas import JobOut, ScenarioOut
    from sandbox.console.web import environment

    now = datetime(2026, 12, 1, 9, tzinfo=UTC)
    report = {
        "mode": "dp",
        "dp": {
            "epsilon_spent": 0.5,
            "budget": {"epsilon_left": 1.5},
            "columns": [{"column": "n", "scale": 2.0, "ci95": 3.9}],
        },
        "output_pii": [{"row": 0, "column": "district", "entity": "CN_MOBILE"}],
    }
    job = JobOut(
        id="job_1", scenario_id="sc_1", submitter_id="usr_1", sql="SELECT 1", mode="dp",
        state="pending_review", reason_code=None, gate_report=[], check_report=report,
        created_at=now, updated_at=now,
    )  # fmt: skip
    sc = ScenarioOut(
        id="sc_1", name="s", purpose="p", operator_id="usr_1", datasets={}, modes=["dp"], epsilon=2.0,
        delta=None, expires_at=now, public_interest=False, state="approved", decision_reason=None,
        created_at=now, epsilon_spent=0.5,
    )  # fmt: skip
    html = environment().get_template("review_job.html").render(
        request=SimpleNamespace(url=SimpleNamespace(path="/console/reviews/job_1")),
        t=i18n.translator("en"), lang="en", viewer=None, roles=set(), csrf="c", now=now,
        job=job, columns=["n"], rows=[[3.2]], suppressed=set(), scenario=sc, touched=[], decisions=[],
        required=2, earlier=[], due=now, report=report, error="",
    )  # fmt: skip
    assert "epsilon_spent" in html and "epsilon_left" in html and "ci95" in html
    assert 'id="pii-hits"' in html and "CN_MOBILE" in html
    assert "epsilon spent 0.5 of 2; left 1.5" in html and "approvals needed: 2" in html


def test_only_approvals_after_the_last_rejection_count() -> None:
    at = datetime(2026, 12, 1, tzinfo=UTC)
    rec = [
        review.ReviewRecord("a", "approve", "r", at),
        review.ReviewRecord("b", "reject", "r", at),
        review.ReviewRecord("c", "approve", "r", at),
        review.ReviewRecord("d", "approve", "r", at),
    ]
    assert [r.reviewer_id for r in review.current_round(rec)] == ["c", "d"]
    assert review.current_round(rec[:2]) == []
