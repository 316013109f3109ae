"""The organisation as last loaded from the org file: units, people, memberships."""

from __future__ import annotations

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from inkless.storage.models.base import Base, BigId


class Unit(Base):
    """A unit (单位) of the organisation; its address is `<id>@<domain>`."""

    __tablename__ = "units"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[str | None] = mapped_column(String(64))
    doc_prefix: Mapped[str] = mapped_column(String(100))
    incoming_prefix: Mapped[str | None] = mapped_column(String(100))
    approvers: Mapped[list[str]] = mapped_column(JSON, default=list)
    position: Mapped[int] = mapped_column(Integer, default=0)


class Person(Base):
    """A member of staff, known by email; kept after leaving so history stays readable."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    # Members who may decide this person's sign-offs on their behalf (a leader's secretary).
    delegates: Mapped[list[str] | None] = mapped_column(JSON)
    # Their WeCom (企业微信) userid: WeCom messages and cards go there.
    wecom: Mapped[str | None] = mapped_column(String(64), index=True)


class Membership(Base):
    """A person in a unit, with roles; the lowest position is the person's home unit."""

    __tablename__ = "memberships"

    unit_id: Mapped[str] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    position: Mapped[int] = mapped_column(Integer, default=0)


class ExternalOrgan(Base):
    """An outside organ that may send documents in (收文): its sender addresses or domains."""

    __tablename__ = "external_organs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    senders: Mapped[list[str]] = mapped_column(JSON, default=list)
    position: Mapped[int] = mapped_column(Integer, default=0)
