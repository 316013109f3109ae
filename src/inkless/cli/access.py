"""Keys to the service: API tokens, calendar feed URLs, chat link codes."""

from __future__ import annotations

import secrets
from typing import Any

import click

from inkless.addresses import fold_address
from inkless.calendar import feeds
from inkless.chat import links
from inkless.cli.common import config_option, member_id, run_db, user_errors
from inkless.clock import Clock
from inkless.config import load_config
from inkless.errors import InklessError
from inkless.storage import queries
from inkless.storage.models import ApiToken, Unit
from inkless.web.api_auth import OPERATOR, hash_token


@click.group("api-token")
def api_token() -> None:
    """Bearer tokens for /api/v1: each works for one org member (its owner), to read or to write."""


@api_token.command("create")
@config_option
@click.argument("name")
@click.option("--owner", default=None, metavar="EMAIL",
              help="The org member the token works for: it sees what they may see and acts only as them "
                   "(an admin owner: everything, as anyone). Without it the token is the operator's, like "
                   "api.tokens: it sees everything and acts for anyone.")
@click.option("--scope", type=click.Choice(["read", "write"]), default=None,
              help="read: GET only; write: also create and change (messages, events, tasks). "
                   "Default: read with --owner.")
@user_errors
def api_token_create(config_file: str | None, name: str, owner: str | None, scope: str | None) -> None:
    """Create a token; it is printed once, alone on the last line."""
    config = load_config(config_file)
    if owner is None and scope is not None:
        raise InklessError("--scope needs --owner: a token without an owner is the operator's")
    token = secrets.token_urlsafe(32)

    async def work(sessions: Any) -> str | None:
        async with sessions() as session, session.begin():
            email = None if owner is None else await queries.person_email(session, await member_id(session, owner))
            session.add(ApiToken(name=name, token_hash=hash_token(token), created_at=Clock().now(), owner=email,
                                 scope=OPERATOR if email is None else scope or "read"))
            return email

    email = run_db(config, work)
    if email is None:
        click.echo(f"created operator API token '{name}': it sees everything and acts for anyone "
                   "(store it now; it is not shown again):")
    else:
        click.echo(f"created API token '{name}' for {email}, scope {scope or 'read'} "
                   "(store it now; it is not shown again):")
    click.echo(token)


@api_token.command("list")
@config_option
@user_errors
def api_token_list(config_file: str | None) -> None:
    """The tokens made here (never their secrets): id, name, owner, scope, created, revoked."""
    config = load_config(config_file)

    async def work(sessions: Any) -> list[ApiToken]:
        async with sessions() as session:
            return await queries.api_tokens(session)

    for row in run_db(config, work):
        # Tokens from before tokens had owners are refused by the API: say so.
        owner = row.owner or ("(operator)" if row.scope == OPERATOR else "(no owner: refused, make a new one)")
        revoked = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
        click.echo(f"{row.id}\t{row.name}\t{owner}\t{row.scope or '-'}\t{row.created_at:%Y-%m-%d %H:%M}\t{revoked}")


@api_token.command("revoke")
@config_option
@click.argument("token_id", type=int, metavar="ID")
@user_errors
def api_token_revoke(config_file: str | None, token_id: int) -> None:
    """Revoke a token (its id from `inkless api-token list`): it stops working at once."""
    config = load_config(config_file)

    async def work(sessions: Any) -> ApiToken:
        async with sessions() as session, session.begin():
            row: ApiToken | None = await session.get(ApiToken, token_id)
            if row is None:
                raise InklessError(f"no API token {token_id}")
            if row.revoked_at is None:
                row.revoked_at = Clock().now()
            return row

    row = run_db(config, work)
    click.echo(f"revoked API token {row.id} '{row.name}'")


@click.command("feed-url")
@config_option
@click.argument("email", required=False)
@click.option("--unit", "unit_id", default=None, help="A unit's feed instead of a person's.")
@click.option("--rotate", is_flag=True, help="Replace the URL: the old one stops working.")
@click.option("--revoke", is_flag=True, help="Stop the URL working, without a new one.")
@user_errors
def feed_url(config_file: str | None, email: str | None, unit_id: str | None, rotate: bool, revoke: bool) -> None:
    """Print the calendar feed URL of a person (or a unit), alone on the last line."""
    config = load_config(config_file)
    if (email is None) == (unit_id is None):
        raise InklessError("give either EMAIL or --unit ID")

    async def work(sessions: Any) -> str | int:
        async with sessions() as session, session.begin():
            person_id = None
            if email is not None:
                person_id = await member_id(session, email)
            elif await session.get(Unit, unit_id) is None:
                raise InklessError(f"no unit {unit_id}")
            now = Clock().now()
            if revoke:
                return await feeds.revoke(session, person_id=person_id, unit_id=unit_id, now=now)
            return await feeds.feed_url(session, config, person_id=person_id, unit_id=unit_id, rotate=rotate, now=now)

    result = run_db(config, work)
    if revoke:
        click.echo(f"revoked {result} feed URL(s) of {email or unit_id}")
        return
    if rotate:
        click.echo(f"new feed URL of {email or unit_id} (the old one no longer works):")
    click.echo(str(result))


@click.command("link-code")
@config_option
@click.argument("email")
@user_errors
def link_code(config_file: str | None, email: str) -> None:
    """A one-time code that links a chat to this person (`/start CODE` to the bot); alone on the last line."""
    config = load_config(config_file)

    async def work(sessions: Any) -> str:
        async with sessions() as session, session.begin():
            person_id = await member_id(session, email)
            return await links.new_code(session, person_id, now=Clock().now(),
                                        minutes=config.telegram.link_code_minutes)

    code = run_db(config, work)
    click.echo(f"link code for {fold_address(email)} (valid {config.telegram.link_code_minutes:g} minutes, "
               "once); send the bot: /start CODE")
    click.echo(code)
