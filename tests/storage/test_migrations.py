"""The Alembic migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, text

from inkless.storage import migrate
from inkless.storage.engine import create_engine
from inkless.storage.models import Base
from tests.conftest import build_config


def modelled(name: str | None, kind: str, parent: object) -> bool:
    """What the models describe: not the search index's own tables and index (SQLite's FTS5
    `document_fts` and its shadow tables, PostgreSQL's pg_trgm index), made by migration 0014."""
    return not (name or "").startswith(("document_fts", "ix_document_texts_trgm"))


async def test_migrations_match_the_models(database_url: str, tmp_path: object) -> None:
    config = build_config({"database": database_url}, source="test", base_dir=tmp_path)  # type: ignore[arg-type]
    engine = create_engine(config)
    try:
        await migrate.upgrade(engine, config.sqlite_path)

        def differences(connection: Connection) -> list[object]:
            context = MigrationContext.configure(connection, opts={"include_name": modelled})
            return list(compare_metadata(context, Base.metadata))

        async with engine.connect() as connection:
            assert await connection.run_sync(differences) == []
    finally:
        await engine.dispose()


async def test_going_back_before_the_receiving_and_elements_revisions_keeps_every_row(
        database_url: str, tmp_path: object) -> None:
    """Downgrading 0013 and 0012 drops their columns only: no table is rebuilt (on SQLite a
    rebuilt `documents` would take its versions and recipients with it, by cascade)."""
    config = build_config({"database": database_url}, source="test", base_dir=tmp_path)  # type: ignore[arg-type]
    engine = create_engine(config)
    try:
        await migrate.upgrade(engine, config.sqlite_path)
        async with engine.begin() as connection:
            await connection.execute(text(
                "INSERT INTO documents (id, unit_id, sender, title, status, public, addressed_to, created_at, "
                "direction, co_issuers) VALUES (1, 'u', 's@x.cn', 't', 'issued', false, 'u', CURRENT_TIMESTAMP, "
                "'outgoing', '')"))
            await connection.execute(text(
                "INSERT INTO document_versions (id, document_id, version, created_at, body) "
                "VALUES (1, 1, 1, CURRENT_TIMESTAMP, 'b')"))
            await connection.execute(text(
                "INSERT INTO recipients (id, document_id, email, failed) VALUES (1, 1, 'r@x.cn', false)"))

        def downgrade(connection: Connection) -> None:
            command.downgrade(migrate._alembic_config(connection), "0011")

        async with engine.connect() as connection:
            await connection.run_sync(downgrade)
            await connection.commit()
        async with engine.connect() as connection:
            counts = [(await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
                      for table in ("documents", "document_versions", "recipients")]
        assert counts == [1, 1, 1]
        await migrate.upgrade(engine, config.sqlite_path)  # and forward again
    finally:
        await engine.dispose()
