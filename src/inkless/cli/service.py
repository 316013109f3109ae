"""Setting up and running: init, serve, db upgrade, org import, check."""

from __future__ import annotations

import asyncio
import secrets
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import click
from sqlalchemy import text

from inkless.bridge.app import run_service, safe_url
from inkless.bridge.imap import CONNECTION_ERRORS, probe_mailbox
from inkless.bridge.relay import MaildirRelay, RelayUnavailable, build_relay
from inkless.chat.wecom.api import WecomApi, WecomError, WecomUnavailable
from inkless.cli.common import config_option, run_db, user_errors
from inkless.clock import Clock
from inkless.config import Config, config_path, load_config
from inkless.errors import InklessError
from inkless.org import load_org
from inkless.storage import migrate, queries
from inkless.storage.engine import create_engine, session_factory
from inkless.storage.org import import_org


@click.command()
@config_option
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@user_errors
def init(config_file: str | None, force: bool) -> None:
    """Write a starter config.yaml and org.example.yaml, and create the database."""
    path = config_path(config_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    starter = resources.files("inkless.starter")
    org_path = path.parent / "org.example.yaml"
    for target, name in ((path, "config.yaml"), (org_path, "org.example.yaml")):
        if target.exists() and not force:
            click.echo(f"kept {target} (exists; --force overwrites)")
            continue
        content = starter.joinpath(name).read_text(encoding="utf-8")
        if name == "config.yaml":
            content = content.replace("secret_key: change-me ", f"secret_key: {secrets.token_urlsafe(24)}", 1)
        target.write_text(content, encoding="utf-8")
        click.echo(f"wrote {target}")
    config = load_config(path)
    run_db(config, lambda sessions: _import_configured_org(config, sessions))
    click.echo(f"database ready: {safe_url(config.database)}")


async def _import_configured_org(config: Config, sessions: Any) -> None:
    if config.org_path is not None:
        async with sessions() as session, session.begin():
            await import_org(session, load_org(config.org_path), now=Clock().now())


@click.command()
@config_option
@user_errors
def serve(config_file: str | None) -> None:
    """Run SMTP ingress, workers and the web server until Ctrl-C or SIGTERM."""
    config = load_config(config_file)
    if config.org_path is not None:
        load_org(config.org_path)  # fail fast with the file's own error
    path = config.maildir_path
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
    run_service(config)


@click.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@config_option
@user_errors
def db_upgrade(config_file: str | None) -> None:
    """Bring the database to the latest migration."""
    config = load_config(config_file)

    async def nothing(_sessions: Any) -> None:
        return None

    run_db(config, nothing)
    click.echo(f"database at the latest migration: {safe_url(config.database)}")


@click.group()
def org() -> None:
    """The organisation: units, people, roles."""


@org.command("import")
@config_option
@click.argument("file", type=click.Path(dir_okay=False))
@user_errors
def org_import(config_file: str | None, file: str) -> None:
    """Import an org file (idempotent: updates, adds, removes; never duplicates)."""
    config = load_config(config_file)
    spec = load_org(Path(file))

    async def work(sessions: Any) -> dict[str, int]:
        async with sessions() as session, session.begin():
            return await import_org(session, spec, now=Clock().now(), actor="cli")

    counts = run_db(config, work)
    click.echo("imported: " + ", ".join(f"{key} {value}" for key, value in counts.items()))


@click.command()
@config_option
@user_errors
def check(config_file: str | None) -> None:
    """Validate config and org file, try the database and the relay, show the quarantine."""
    config = load_config(config_file)
    problems: list[str] = []
    click.echo(f"config: {config_path(config_file)}: ok")
    if config.org_path is not None:
        try:
            spec = load_org(config.org_path)
            people = {m.email for unit in spec.units for m in unit.members}
            click.echo(f"org: {config.org_path}: ok ({len(spec.units)} units, {len(people)} people)")
        except InklessError as exc:
            problems.append(str(exc))
    if config.secret_key == "change-me":
        click.echo(f"warning: {config_path(config_file)}: secret_key: still 'change-me'; set a long random value "
                   "before real use", err=True)

    async def probe() -> None:
        engine = create_engine(config)
        try:
            try:
                await migrate.upgrade(engine, config.sqlite_path)
                async with session_factory(engine)() as session:
                    await session.execute(text("SELECT 1"))
                    depths = await queries.queue_depths(session)
                    quarantined = await queries.quarantined(session, limit=10)
                click.echo(f"database: {safe_url(config.database)}: ok ({depths})")
                if quarantined:
                    click.echo(f"quarantine: {depths['inbound_quarantined']} message(s); newest:")
                    for row in quarantined:
                        click.echo(f"  #{row.id} from {row.mail_from or '<>'}: {row.reason}")
            except Exception as exc:
                problems.append(f"database: {safe_url(config.database)}: {type(exc).__name__}: {exc}")
        finally:
            await engine.dispose()
        relay = build_relay(config.relay.url, maildir=config.maildir_path, hostname=config.domain,
                            timeout=min(config.relay.timeout, 10))
        try:
            connection = await relay.connect()
            await connection.close()
            where = config.maildir_path if isinstance(relay, MaildirRelay) else safe_url(config.relay.url)
            click.echo(f"relay: {where}: ok")
        except (RelayUnavailable, OSError) as exc:
            problems.append(f"relay: {safe_url(config.relay.url)}: {exc}")
        if config.wecom is not None:
            api = WecomApi(config.wecom)
            try:
                await api.token()
                click.echo(f"wecom: {config.wecom.base_url}: ok (corp {config.wecom.corp_id}, "
                           f"agent {config.wecom.agent_id}: gettoken accepted the secret)")
            except WecomError as exc:
                problems.append(f"wecom: gettoken refused the credentials: {exc}")
            except WecomUnavailable as exc:
                problems.append(f"wecom: {config.wecom.base_url}: cannot reach WeCom: {exc}")
            finally:
                await api.close()
        for mailbox in config.imap:
            try:
                found = await asyncio.to_thread(probe_mailbox, mailbox)
                click.echo(f"imap {mailbox.name}: ok ({found})")
            except CONNECTION_ERRORS as exc:
                problems.append(f"imap {mailbox.name}: {type(exc).__name__}: {exc}")

    asyncio.run(probe())
    for problem in problems:
        click.echo(f"problem: {problem}", err=True)
    if problems:
        sys.exit(2)
