"""Run a stored inbound message through its pipelines: the one place outcomes are caught."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from inkless.calendar.ical import calendar_parts
from inkless.clock import Clock
from inkless.config import Config
from inkless.directory import Directory
from inkless.errors import Discard, PipelineOutcome, Quarantine, Retry
from inkless.handlers import HANDLERS, PIPELINES
from inkless.handlers.classify import known_tags, route, split_subject
from inkless.handlers.context import Context
from inkless.mail.parse import ParsedMessage, parse_message
from inkless.storage import queries
from inkless.storage.models import InboundMessage
from inkless.tokens import TokenSigner

log = logging.getLogger(__name__)
PARSE_APART = 256 * 1024


@dataclass(frozen=True)
class Outcome:
    """How processing ended: done, discarded, quarantined or retry, with the reason."""

    status: str
    reason: str | None = None
    # What to tell the sender of a quarantine or discard, queued in the transaction that records it.
    tell: Callable[[AsyncSession], Awaitable[None]] | None = None


def delivery_keys(inbound: InboundMessage, message: ParsedMessage) -> dict[str, str]:
    """recipient → key naming this message for this recipient, whichever way it arrived.

    The Message-ID names a message across copies (an IMAP copy has more Received headers
    than the SMTP one); without one, the sender, subject, date and body do.
    """
    identity = (message.message_id or "").strip().lower()
    if not identity:
        raw = inbound.raw
        end = raw.find(b"\r\n\r\n")
        body = raw[end:] if end >= 0 else raw[raw.find(b"\n\n"):]
        identity = "content:" + hashlib.sha256(
            "\0".join([message.sender or "", message.subject, message.header("Date")]).encode(
                "utf-8", errors="surrogateescape") + b"\0" + body
        ).hexdigest()
    return {recipient: hashlib.sha256(f"{identity}\0{recipient.lower()}".encode("utf-8", errors="surrogateescape"))
            .hexdigest()
            for recipient in inbound.recipients}


def _is_text(address: str) -> bool:
    """Whether an address from a raw header is text: raw bytes (kept as surrogates) must at
    least be UTF-8 (an internationalised address); `\\xff\\xfe` before an address is not."""
    try:
        address.encode("utf-8", "surrogateescape").decode("utf-8")
    except UnicodeError:
        return False
    return True


def pipelines_for(ctx: Context) -> list[str]:
    """Which pipelines a message goes through, from its recipients and subject tags."""
    names = []
    sender = ctx.message.sender
    if ctx.routes.units and sender is not None and ctx.directory.external_organ(sender) is not None:
        # From outside only documents come in (收文), whatever the subject's tags.
        names.append("incoming")
    elif ctx.routes.units:
        function = ctx.subject.function
        # A calendar app's invitation is a meeting even without the tag, unless the subject
        # makes it a document (then the .ics is just one of its attachments).
        if function is None and ctx.subject.document_type(tuple(ctx.config.documents.extra_types)) is None \
                and calendar_parts(ctx.message):
            function = "meeting"
        names.append(function or "document")
    if ctx.routes.returns:
        names.append("return")
    return names


async def run(
    *,
    session: AsyncSession,
    config: Config,
    directory: Directory,
    signer: TokenSigner,
    clock: Clock,
    inbound: InboundMessage,
) -> Outcome:
    """Process one message. Handler outcomes end here, logged with message id, pipeline and handler."""
    pipeline = handler_name = "parse"
    try:
        raw = inbound.raw
        # Parsing a big message is CPU work (0.3 s for 25 MB): in a thread, SMTP sessions go on.
        message = parse_message(raw) if len(raw) < PARSE_APART else await asyncio.to_thread(parse_message, raw)
        garbled = next((address for _, address in message.from_addresses if not _is_text(address)), None)
        if garbled is not None:
            raise Quarantine(f"header From holds bytes that are not text: {garbled}")
        keys = delivery_keys(inbound, message)
        if len(raw) >= PARSE_APART:
            # Parsed and named, a big message's bytes are let go while its files and copies are
            # made (they stay in the database: queries.inbound_raw reads them again).
            set_committed_value(inbound, "raw", b"")
        del raw
        recipients = await queries.claim_delivery(session, inbound.id, keys)
        if inbound.recipients and not recipients:
            raise Discard("already processed: the same message reached Inkless before (by SMTP or IMAP)")
        routes = route(recipients, domain=config.domain, directory=directory, signer=signer,
                       to=message.to, cc=message.cc)
        subject = split_subject(message.subject, known_tags(tuple(config.documents.extra_types)))
        ctx = Context(session, config, directory, signer, clock, inbound, message, routes, subject)
        pipeline = handler_name = "classify"
        names = pipelines_for(ctx)
        if not names:
            raise Quarantine("no Inkless address among the recipients")
        for pipeline in names:
            for handler_name in PIPELINES[pipeline]:
                await HANDLERS[handler_name].process(ctx)
    except PipelineOutcome as outcome:
        status = {Quarantine: "quarantined", Discard: "discarded", Retry: "retry"}[type(outcome)]
        log.info("inbound %s: %s by %s/%s: %s", inbound.id, status, pipeline, handler_name, outcome.reason)
        # Only a final outcome tells the sender: a retried message would tell them again.
        return Outcome(status, outcome.reason, outcome.tell if status in ("quarantined", "discarded") else None)
    return Outcome("done")
