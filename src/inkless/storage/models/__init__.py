"""The tables, one module per domain; `from inkless.storage.models import X` finds any of them
(and importing this package registers every table on Base.metadata, as Alembic needs)."""

from __future__ import annotations

from inkless.storage.models.access import ApiToken, AuditEntry, SigninLink, WebSession
from inkless.storage.models.base import Base, BigId, Delivery, UTCDateTime
from inkless.storage.models.calendar import (
    Attendee,
    CalendarState,
    Event,
    EventUnit,
    FeedToken,
)
from inkless.storage.models.chat import (
    ChatLink,
    ChatMessage,
    LinkCode,
    ShortMessage,
    ShortMessageRecipient,
    WecomCallback,
    WecomConversation,
)
from inkless.storage.models.documents import (
    Approval,
    Attachment,
    Document,
    DocumentCounter,
    DocumentText,
    DocumentUnit,
    DocumentVersion,
    Evidence,
    IncomingCounter,
    Recipient,
)
from inkless.storage.models.mail import (
    AutoAnswer,
    BlobChunk,
    DeliveryKey,
    ImapCheckpoint,
    InboundMessage,
    Lease,
    OutboxBody,
    OutboxMessage,
)
from inkless.storage.models.org import ExternalOrgan, Membership, Person, Unit
from inkless.storage.models.tasks import Task, TaskEntry

__all__ = [
    "ApiToken",
    "Approval",
    "Attachment",
    "Attendee",
    "AuditEntry",
    "AutoAnswer",
    "Base",
    "BigId",
    "BlobChunk",
    "CalendarState",
    "ChatLink",
    "ChatMessage",
    "Delivery",
    "DeliveryKey",
    "Document",
    "DocumentCounter",
    "DocumentText",
    "DocumentUnit",
    "DocumentVersion",
    "Event",
    "EventUnit",
    "Evidence",
    "ExternalOrgan",
    "FeedToken",
    "ImapCheckpoint",
    "InboundMessage",
    "IncomingCounter",
    "Lease",
    "LinkCode",
    "Membership",
    "OutboxBody",
    "OutboxMessage",
    "Person",
    "Recipient",
    "ShortMessage",
    "ShortMessageRecipient",
    "SigninLink",
    "Task",
    "TaskEntry",
    "UTCDateTime",
    "Unit",
    "WecomCallback",
    "WecomConversation",
    "WebSession",
]
