"""job queue and workers (issue 9): procrastinate's schema on a PostgreSQL catalog

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

With a PostgreSQL catalog, jobs go through procrastinate (`sandbox.jobqueue`); its tables, types and
functions live beside the catalog's, created here from the schema of the pinned procrastinate
version, so one `Runtime` start (or `sandbox worker`) brings both to date. SQLite needs nothing: the
embedded dispatcher keeps using the jobs table alone.
"""

from __future__ import annotations

from typing import Any

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _driver_connection() -> Any:
    """The DBAPI (psycopg) connection under Alembic's, inside the same transaction."""
    return op.get_bind().connection.dbapi_connection


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    from procrastinate.schema import SchemaManager

    # Sent as-is (no parameter parsing: the functions' RAISE messages contain '%').
    _driver_connection().execute(SchemaManager.get_schema())


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    conn = _driver_connection()
    for table in (
        "procrastinate_periodic_defers",
        "procrastinate_events",
        "procrastinate_jobs",
        "procrastinate_workers",
    ):
        conn.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    functions = conn.execute(
        "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE p.proname LIKE 'procrastinate%' AND n.nspname = current_schema()"
    ).fetchall()
    for (signature,) in functions:
        conn.execute(f"DROP FUNCTION IF EXISTS {signature} CASCADE")
    for kind in ("procrastinate_job_event_type", "procrastinate_job_status", "procrastinate_job_to_defer_v1"):
        conn.execute(f"DROP TYPE IF EXISTS {kind} CASCADE")
