"""The Alembic migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from inkless.storage import migrate
from inkless.storage.engine import create_engine
from inkless.storage.models import Base
from tests.conftest import build_config


async def test_migrations_match_the_models(database_url: str, tmp_path: object) -> None:
    config = build_config({"database": database_url}, source="test", base_dir=tmp_path)  # type: ignore[arg-type]
    engine = create_engine(config)
    try:
        await migrate.upgrade(engine, config.sqlite_path)

        def differences(connection: Connection) -> list[object]:
            return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))

        async with engine.connect() as connection:
            assert await connection.run_sync(differences) == []
    finally:
        await engine.dispose()
