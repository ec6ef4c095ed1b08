"""The console in real Chromium (Debian's /usr/bin/chromium, driven by Playwright) against the real server.

One browser per module; each test gets fresh contexts (cookie jars) per role. The tests write the
screenshots the README links (docs/screenshots/).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from console_support import SECRET_NAME, pending_job, setup_scenario, token_of
from playwright.sync_api import Browser, Page, expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "install Debian's chromium (make test does it when missing)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def signed_in(browser: Browser, stack: object, who: str, lang: str = "zh") -> Page:
    """A new context (own cookies) signed in through the sign-in form."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.goto(f"{stack.url}/console/lang/{lang}?next=/console/signin")  # type: ignore[attr-defined]
    page.fill("input[name=token]", token_of(stack, who))
    page.click("#signin button[type=submit]")
    expect(page.locator("header .who")).to_contain_text(who)
    return page


def test_reviewer_approves_and_operator_downloads_the_release(browser: Browser, stack: object) -> None:
    sc, _ = setup_scenario(stack)
    earlier = pending_job(stack, sc["id"], "SELECT sex, COUNT(*) AS n FROM residents GROUP BY sex")
    r = stack["opreviewer"].post(f"/v1/reviews/{earlier['id']}", json={"decision": "approve", "reason": "ok"})  # type: ignore[index]
    assert r.json()["job_state"] == "released"
    job = pending_job(stack, sc["id"])

    reviewer = signed_in(browser, stack, "reviewer")
    reviewer.click("nav >> text=审核队列")
    row = reviewer.locator("#queue tr", has_text=job["id"])
    expect(row).to_be_visible()
    row.locator("a.button").click()
    expect(reviewer.locator("h1")).to_contain_text(job["id"])
    expect(reviewer.locator("table.sql .k").first).to_have_text("SELECT")
    expect(reviewer.locator("#touched")).to_contain_text("income")
    expect(reviewer.locator("table.output td.supp").first).to_be_visible()
    expect(reviewer.locator("svg.chart rect.bar").first).to_be_visible()
    expect(reviewer.locator("details.earlier")).to_contain_text(earlier["id"])
    assert SECRET_NAME not in reviewer.content()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    reviewer.screenshot(path=str(SCREENSHOTS / "reviewer-job.png"), full_page=True)

    reviewer.check("input[name=decision][value=approve]")
    reviewer.fill("textarea[name=reason]", "aggregates only; small district withheld")
    reviewer.click("#decide button[type=submit]")
    expect(reviewer.locator("h1 .state")).to_have_class(re.compile("st-released"))
    reviewer.context.close()

    operator = signed_in(browser, stack, "operator", lang="en")
    operator.goto(f"{stack.url}/console/jobs/{job['id']}")  # type: ignore[attr-defined]
    expect(operator.locator("h1 .state")).to_have_text("released")
    expect(operator.locator("#release svg.chart")).to_be_visible()
    with operator.expect_download() as info:
        operator.click("#download-csv")
    download = info.value
    content = Path(download.path()).read_bytes()
    artifacts = {a["format"]: a for a in stack["operator"].get(f"/v1/jobs/{job['id']}").json()["artifacts"]}  # type: ignore[index]
    assert hashlib.sha256(content).hexdigest() == artifacts["csv"]["sha256"]
    assert content.startswith(b'"district"') and SECRET_NAME.encode() not in content
    operator.context.close()


def test_gate_rejection_is_shown_inline_in_the_editor(browser: Browser, stack: object) -> None:
    sc, _ = setup_scenario(stack)
    page = signed_in(browser, stack, "operator")
    page.click("nav >> text=SQL 编辑器")
    page.select_option("select[name=scenario_id]", sc["id"])
    page.fill("#sql", "SELECT district, name,\n       income\nFROM residents")
    page.click("#editor button[type=submit]")
    gate = page.locator("#gate")
    expect(gate).to_be_visible()
    expect(gate.locator("ol.reasons li").first).to_be_visible()
    codes = gate.locator("ol.reasons code").all_inner_texts()
    assert "column_not_granted" in codes and "raw_projection" in codes, codes
    marked = gate.locator("table.sql .mark").all_inner_texts()
    assert "name" in marked and "income" in marked, marked
    expect(gate.locator("ol.reasons")).to_contain_text("第 1 行")
    # a reason's link selects its construct in the editor
    gate.locator("ol.reasons li", has_text="column_not_granted").locator("a.goto").click()
    selected = page.evaluate(
        "() => { const t = document.getElementById('sql'); "
        "return t.value.slice(t.selectionStart, t.selectionEnd); }"
    )
    assert selected == "name"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "operator-editor.png"), full_page=True)
    page.context.close()


def test_source_unit_uploads_with_progress_and_confirms_levels(browser: Browser, stack: object) -> None:
    from console_support import residents_csv

    page = signed_in(browser, stack, "source", lang="en")
    page.goto(f"{stack.url}/console/datasets/new")  # type: ignore[attr-defined]
    page.fill("input[name=name]", "residents")
    page.fill("input[name=privacy_unit]", "resident_id")
    page.set_input_files(
        "input[name=file]",
        files=[{"name": "residents.csv", "mimeType": "text/csv", "buffer": residents_csv(500)}],
    )
    page.click("#upload button[type=submit]")
    page.wait_for_url(re.compile(r"/console/datasets/ds_"))
    expect(page.locator("#columns")).to_contain_text("resident_id")
    page.select_option("select[name='level:district']", "group")
    page.click("#levels button[type=submit]")
    expect(page.locator("#columns tr", has_text="district")).to_contain_text("✓")
    page.context.close()
