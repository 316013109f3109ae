"""Documents (公文) and notices: versions, files, recipients and their receipts, numbers, sign-off."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from inkless.storage.models.base import Base, BigId, UTCDateTime


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
    # outgoing (issued here) | incoming (received from an outside organ, 收文)
    direction: Mapped[str] = mapped_column(String(8), default="outgoing", server_default="outgoing")
    source_organ: Mapped[str | None] = mapped_column(String(200))
    source_number: Mapped[str | None] = mapped_column(String(100))
    incoming_number: Mapped[str | None] = mapped_column(String(100))
    # The document this one forwards (转发), and the 请示 a 批复 answers.
    parent_id: Mapped[int | None] = mapped_column(BigId, index=True)
    answers_id: Mapped[int | None] = mapped_column(BigId, index=True)
    # 特急 | 加急 | None
    urgency: Mapped[str | None] = mapped_column(String(4))
    # 签发人 (the final approver, or the sender without approvers) and 成文日期, set at issue.
    signer: Mapped[str | None] = mapped_column(String(320))
    issue_date: Mapped[date | None] = mapped_column(Date)
    # Co-issuing units (联合发文), one per line; the document's own unit is not among them.
    co_issuers: Mapped[str] = mapped_column(Text, default="", server_default="")
    # A [公开] document is public from when it was reviewed: signed off, or confirmed by a leader
    # of a unit without approvers (who, by mail or on the desk).
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_by: Mapped[str | None] = mapped_column(String(320))

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
    # The recipient units this person signs for (签收) by acknowledging, one per line.
    signs_for: Mapped[str | None] = mapped_column(Text)
    # 份号: this copy's serial among the document's copies.
    copy_number: Mapped[int | None] = mapped_column(Integer)


class DocumentUnit(Base):
    """A unit a document is addressed to, main (主送) or copy (抄送), and when it signed for it."""

    __tablename__ = "document_units"
    __table_args__ = (UniqueConstraint("document_id", "unit_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[str] = mapped_column(String(64))
    # main | copy
    role: Mapped[str] = mapped_column(String(8))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(320))


class DocumentCounter(Base):
    """The last document number given per unit and year (numbers are gapless)."""

    __tablename__ = "document_counters"

    unit_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class DocumentText(Base):
    """What a document is found by (number, title, body, attachment names and their text), kept
    for search: on SQLite also in the FTS5 trigram table `document_fts`, on PostgreSQL under a
    pg_trgm index (migration 0014)."""

    __tablename__ = "document_texts"

    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    # The version whose files were read, and their names and text (read once per version).
    version: Mapped[int] = mapped_column(Integer, default=1)
    files: Mapped[str] = mapped_column(Text, default="")
    content: Mapped[str] = mapped_column(Text)


class IncomingCounter(Base):
    """The last incoming number (收文编号) given per unit and year (gapless too)."""

    __tablename__ = "incoming_counters"

    unit_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


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
    # The unit whose chain this step belongs to (co-issuers sign off in parallel, 联合发文).
    unit_id: Mapped[str | None] = mapped_column(String(64))
    # Who decided, when it was not the approver: their delegate (a secretary), on their behalf.
    decided_by: Mapped[str | None] = mapped_column(String(320))
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
