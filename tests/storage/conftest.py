"""The storage tests' database: a new one per test, migrated, on each backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inkless.storage import migrate
from inkless.storage.engine import create_engine, session_factory
from inkless.storage.models import Document
from tests.conftest import build_config

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
async def sessions(database_url: str, tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    config = build_config({"database": database_url}, source="test", base_dir=tmp_path)
    engine = create_engine(config)
    await migrate.upgrade(engine, config.sqlite_path)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def new_document(session: AsyncSession, title: str = "关于测试的通知") -> int:
    document = Document(unit_id="office", sender="clerk@test.gov", title=title, status="issued",
                        public=False, addressed_to="all", created_at=NOW)
    session.add(document)
    await session.flush()
    return document.id
