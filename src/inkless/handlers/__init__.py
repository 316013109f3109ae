"""Handlers decide what happens to a message; pipelines list them in order, as data.

`pipeline.run` parses the message, picks the pipelines from its recipients and subject
tags, and runs their handlers in the order below.
"""

from __future__ import annotations

from inkless.handlers.classified import ClassifiedCheck
from inkless.handlers.context import Handler
from inkless.handlers.documents import DocumentHandler
from inkless.handlers.incoming import IncomingMail
from inkless.handlers.meetings import MeetingMail
from inkless.handlers.returns import ReturnMail
from inkless.handlers.schedules import ScheduleMail
from inkless.handlers.sender import SenderCheck
from inkless.handlers.short_messages import ShortMessageMail
from inkless.handlers.tasks import TaskMail

HANDLERS: dict[str, Handler] = {
    handler.name: handler
    for handler in (ClassifiedCheck(), SenderCheck(), DocumentHandler(), IncomingMail(), MeetingMail(),
                    ScheduleMail(), ShortMessageMail(), TaskMail(), ReturnMail())
}

PIPELINES: dict[str, tuple[str, ...]] = {
    # Mail to unit addresses and all@ that is not a meeting, schedule, task or short message.
    # Every mail to units is first checked for a classification mark (never distributed).
    "document": ("sender", "classified", "document"),
    # [会议] mail and calendar invitations to unit addresses; [日程] mail.
    "meeting": ("sender", "classified", "meeting"),
    "schedule": ("sender", "classified", "schedule"),
    # [短消息] mail: a short message, by bot to linked members and by mail to the rest.
    "short_message": ("sender", "classified", "short_message"),
    # [督办] mail: a supervision task per addressed unit.
    "task": ("sender", "classified", "task"),
    # A registered outside organ's mail to units: an incoming document (收文) per unit.
    "incoming": ("classified", "incoming"),
    # Mail to reply+/bounce+/receipt+ addresses.
    "return": ("returns",),
}
