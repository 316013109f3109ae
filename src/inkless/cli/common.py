"""What every command shares: the -c option, one-line user errors, the database, tables."""

from __future__ import annotations

import asyncio
import sys
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from functools import wraps
from typing import Any, TypeVar

import click

from inkless.bridge.app import safe_url
from inkless.config import Config
from inkless.errors import InklessError
from inkless.storage import migrate, queries
from inkless.storage.engine import create_engine, session_factory

T = TypeVar("T")


config_option = click.option("-c", "--config", "config_file", type=click.Path(dir_okay=False), default=None,
                             help="Config file (default ./config.yaml or $INKLESS_CONFIG).")


def fail(message: str) -> None:
    click.echo(f"inkless: {message}", err=True)
    sys.exit(2)


def user_errors(command: Callable[..., T]) -> Callable[..., T | None]:
    """Turn InklessError into one line on stderr and exit status 2."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> T | None:
        try:
            return command(*args, **kwargs)
        except InklessError as exc:
            fail(str(exc))
            return None

    return wrapper


def run_db(config: Config, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run work(sessions) against the migrated database, then dispose of the engine."""

    async def main() -> T:
        engine = create_engine(config)
        try:
            try:
                await migrate.upgrade(engine, config.sqlite_path)
            except Exception as exc:
                raise InklessError(f"database: cannot open {safe_url(config.database)}: {type(exc).__name__}: {exc}") \
                    from None
            return await work(session_factory(engine))
        finally:
            await engine.dispose()

    return asyncio.run(main())


async def member_id(session: Any, email: str) -> int:
    """The person id of an org member, or a one-line error naming the address."""
    person_id = await queries.member_id(session, email)
    if person_id is None:
        raise InklessError(f"{email} is not a member of the organisation")
    return person_id


def _width(value: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in value)


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """Plain-text columns that stay aligned with Chinese text."""
    widths = [max(_width(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [cell + " " * (widths[i] - _width(cell)) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
