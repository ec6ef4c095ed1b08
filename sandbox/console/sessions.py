"""Console sessions: a random id in an HttpOnly cookie, stored only as its sha256, with a CSRF token.

Why server-side records rather than a signed cookie: sign-out and expiry take effect at once (the row
is gone), and no signing key has to be managed. The id carries 256 bits of randomness, so an unsalted
sha256 is enough (as for API tokens in `sandbox.auth`).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete

from sandbox import audit, auth
from sandbox.catalog.models import ConsoleSession, User
from sandbox.runtime import Runtime
from sandbox.scenarios import aware

COOKIE = "sbx_session"
PRE_COOKIE = "sbx_signin"  # double-submit token for the sign-in form, before any session exists
LANG_COOKIE = "sbx_lang"
PATH = "/console"


@dataclass(frozen=True)
class Viewer:
    """Who is looking at a console page: the catalog user and the session's CSRF token."""

    user: User
    csrf: str


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def sign_in(rt: Runtime, token: str) -> tuple[str, Viewer]:
    """Authenticate an API token and open a session; returns the cookie value (shown only here)."""
    now = datetime.now(UTC)
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    with rt.catalog.session() as s:
        user = auth.authenticate(s, token)
        s.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < now))
        s.add(
            ConsoleSession(
                id_hash=_hash(session_id),
                user_id=user.id,
                csrf=csrf,
                created_at=now,
                expires_at=now + timedelta(minutes=rt.settings.console_session_minutes),
            )
        )
        s.flush()
        audit.record(
            s,
            "auth.signed_in",
            actor=user,
            object_type="user",
            object_id=user.id,
            detail={"minutes": rt.settings.console_session_minutes},
        )
    return session_id, Viewer(user, csrf)


def lookup(rt: Runtime, session_id: str | None) -> Viewer | None:
    """The session's viewer, or None when the cookie is absent, unknown, expired or its user inactive."""
    if not session_id:
        return None
    with rt.catalog.session() as s:
        row = s.get(ConsoleSession, _hash(session_id))
        if row is None or aware(row.expires_at) <= datetime.now(UTC):
            return None
        user = s.get(User, row.user_id)
        if user is None or not user.active:
            return None
        return Viewer(user, row.csrf)


def sign_out(rt: Runtime, session_id: str, viewer: Viewer) -> None:
    with rt.catalog.session() as s:
        s.execute(delete(ConsoleSession).where(ConsoleSession.id_hash == _hash(session_id)))
        audit.record(s, "auth.signed_out", actor=viewer.user, object_type="user", object_id=viewer.user.id)
