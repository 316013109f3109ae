"""Who may act: members by address, API tokens."""

from __future__ import annotations

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from inkless.addresses import fold_address
from inkless.storage.models import ApiToken, Membership, Person


async def member_id(session: AsyncSession, email: str) -> int | None:
    """The person id of the org member with this address (any case), or None for anyone else."""
    person_id = await session.scalar(select(Person.id).where(Person.email == fold_address(email)))
    if person_id is None or not await session.scalar(
            select(func.count()).select_from(Membership).where(Membership.person_id == person_id)):
        return None
    return int(person_id)


async def person_email(session: AsyncSession, person_id: int) -> str | None:
    """The address a person is known by."""
    return await session.scalar(select(Person.email).where(Person.id == person_id))


async def api_tokens(session: AsyncSession) -> list[ApiToken]:
    """Every API token made, oldest first (their hashes only, never the secrets)."""
    return list((await session.scalars(select(ApiToken).order_by(ApiToken.id))).all())


async def active_api_token(session: AsyncSession,
                           token_hash: str) -> Row[int, str, str | None, str | None] | None:
    """The unrevoked token with this hash: (id, name, owner, scope)."""
    return (await session.execute(select(ApiToken.id, ApiToken.name, ApiToken.owner, ApiToken.scope).where(
        ApiToken.token_hash == token_hash, ApiToken.revoked_at.is_(None)))).first()
