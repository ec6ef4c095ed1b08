"""The audit chain: appends, verification, and tampering detected at the row that was changed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from sandbox import audit
from sandbox.auth import Role, add_user
from sandbox.runtime import Runtime
from sandbox.settings import Settings


def _runtime(tmp_path: Path, url: str) -> Runtime:
    return Runtime(Settings(home=tmp_path / "home", database_url=url))


def _fill(rt: Runtime, n: int = 6) -> None:
    with rt.catalog.session() as s:
        for i in range(n):
            add_user(s, f"user{i}", [Role.operator], None)


def test_chain_verifies_when_untouched(tmp_path: Path, catalog_url: str) -> None:
    rt = _runtime(tmp_path, catalog_url)
    _fill(rt)
    with rt.catalog.session() as s:
        v = audit.verify(s)
    assert v.ok and v.events == 6 and v.first_broken_seq is None
    rt.close()


def test_editing_one_row_breaks_verification_at_that_row(tmp_path: Path, catalog_url: str) -> None:
    rt = _runtime(tmp_path, catalog_url)
    _fill(rt)
    with rt.catalog.engine.begin() as conn:
        conn.execute(text('UPDATE audit_events SET detail = \'{"name":"mallory"}\' WHERE seq = 4'))
    with rt.catalog.session() as s:
        v = audit.verify(s)
    assert not v.ok and v.first_broken_seq == 4 and v.problem == "event content does not match its hash"
    rt.close()


def test_removing_or_reordering_rows_is_detected(tmp_path: Path, catalog_url: str) -> None:
    rt = _runtime(tmp_path, catalog_url)
    _fill(rt)
    with rt.catalog.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq = 3"))
    with rt.catalog.session() as s:
        assert audit.verify(s).first_broken_seq == 3
    with rt.catalog.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq >= 2"))
    with rt.catalog.session() as s:
        v = audit.verify(s)
    assert not v.ok and v.first_broken_seq == 2 and "removed" in (v.problem or "")
    rt.close()


def test_swapping_two_rows_is_detected(tmp_path: Path, catalog_url: str) -> None:
    rt = _runtime(tmp_path, catalog_url)
    _fill(rt)
    with rt.catalog.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET seq = 100 WHERE seq = 2"))
        conn.execute(text("UPDATE audit_events SET seq = 2 WHERE seq = 3"))
        conn.execute(text("UPDATE audit_events SET seq = 3 WHERE seq = 100"))
    with rt.catalog.session() as s:
        assert audit.verify(s).first_broken_seq == 2
    rt.close()


def test_cli_audit_verify_exits_nonzero_on_tampering(tmp_path: Path, catalog_url: str) -> None:
    rt = _runtime(tmp_path, catalog_url)
    _fill(rt, 3)
    env = {
        "SANDBOX_HOME": str(tmp_path / "home"),
        "SANDBOX_DATABASE_URL": catalog_url,
        "PATH": "/usr/bin:/bin",
    }
    ok = subprocess.run(
        [sys.executable, "-m", "sandbox.cli", "audit", "verify"], env=env, capture_output=True, text=True
    )
    assert ok.returncode == 0 and '"ok": true' in ok.stdout
    with rt.catalog.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor_roles = 'admin' WHERE seq = 2"))
    bad = subprocess.run(
        [sys.executable, "-m", "sandbox.cli", "audit", "verify"], env=env, capture_output=True, text=True
    )
    assert bad.returncode == 1 and '"first_broken_seq": 2' in bad.stdout
    rt.close()


def test_users_add_prints_token_last_and_stores_only_its_hash(tmp_path: Path, catalog_url: str) -> None:
    env = {
        "SANDBOX_HOME": str(tmp_path / "home"),
        "SANDBOX_DATABASE_URL": catalog_url,
        "PATH": "/usr/bin:/bin",
    }
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "sandbox.cli",
            "users",
            "add",
            "alice",
            "--role",
            "operator",
            "--unit",
            "Acme",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip().splitlines()[-1]
    assert token.startswith("sbx_") and len(token) > 40
    rt = _runtime(tmp_path, catalog_url)
    with rt.catalog.engine.connect() as conn:
        dump = " ".join(str(r) for r in conn.execute(text("SELECT * FROM users")).all())
    assert token not in dump
    rt.close()


def test_concurrent_appends_keep_one_unbroken_chain(tmp_path: Path, catalog_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    rt = _runtime(tmp_path, catalog_url)

    def add(i: int) -> None:
        with rt.catalog.session() as s:
            add_user(s, f"concurrent{i}", [Role.auditor], None)

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(add, range(48)))
    with rt.catalog.session() as s:
        v = audit.verify(s)
    assert v.ok and v.events == 48
    rt.close()
