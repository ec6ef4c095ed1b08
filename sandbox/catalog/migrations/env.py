"""Alembic environment: runs on the connection handed in by sandbox.catalog.migrate."""

from __future__ import annotations

from alembic import context

from sandbox.catalog.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only via sandbox.catalog.migrate
    raise RuntimeError("run migrations through sandbox.catalog.migrate(engine)")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
