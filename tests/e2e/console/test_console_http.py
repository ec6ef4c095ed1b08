"""The console over plain HTTP: sessions, CSRF on every form, role rules, two reviewers and appeals."""

from __future__ import annotations

import re

import httpx
from console_support import (
    GROUPED_SQL,
    SECRET_NAME,
    anonymous,
    console_client,
    hidden_csrf,
    pending_job,
    setup_scenario,
    token_of,
)
from fastapi.routing import APIRoute

from sandbox.console import PREFIX, page_routers
from sandbox.console.web import optional


def test_a_form_post_without_the_csrf_token_is_refused(stack: object) -> None:
    sc, _ = setup_scenario(stack)
    job = pending_job(stack, sc["id"])
    c = console_client(stack, "reviewer")
    form = {"decision": "approve", "reason": "looks fine"}
    for data in (form, form | {"csrf": "forged"}):
        r = c.post(f"/console/reviews/{job['id']}", data=data)
        assert r.status_code == 403 and "csrf_failed" in r.text
    assert stack["reviewer"].get(f"/v1/jobs/{job['id']}").json()["state"] == "pending_review"  # type: ignore[index]
    # with the session's token the same form goes through
    csrf = hidden_csrf(c.get(f"/console/reviews/{job['id']}").text)
    r = c.post(f"/console/reviews/{job['id']}", data=form | {"csrf": csrf})
    assert r.status_code == 303
    assert stack["reviewer"].get(f"/v1/jobs/{job['id']}").json()["state"] == "released"  # type: ignore[index]


def test_every_console_post_route_checks_csrf(stack: object) -> None:
    """Walk the app's routes: each console POST refuses a signed-in request without the token."""
    posts = [
        PREFIX + r.path
        for pages in page_routers()
        for r in pages.routes
        if isinstance(r, APIRoute) and "POST" in r.methods
    ]
    assert len(posts) >= 9, posts
    c = console_client(stack, "admin")
    for path in posts:
        url = re.sub(r"\{[^}]+\}", "x", path)
        r = c.post(url, data={"reason": "r"})
        assert r.status_code == 403 and "csrf_failed" in r.text, (path, r.status_code)
    # the sign-in form has no session yet: its token is a double-submit cookie
    anon = anonymous(stack)
    r = anon.post("/console/signin", data={"token": token_of(stack, "admin"), "csrf": "guess"})
    assert r.status_code == 403 and "sbx_session" not in r.headers.get("set-cookie", "")


def test_session_cookie_is_httponly_strict_and_expires_and_sign_out_ends_it(stack: object) -> None:
    c = anonymous(stack)
    page = c.get("/console/signin")
    r = c.post("/console/signin", data={"token": token_of(stack, "auditor"), "csrf": hidden_csrf(page.text)})
    cookie = next(v for v in r.headers.get_list("set-cookie") if v.startswith("sbx_session="))
    attrs = {a.strip().split("=")[0].lower(): a.strip().lower() for a in cookie.split(";")}
    assert "httponly" in attrs and attrs["samesite"] == "samesite=strict"
    assert attrs["max-age"] == f"max-age={480 * 60}" and attrs["path"] == "path=/console"
    assert r.headers["location"] == "/console/"
    assert c.get("/console/audit").status_code == 200
    assert "default-src 'self'" in c.get("/console/audit").headers["content-security-policy"]
    old = c.cookies.get("sbx_session")
    r = c.post("/console/signout", data={"csrf": hidden_csrf(c.get("/console/audit").text)})
    assert r.status_code == 303
    replay = anonymous(stack)
    replay.cookies.set("sbx_session", old or "", path="/console")
    r = replay.get("/console/audit")
    assert r.status_code == 303 and r.headers["location"] == "/console/signin"
    types = [
        e["event_type"] for e in stack["auditor"].get("/v1/audit", params={"limit": 1000}).json()["items"]
    ]  # type: ignore[index]
    assert "auth.signed_in" in types and "auth.signed_out" in types


def test_a_wrong_token_does_not_sign_in(stack: object) -> None:
    c = anonymous(stack)
    page = c.get("/console/signin")
    r = c.post("/console/signin", data={"token": "sbx_wrong", "csrf": hidden_csrf(page.text)})
    assert r.status_code == 401 and "sbx_session" not in r.headers.get("set-cookie", "")
    assert c.get("/console/reviews").status_code == 303


def test_pages_follow_the_api_role_rules_and_leak_nothing(stack: object) -> None:
    sc, ds = setup_scenario(stack)
    job = pending_job(stack, sc["id"])
    allowed = {
        "reviewer": [
            "/console/",
            "/console/reviews",
            f"/console/reviews/{job['id']}",
            "/console/admin/bundle",
        ],
        "operator": [
            "/console/editor",
            "/console/jobs",
            f"/console/jobs/{job['id']}",
            f"/console/scenarios/{sc['id']}",
        ],
        "source": ["/console/datasets", "/console/datasets/new", f"/console/datasets/{ds['id']}"],
        "admin": ["/console/admin/users", f"/console/scenarios/{sc['id']}", "/console/scenarios"],
        "auditor": ["/console/audit?event_type=job.queued&since=2020-01-01", f"/console/jobs/{job['id']}"],
    }
    for who, paths in allowed.items():
        c = console_client(stack, who)
        for path in paths:
            r = c.get(path)
            assert r.status_code == 200, (who, path, r.status_code)
            assert SECRET_NAME not in r.text and "token_hash" not in r.text
    refused = {
        "operator": [f"/console/reviews/{job['id']}", "/console/audit", "/console/admin/users"],
        "operator2": [f"/console/jobs/{job['id']}", f"/console/scenarios/{sc['id']}"],
        "source": ["/console/editor", "/console/reviews"],
        "auditor": [f"/console/reviews/{job['id']}"],
    }
    for who, paths in refused.items():
        c = console_client(stack, who)
        for path in paths:
            assert c.get(path).status_code in (403, 404), (who, path)
    # the submitting operator-reviewer cannot review their own job through the console either
    r = stack["opreviewer"].post(
        "/v1/scenarios", json={"name": "own", "purpose": "p", "datasets": {ds["id"]: ["district"]}}
    )  # type: ignore[index]
    assert r.status_code == 201
    own = console_client(stack, "opreviewer")
    assert "审核队列" in own.get("/console/").text
    own.get("/console/lang/en")
    assert "Review queue" in own.get("/console/").text


def test_core_data_needs_two_different_reviewers(stack: object) -> None:
    sc, _ = setup_scenario(stack, classification="core")
    job = pending_job(stack, sc["id"])
    first = stack["reviewer"].post(f"/v1/reviews/{job['id']}", json={"decision": "approve", "reason": "one"})  # type: ignore[index]
    assert first.status_code == 200, first.text
    body = first.json()
    assert (
        body["job_state"] == "pending_review" and body["approvals"] == 1 and body["approvals_required"] == 2
    )
    again = stack["reviewer"].post(
        f"/v1/reviews/{job['id']}", json={"decision": "approve", "reason": "twice"}
    )  # type: ignore[index]
    assert again.status_code == 409 and again.json()["error"]["code"] == "review_already_approved"
    queue = console_client(stack, "reviewer").get("/console/reviews").text
    assert "1 of 2 approvals" not in queue and "已批准 1/2" in queue and "您已批准" in queue
    # the second approval comes from a different reviewer, through the console
    c = console_client(stack, "opreviewer")
    page = c.get(f"/console/reviews/{job['id']}")
    assert "usr_" in page.text and "one" in page.text  # the first decision is shown
    r = c.post(
        f"/console/reviews/{job['id']}",
        data={"decision": "approve", "reason": "two", "csrf": hidden_csrf(page.text)},
    )
    assert r.status_code == 303
    assert stack["operator"].get(f"/v1/jobs/{job['id']}").json()["state"] == "released"  # type: ignore[index]


def test_an_appeal_returns_a_rejected_job_to_the_queue_with_the_note(stack: object) -> None:
    sc, _ = setup_scenario(stack)
    job = pending_job(stack, sc["id"])
    r = stack["reviewer"].post(f"/v1/reviews/{job['id']}", json={"decision": "reject", "reason": "too fine"})  # type: ignore[index]
    assert r.json()["job_state"] == "rejected"
    assert stack["operator2"].post(f"/v1/jobs/{job['id']}/appeal", json={"note": "x"}).status_code == 404  # type: ignore[index]
    c = console_client(stack, "operator")
    page = c.get(f"/console/jobs/{job['id']}")
    assert 'id="appeal"' in page.text
    r = c.post(
        f"/console/jobs/{job['id']}/appeal",
        data={"note": "districts are published figures", "csrf": hidden_csrf(page.text)},
    )
    assert r.status_code == 303
    after = stack["reviewer"].get(f"/v1/jobs/{job['id']}").json()  # type: ignore[index]
    assert after["state"] == "pending_review" and after["reason_code"] == "appealed"
    assert after["appeal_note"] == "districts are published figures"
    queue = console_client(stack, "reviewer").get(f"/console/reviews/{job['id']}").text
    assert "districts are published figures" in queue and "too fine" in queue
    twice = stack["operator"].post(f"/v1/jobs/{job['id']}/appeal", json={"note": "again"})  # type: ignore[index]
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "job_state"
    events = stack["auditor"].get(
        "/v1/audit", params={"object_id": job["id"], "event_type": "job.pending_review"}
    )  # type: ignore[index]
    appealed = [e for e in events.json()["items"] if e["detail"].get("reason_code") == "appealed"]
    assert appealed and appealed[0]["detail"]["note"] == "districts are published figures"
    # after the appeal a fresh approval releases it
    r = stack["reviewer"].post(f"/v1/reviews/{job['id']}", json={"decision": "approve", "reason": "ok now"})  # type: ignore[index]
    assert r.json()["job_state"] == "released"


def test_synthetic_preview_and_dry_run_show_only_where_their_services_exist(stack: object) -> None:
    """`sandbox.preview` and `sandbox.dryrun` come from another workstream: without them the pages say so
    (and offer no dry-run button); with them the console shows their synthetic results."""
    sc, ds = setup_scenario(stack)
    c = console_client(stack, "operator")
    page = c.get(f"/console/datasets/{ds['id']}/preview")
    assert page.status_code == 200 and SECRET_NAME not in page.text
    editor = c.get("/console/editor").text
    if optional("sandbox.preview") is None:
        assert 'id="no-preview"' in page.text
    else:
        assert 'id="synthetic"' in page.text
    if optional("sandbox.dryrun") is None:
        assert 'id="dry-run"' not in editor
    else:
        r = c.post(
            "/console/editor",
            data={
                "csrf": hidden_csrf(editor),
                "scenario_id": sc["id"],
                "sql": GROUPED_SQL,
                "action": "dry_run",
            },
        )
        assert r.status_code == 200 and 'id="dry"' in r.text
        assert stack["operator"].get("/v1/jobs").json()["items"] == []  # type: ignore[index]


def test_scenario_apply_approve_budget_chart_and_audit_filters_through_the_console(stack: object) -> None:
    _, ds = setup_scenario(stack)
    op = console_client(stack, "operator")
    page = op.get("/console/scenarios")
    r = op.post(
        "/console/scenarios",
        data={
            "csrf": hidden_csrf(page.text),
            "name": "budgeted",
            "purpose": "trend",
            "epsilon": "1.0",
            "modes": "sdc",
            "col": [f"{ds['id']}:district", f"{ds['id']}:income"],
        },
    )
    assert r.status_code == 303, r.text
    sc_id = r.headers["location"].rsplit("/", 1)[1]
    sc = stack["operator"].get(f"/v1/scenarios/{sc_id}").json()  # type: ignore[index]
    assert sc["state"] == "pending" and sc["datasets"] == {ds["id"]: ["district", "income"]}
    admin = console_client(stack, "admin")
    page = admin.get(f"/console/scenarios/{sc_id}")
    r = admin.post(
        f"/console/scenarios/{sc_id}/approve", data={"csrf": hidden_csrf(page.text), "reason": "fine"}
    )
    assert r.status_code == 303
    assert stack["operator"].get(f"/v1/scenarios/{sc_id}").json()["state"] == "approved"  # type: ignore[index]

    # two debits in the ledger (as dp jobs make them) draw the budget-over-time chart
    from sandbox import ledger
    from sandbox.catalog.models import Scenario
    from sandbox.runtime import Runtime

    rt = Runtime(stack.settings)  # type: ignore[attr-defined]
    try:
        for n in range(2):
            with rt.catalog.session() as s:
                scenario = s.get(Scenario, sc_id)
                assert scenario is not None
                ledger.debit(
                    s,
                    scenario=scenario,
                    dataset_ids=[ds["id"]],
                    epsilon=0.25,
                    delta=0.0,
                    job_id=f"job_x{n}",
                    actor=None,
                )
    finally:
        rt.close()
    page = op.get(f"/console/scenarios/{sc_id}").text
    assert 'class="line"' in page and "ε 0.5" in page and 'class="budget"' in page

    auditor = console_client(stack, "auditor")
    page = auditor.get("/console/audit", params={"event_type": "scenario.approved", "object_id": sc_id}).text
    assert "审计链校验通过" in page and page.count("<code>scenario.approved</code>") == 1
    assert auditor.get("/console/audit", params={"since": "not a date"}).status_code == 422
    later = auditor.get("/console/audit", params={"since": "2999-01-01"}).text
    assert 'class="muted">' in later and "<code>scenario.approved</code>" not in later


def test_admin_users_page_lists_users_and_manages_them_where_the_service_exists(stack: object) -> None:
    admin = console_client(stack, "admin")
    page = admin.get("/console/admin/users")
    assert page.status_code == 200 and "opreviewer" in page.text and "token_hash" not in page.text
    assert console_client(stack, "operator").get("/console/admin/users").status_code == 403
    if optional("sandbox.users") is None:
        assert 'id="new-user"' not in page.text
        return
    r = admin.post(
        "/console/admin/users",
        data={"csrf": hidden_csrf(page.text), "name": "newcomer", "roles": ["auditor"], "unit": "监管"},
    )
    token = re.search(r'id="issued-token">([^<]+)<', r.text)
    assert r.status_code == 200 and token, r.text
    with httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {token.group(1)}"}) as c:  # type: ignore[attr-defined]
        assert c.get("/v1/me").json()["name"] == "newcomer"
