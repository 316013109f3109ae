"""Chat: linked chats, the chat outbox, short messages and their recipients."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from inkless.storage.models.base import Base, BigId, Delivery, UTCDateTime, under_way


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
    __table_args__ = (Index("ix_chat_messages_status_due", "status", "next_attempt_at"),
                      under_way("chat_messages", "queued"), under_way("chat_messages", "sending"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # telegram (to `chat_id`) | wecom (to `userid`)
    channel: Mapped[str] = mapped_column(String(16), default="telegram", server_default="telegram")
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    userid: Mapped[str | None] = mapped_column(String(64))
    person_id: Mapped[int | None] = mapped_column(BigId)
    kind: Mapped[str] = mapped_column(String(32))
    item: Mapped[str | None] = mapped_column(String(64), index=True)
    text: Mapped[str] = mapped_column(Text)
    buttons: Mapped[list[list[list[str]]] | None] = mapped_column(JSON)
    # send | edit (of the message `target` sent)
    action: Mapped[str] = mapped_column(String(8), default="send")
    target: Mapped[int | None] = mapped_column(BigId)
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)
    # A WeCom card: its task id, the latest single-use code that replaces its buttons, and
    # the short outcome (已同意) shown instead of them.
    task_id: Mapped[str | None] = mapped_column(String(128), unique=True, index=True)
    response_code: Mapped[str | None] = mapped_column(String(512))
    label: Mapped[str | None] = mapped_column(String(64))


class WecomCallback(Base):
    """A WeCom callback seen (its timestamp and nonce, hashed) within the replay window."""

    __tablename__ = "wecom_callbacks"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class WecomConversation(Base):
    """What a WeCom member's next text message answers (a rejection's reason), if anything."""

    __tablename__ = "wecom_conversations"

    userid: Mapped[str] = mapped_column(String(64), primary_key=True)
    awaiting: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


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
    # bot | wecom | bot+wecom | mail
    channel: Mapped[str] = mapped_column(String(16))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(Text)
