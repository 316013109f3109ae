"""The mail path: messages as they came, copies queued for the relay, big values kept apart, leases."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from inkless.storage.models.base import Base, BigId, Delivery, UTCDateTime, under_way


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


class OutboxMessage(Delivery, Base):
    """One outbound message to one envelope recipient, queued until the relay accepts it."""

    __tablename__ = "outbox"
    __table_args__ = (under_way("outbox", "queued"), under_way("outbox", "sending"),
                      Index("ix_outbox_failed", "id", postgresql_where=text("status = 'failed'"),
                            sqlite_where=text("status = 'failed'")))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(32))
    mail_from: Mapped[str] = mapped_column(String(320))
    rcpt: Mapped[str] = mapped_column(String(320))
    headers: Mapped[bytes] = mapped_column(LargeBinary)
    body_id: Mapped[int] = mapped_column(ForeignKey("outbox_bodies.id"), index=True)
    recipient_id: Mapped[int | None] = mapped_column(BigId, index=True)


class AutoAnswer(Base):
    """An automatic answer Inkless sent (clarification, "already decided"), for the hourly cap."""

    __tablename__ = "auto_answers"
    __table_args__ = (Index("ix_auto_answers_sender_at", "sender", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sender: Mapped[str] = mapped_column(String(320))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(32))


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


class Lease(Base):
    """A named job one process runs at a time (an IMAP mailbox, the scheduler), until `expires_at`.

    The holder renews it while working; a holder that vanished loses it when it expires.
    """

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
