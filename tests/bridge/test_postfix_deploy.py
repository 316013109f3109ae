"""The deployment of docs/deploy-postfix.md, proven with a real Postfix in front (issue 15).

A private Postfix is configured from the page itself (tests/bridge/postfix.py) and Inkless
with the page's config.yaml block. A member's mail goes into Postfix for a unit address;
Postfix relays it to Inkless's SMTP port, and Inkless issues the document. Inkless relays
the copies to Postfix (its `relay.url`), and Postfix passes them on to its relayhost, a
capture sink that stands in for the staff's mail server. The sink refuses one recipient for
good: Postfix's DSN goes to that copy's `bounce+…@` address, back through Postfix's
transport map into Inkless, and marks that recipient's row failed with the sink's answer.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from email.utils import parseaddr
from typing import TypeVar

import pytest
from sqlalchemy import select

from inkless.bridge.app import Service
from inkless.storage.models import InboundMessage, OutboxMessage, Recipient
from tests.bridge.postfix import Postfix, inkless_settings, private_postfix
from tests.conftest import (
    DOMAIN,
    TEST_ORG,
    CaptureRelay,
    api,
    free_port,
    simple_mail,
    smtp_send,
    wait_for,
)

SENDER = "fin-clerk@test.gov"
STAFF, CLERK, SHARED = "edu-staff@test.gov", "edu-clerk@test.gov", "shared@test.gov"
TITLE = "关于做好年终财务决算的通知"
Row = TypeVar("Row", InboundMessage, OutboxMessage, Recipient)
# What the staff's mail server says about a mailbox that is gone.
GONE = f"550 5.1.1 <{STAFF}>: Recipient address rejected: User unknown in local recipient table"


@dataclass
class Deployment:
    service: Service
    postfix: Postfix
    sink: CaptureRelay

    async def until(self, condition: Callable[[], Awaitable[bool] | bool], what: str) -> None:
        """wait_for, with the end of Postfix's log (where its errors go) when it times out."""
        try:
            await wait_for(condition, timeout=30, what=what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- {self.postfix.log} ---\n{self.postfix.log_tail()}") from None

    async def rows(self, model: type[Row]) -> list[Row]:
        assert self.service.sessions is not None
        async with self.service.sessions() as session:
            return list((await session.scalars(select(model).order_by(model.id))).all())

    async def recipients(self) -> dict[str, Recipient]:
        return {row.email: row for row in await self.rows(Recipient)}

    async def bounce_processed(self) -> bool:
        """Two messages in (the document and a DSN), both processed; every copy sent; edu-staff's failed."""
        inbound, rows = await self.rows(InboundMessage), await self.recipients()
        return (len(inbound) == 2 and all(row.status in ("done", "discarded", "quarantined") for row in inbound)
                and len(rows) == 3 and all(row.sent_at is not None for row in rows.values()) and rows[STAFF].failed)


@pytest.fixture
async def deployment(make_service: Callable[..., Awaitable[Service]],
                     relay: CaptureRelay) -> AsyncIterator[Deployment]:
    if os.geteuid() != 0:
        pytest.skip("a private Postfix needs root: its master starts as root and drops to the postfix user")
    # Inkless listens on a port the system picks (0); Postfix on one that nothing else picks.
    postfix_port = free_port()
    service = await make_service(**inkless_settings(DOMAIN, 0, postfix_port))
    with private_postfix(domain=DOMAIN, units=[unit["id"] for unit in TEST_ORG["units"]],
                         inkless_port=service.smtp_port, relayhost_port=relay.port, smtpd_port=postfix_port) as postfix:
        yield Deployment(service, postfix, relay)


async def test_mail_through_postfix_is_issued_relayed_and_its_bounce_recorded(deployment: Deployment) -> None:
    service, postfix, sink = deployment.service, deployment.postfix, deployment.sink
    sink.refuse[STAFF] = GONE
    # Postfix itself refuses addresses that are in neither the recipient list nor the regexp.
    code, message = await asyncio.to_thread(postfix.rcpt, SENDER, f"nobody@{DOMAIN}")
    assert (code, "relay recipient table" in message) == (550, True), (code, message)

    # 1. In through Postfix: the member's mail is stored and issued as a document.
    raw = simple_mail(SENDER, f"edu@{DOMAIN}", f"[通知] {TITLE}", "请于12月10日前完成年终财务决算。")
    queued = await smtp_send(postfix.port, SENDER, [f"edu@{DOMAIN}"], raw)
    assert queued.startswith("250"), queued
    await deployment.until(lambda: all(sink.to(rcpt) for rcpt in (CLERK, SHARED, SENDER)),
                           "the copies and the issued notice at the sink")
    first = (await deployment.rows(InboundMessage))[0]
    assert (first.mail_from, first.recipients) == (SENDER, [f"edu@{DOMAIN}"])
    assert f"by mx.{DOMAIN} (Postfix)".encode() in first.raw.partition(b"\r\n\r\n")[0]
    [document] = (await api(service, "/api/v1/documents"))["items"]
    assert document["title"] == TITLE

    # 2. Out through Postfix: one copy per member, envelope sender not rewritten.
    for rcpt in (CLERK, SHARED):
        [copy] = sink.to(rcpt)
        assert copy.mail_from.startswith("bounce+d") and copy.mail_from.endswith(f"@{DOMAIN}"), copy.mail_from
        assert f"by mx.{DOMAIN} (Postfix)" in str(copy.message["Received"])
        assert parseaddr(str(copy.message["From"]))[1] == f"finance@{DOMAIN}"
        # The page's regexp lets the copy's real return addresses in (replies, MDNs, DSNs from outside).
        returns = (parseaddr(str(copy.message["Reply-To"]))[1],
                   parseaddr(str(copy.message["Disposition-Notification-To"]))[1], copy.mail_from)
        assert [address.partition("+")[0] for address in returns] == ["reply", "receipt", "bounce"], returns
        for address in returns:
            code, message = await asyncio.to_thread(postfix.rcpt, "", address)
            assert code == 250, (address, code, message)

    # 3. The sink's refusal comes back as Postfix's DSN to edu-staff's bounce address, through
    #    Postfix into Inkless, and fails that row only.
    await deployment.until(deployment.bounce_processed, f"{STAFF}'s copy marked failed by the DSN")
    assert sink.to(STAFF) == [] and sink.rcpt_attempts[STAFF] == 1
    rows = await deployment.recipients()
    assert set(rows) == {STAFF, CLERK, SHARED}
    assert rows[STAFF].reason == f"5.1.1 {GONE}"  # Status and Diagnostic-Code of Postfix's DSN
    assert (rows[CLERK].failed, rows[SHARED].failed) == (False, False)
    [outbound] = [row for row in await deployment.rows(OutboxMessage) if row.rcpt == STAFF]
    dsn = (await deployment.rows(InboundMessage))[-1]
    assert (dsn.mail_from, dsn.recipients, dsn.status) == ("", [outbound.mail_from], "done"), dsn.reason
    await deployment.until(lambda: postfix.queued() == 0, "Postfix's queue to empty")
    # Nothing in the page's setup troubles Postfix: no map it cannot open, no loop (Inkless greets
    # as `smtp.hostname`, the page's mx.…, like Postfix itself). Other warnings are about the
    # machine (a file system clock ahead), not the setup.
    complaints = [line for line in postfix.log.read_text(errors="replace").splitlines()
                  if any(f" {level}: " in line for level in ("error", "fatal", "panic"))
                  or any(sign in line for sign in ("my own hostname", "loops back", "configuration problem"))]
    assert complaints == [], "\n".join(complaints)

