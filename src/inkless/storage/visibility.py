"""Who may see what: the conditions the API and the pages both filter by (one question, one query)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, or_, select

from inkless.storage.models import (
    Approval,
    Attendee,
    Document,
    Event,
    ShortMessage,
    ShortMessageRecipient,
)


def document_visible_to(email: str, principals: Sequence[str] = ()) -> ColumnElement[bool]:
    """The documents a member may see: issued ones, and drafts they sent or are asked to sign
    off — themselves or as the delegate of `principals` (the members they decide for)."""
    return or_(Document.status == "issued", Document.sender == email,
               Document.id.in_(select(Approval.document_id).where(Approval.approver.in_([email, *principals]))))


def event_visible_to(person_id: int, email: str) -> ColumnElement[bool]:
    """The events a member may see: all but private ones, which only their attendees, their
    organiser and the person whose schedule entry it is may see."""
    return or_(Event.private.is_(False), Event.organizer == email, Event.person_id == person_id,
               Event.id.in_(select(Attendee.event_id).where(Attendee.person_id == person_id)))


def short_message_visible_to(person_id: int, email: str) -> ColumnElement[bool]:
    """The short messages a member may see: those they sent and those sent to them."""
    return or_(ShortMessage.sender == email, ShortMessage.id.in_(
        select(ShortMessageRecipient.message_id).where(ShortMessageRecipient.person_id == person_id)))
