"""The tables: organisation, inbound store, documents and recipients, outbox, audit log."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# SQLite has no 64-bit autoincrement type of its own: BigInteger maps to INTEGER there.
BigId = BigInteger().with_variant(Integer, "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime stored; use Clock.now()")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    """Declarative base of every Inkless table."""


class Unit(Base):
    """A unit (单位) of the organisation; its address is `<id>@<domain>`."""

    __tablename__ = "units"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[str | None] = mapped_column(String(64))
    doc_prefix: Mapped[str] = mapped_column(String(100))
    approvers: Mapped[list[str]] = mapped_column(JSON, default=list)
    position: Mapped[int] = mapped_column(Integer, default=0)


class Person(Base):
    """A member of staff, known by email; kept after leaving so history stays readable."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))


class Membership(Base):
    """A person in a unit, with roles; the lowest position is the person's home unit."""

    __tablename__ = "memberships"

    unit_id: Mapped[str] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    position: Mapped[int] = mapped_column(Integer, default=0)


class InboundMessage(Base):
    """A message as received, kept whole (raw bytes and envelope) for audit and reprocessing."""

    __tablename__ = "inbound"
    __table_args__ = (Index("ix_inbound_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(16), default="smtp")
    peer: Mapped[str | None] = mapped_column(String(200))
    mail_from: Mapped[str] = mapped_column(String(320))
    # Envelope recipients, one per line.
    rcpt_tos: Mapped[str] = mapped_column(Text)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    # new → processing → done | quarantined | discarded
    status: Mapped[str] = mapped_column(String(16), default="new")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(Text)

    @property
    def recipients(self) -> list[str]:
        return [line for line in self.rcpt_tos.split("\n") if line]


class Document(Base):
    """An official document (公文) or unit notice."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    unit_id: Mapped[str] = mapped_column(String(64), index=True)
    sender: Mapped[str] = mapped_column(String(320))
    type: Mapped[str | None] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(Text)
    # pending_approval | rejected | issued
    status: Mapped[str] = mapped_column(String(24), index=True)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    number: Mapped[str | None] = mapped_column(String(100))
    year: Mapped[int | None] = mapped_column(Integer)
    serial: Mapped[int | None] = mapped_column(Integer)
    # Unit addresses the document was sent to, one per line.
    addressed_to: Mapped[str] = mapped_column(Text, default="")
    inbound_id: Mapped[int | None] = mapped_column(BigId)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the sender got the digest of recipients still silent.
    silent_digest_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    versions: Mapped[list[DocumentVersion]] = relationship(
        back_populates="document", order_by="DocumentVersion.version", cascade="all, delete-orphan"
    )


class DocumentVersion(Base):
    """One version of a document's text and attachments."""

    __tablename__ = "document_versions"
    __table_args__ = (UniqueConstraint("document_id", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    body: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)

    document: Mapped[Document] = relationship(back_populates="versions")
    attachments: Mapped[list[Attachment]] = relationship(order_by="Attachment.id", cascade="all, delete-orphan")


class Attachment(Base):
    """A file attached to a document version, kept byte for byte."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("document_versions.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Recipient(Base):
    """One person's copy of a document and its receipt times (回执)."""

    __tablename__ = "recipients"
    __table_args__ = (UniqueConstraint("document_id", "email"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int | None] = mapped_column(BigId)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(Text)
    comment: Mapped[str | None] = mapped_column(Text)
    ack_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DocumentCounter(Base):
    """The last document number given per unit and year (numbers are gapless)."""

    __tablename__ = "document_counters"

    unit_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class OutboxBody(Base):
    """A message body shared by many personal copies (headers are per copy)."""

    __tablename__ = "outbox_bodies"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class BlobChunk(Base):
    """A piece of a big value kept apart from its row: a message as it arrived, an attachment's
    file, a shared outbox body (storage/blobs.py). The owner's own column is empty then."""

    __tablename__ = "blob_chunks"

    owner: Mapped[str] = mapped_column(String(16), primary_key=True)
    owner_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Delivery:
    """The state of something sent by a worker: claimed, retried with backoff, then sent or failed."""

    # queued → sending → sent | failed
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class OutboxMessage(Delivery, Base):
    """One outbound message to one envelope recipient, queued until the relay accepts it."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(32))
    mail_from: Mapped[str] = mapped_column(String(320))
    rcpt: Mapped[str] = mapped_column(String(320))
    headers: Mapped[bytes] = mapped_column(LargeBinary)
    body_id: Mapped[int] = mapped_column(ForeignKey("outbox_bodies.id"), index=True)
    recipient_id: Mapped[int | None] = mapped_column(BigId, index=True)


class AuditEntry(Base):
    """An append-only record of a state change: who did what to which item, when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ApiToken(Base):
    """A bearer token for /api/v1, stored as its SHA-256.

    `owner` is the org member the token works for and `scope` what it may do (`read` or
    `write`); tokens made before tokens had owners have neither and are refused.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    owner: Mapped[str | None] = mapped_column(String(320))
    # read | write
    scope: Mapped[str | None] = mapped_column(String(8))


class Approval(Base):
    """One approver's sign-off of one document version (签发); decision null while pending."""

    __tablename__ = "approvals"
    __table_args__ = (UniqueConstraint("document_id", "version", "position"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    approver: Mapped[str] = mapped_column(String(320))
    person_id: Mapped[int | None] = mapped_column(BigId)
    # approve | reject | None while pending (or not yet asked)
    decision: Mapped[str | None] = mapped_column(String(16))
    comment: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # mail | web | bot
    channel: Mapped[str | None] = mapped_column(String(8))
    asked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Evidence(Base):
    """What a decision rests on: the raw reply, its authentication, token, text and verdict."""

    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    approval_id: Mapped[int] = mapped_column(ForeignKey("approvals.id", ondelete="CASCADE"), index=True)
    inbound_id: Mapped[int | None] = mapped_column(BigId)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    authentication_results: Mapped[str | None] = mapped_column(Text)
    token: Mapped[str] = mapped_column(String(200))
    stripped_text: Mapped[str] = mapped_column(Text)
    verdict: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(String(64))


class AutoAnswer(Base):
    """An automatic answer Inkless sent (clarification, "already decided"), for the hourly cap."""

    __tablename__ = "auto_answers"
    __table_args__ = (Index("ix_auto_answers_sender_at", "sender", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sender: Mapped[str] = mapped_column(String(320))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(32))


class SigninLink(Base):
    """A one-time sign-in link mailed to a person; stored as the SHA-256 of its secret."""

    __tablename__ = "signin_links"
    # The per-address limit counts an address's links of the last hour.
    __table_args__ = (Index("ix_signin_links_email_created", "email", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    next_path: Mapped[str] = mapped_column(Text, default="/")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Event(Base):
    """A meeting (会议, with attendees and RSVP) or a schedule entry (日程, for units or one person).

    `ical` is the event's VEVENT as served in feeds, rendered whenever the event changes,
    without its closing line: a feed adds the reader's own ATTENDEE line and `END:VEVENT`.
    `ical_busy` is the same for readers who may only see that the time is taken.
    """

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_source", "organizer", "source_uid"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    uid: Mapped[str] = mapped_column(String(255), unique=True)
    # meeting | schedule
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    location: Mapped[str | None] = mapped_column(String(500))
    requirements: Mapped[str | None] = mapped_column(Text)
    start: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    end: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    all_day: Mapped[bool] = mapped_column(Boolean, default=False)
    organizer: Mapped[str] = mapped_column(String(320))
    organizer_name: Mapped[str | None] = mapped_column(String(200))
    # The organiser's home unit: invitations come from its address.
    unit_id: Mapped[str] = mapped_column(String(64))
    # A schedule entry on one person's schedule only (人员:).
    person_id: Mapped[int | None] = mapped_column(BigId, index=True)
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    # CONFIRMED | CANCELLED
    status: Mapped[str] = mapped_column(String(16), default="CONFIRMED")
    # mail | calendar | api
    source: Mapped[str] = mapped_column(String(16))
    # The UID and SEQUENCE of the calendar app's invitation this event came from, so the
    # organiser's updates and cancellations find it.
    source_uid: Mapped[str | None] = mapped_column(String(500))
    source_sequence: Mapped[int | None] = mapped_column(Integer)
    inbound_id: Mapped[int | None] = mapped_column(BigId)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    digest_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ical: Mapped[str] = mapped_column(Text, default="")
    ical_busy: Mapped[str] = mapped_column(Text, default="")


class EventUnit(Base):
    """A unit address an event was addressed to (`all` for all@): its members' and its feeds show it."""

    __tablename__ = "event_units"

    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), primary_key=True)
    unit_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class Attendee(Base):
    """One person invited to a meeting, and their answer (RSVP)."""

    __tablename__ = "attendees"
    __table_args__ = (UniqueConstraint("event_id", "email"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int | None] = mapped_column(BigId, index=True)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))
    # NEEDS-ACTION | ACCEPTED | DECLINED | TENTATIVE
    partstat: Mapped[str] = mapped_column(String(16), default="NEEDS-ACTION")
    comment: Mapped[str | None] = mapped_column(Text)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # mail | itip | web | bot
    channel: Mapped[str | None] = mapped_column(String(8))


class FeedToken(Base):
    """The secret of a calendar feed URL, for a person or a unit.

    The URL token is an HMAC of a random salt under `secret_key`: the database holds the
    salt and the token's SHA-256, so its rows alone never give a working URL, while the
    CLI can print the URL again. Rotating revokes the old row and makes a new one.
    """

    __tablename__ = "feed_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    person_id: Mapped[int | None] = mapped_column(BigId, index=True)
    unit_id: Mapped[str | None] = mapped_column(String(64), index=True)
    salt: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CalendarState(Base):
    """One row: a counter bumped by every change that can alter a feed (events, answers,
    the organisation), so a feed's ETag is known without reading its events."""

    __tablename__ = "calendar_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ImapCheckpoint(Base):
    """How far Inkless has read an IMAP mailbox: the folder's UIDVALIDITY and the last UID stored."""

    __tablename__ = "imap_checkpoints"

    mailbox: Mapped[str] = mapped_column(String(500), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DeliveryKey(Base):
    """One message (by Message-ID, or by content without one) for one recipient, processed once.

    The same mail can arrive twice (by SMTP and through an IMAP mailbox, or again after an
    IMAP resync); the second copy is stored, but its processing stops at this key.
    """

    __tablename__ = "delivery_keys"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    inbound_id: Mapped[int] = mapped_column(BigId)


class LinkCode(Base):
    """A one-time code that links a chat to a person (`/start <code>`); stored as its SHA-256."""

    __tablename__ = "link_codes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(BigId, index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_by_chat: Mapped[int | None] = mapped_column(BigInteger)


class ChatLink(Base):
    """A chat linked to a person: notifications go there, and its button presses act for them.

    `awaiting` holds what the chat's next text message answers (a rejection's reason).
    """

    __tablename__ = "chat_links"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    person_id: Mapped[int] = mapped_column(BigId, index=True)
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    awaiting: Mapped[str | None] = mapped_column(String(64))


class ChatMessage(Delivery, Base):
    """The chat outbox: one bot message to send (or an earlier one to edit), kept until sent.

    `key` makes each notification once-only however often it is queued; `item` names what
    the message is about (a{approval}, d{recipient}, m{attendee}, s{short message recipient})
    so a decision elsewhere can edit away its buttons.
    """

    __tablename__ = "chat_messages"
    __table_args__ = (Index("ix_chat_messages_status_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    person_id: Mapped[int | None] = mapped_column(BigId)
    kind: Mapped[str] = mapped_column(String(32))
    item: Mapped[str | None] = mapped_column(String(64), index=True)
    text: Mapped[str] = mapped_column(Text)
    buttons: Mapped[list[list[list[str]]] | None] = mapped_column(JSON)
    # send | edit (of the message `target` sent)
    action: Mapped[str] = mapped_column(String(8), default="send")
    target: Mapped[int | None] = mapped_column(BigId)
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)


class ShortMessage(Base):
    """A public short message (公共短消息): at most 500 characters, to units or people."""

    __tablename__ = "short_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sender: Mapped[str] = mapped_column(String(320))
    unit_id: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    addressed_to: Mapped[str] = mapped_column(Text)
    # mail | api | bot
    source: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ShortMessageRecipient(Base):
    """One person's copy of a short message: by bot when their chat is linked, else by mail."""

    __tablename__ = "short_message_recipients"
    __table_args__ = (UniqueConstraint("message_id", "email"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("short_messages.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int | None] = mapped_column(BigId)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))
    # bot | mail
    channel: Mapped[str] = mapped_column(String(8))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(Text)


class Task(Base):
    """A supervision task (督办) for one unit: owned by its sender, followed until done.

    Overdue is not stored: it is "today in `timezone` is after the deadline and not done".
    The reminder marks make each reminder go out once, however many processes run.
    """

    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    unit_id: Mapped[str] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text, default="")
    requirements: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(320))
    deadline: Mapped[date] = mapped_column(Date, index=True)
    # open | in_progress | done
    status: Mapped[str] = mapped_column(String(16), default="open")
    source: Mapped[str] = mapped_column(String(8))
    inbound_id: Mapped[int | None] = mapped_column(BigId)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A pending request to move the deadline: the date asked for, why, and by whom.
    extension_to: Mapped[date | None] = mapped_column(Date)
    extension_reason: Mapped[str | None] = mapped_column(Text)
    extension_by: Mapped[str | None] = mapped_column(String(320))
    # Reminders sent: "before:3", "before:1", "overdue:2026-12-21", "escalated".
    reminders: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Raised when the deadline moves or the task closes (SEQUENCE of its feed entry).
    sequence: Mapped[int] = mapped_column(Integer, default=0)


class TaskEntry(Base):
    """One line of a task's history: progress, done, extension asked / granted / refused."""

    __tablename__ = "task_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    by: Mapped[str] = mapped_column(String(320))
    # progress | done | extension_asked | extension_granted | extension_refused
    kind: Mapped[str] = mapped_column(String(24))
    text: Mapped[str] = mapped_column(Text, default="")
    channel: Mapped[str] = mapped_column(String(8), default="mail")


class Lease(Base):
    """A named job one process runs at a time (an IMAP mailbox, the scheduler), until `expires_at`.

    The holder renews it while working; a holder that vanished loses it when it expires.
    """

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebSession(Base):
    """A signed-in browser: the cookie holds a random secret, this row its SHA-256.

    Every page request looks the row up, so signing out (`ended_at`) ends the session on
    the server at once, whatever copies of the cookie exist.
    """

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
