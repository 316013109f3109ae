"""IMAP ingress against a real Dovecot: mail that arrives in the moment between the NOOP and
the IDLE is reported by Dovecot only when the IDLE ends; it must still be read then, not
ignored until the IDLE is renewed 29 minutes later.

This was the "embedded default stalls" flake of issue 15 item 9 (~5 % of runs of the
mailbox takeover test): the message arrived in that moment, the IDLE ran its whole cycle,
its DONE reported the message, and the ingress took the full-length wait for a timeout.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from imapclient import IMAPClient
from sqlalchemy import func, select

from inkless.bridge import imap
from inkless.bridge.app import Service
from inkless.storage.models import InboundMessage
from tests.bridge.dovecot import Dovecot, private_dovecot
from tests.conftest import DOMAIN, CaptureRelay, simple_mail, wait_for

SENDER = "fin-clerk@test.gov"


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    with private_dovecot() as server:
        yield server


async def test_mail_that_arrives_just_before_an_idle_is_read_when_the_idle_ends(
        make_service: Any, relay: CaptureRelay, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch) -> None:
    arm = threading.Event()
    real_idle = IMAPClient.idle

    def idle(client: IMAPClient) -> Any:
        if arm.is_set():  # the moment after the NOOP, before the IDLE: deliver now
            arm.clear()
            dovecot.deliver(simple_mail(SENDER, f"edu@{DOMAIN}", "[通知] 空隙", "正文"), sender=SENDER)
        return real_idle(client)

    monkeypatch.setattr(IMAPClient, "idle", idle)
    service: Service = await make_service(relay, imap=[{"url": dovecot.url, "idle": True, "poll_interval": 3600}])
    await wait_for(lambda: service.imap[0].state == "ok", what="the mailbox to be read")
    arm.set()
    await wait_for(lambda: not arm.is_set(), what="the message to be delivered before an IDLE")

    async def stored() -> bool:
        assert service.sessions is not None
        async with service.sessions() as session:
            return bool(await session.scalar(select(func.count()).select_from(InboundMessage)))
    # One IDLE cycle (imap.IDLE_CYCLE, 5 s) and the read. Before, it waited for the end of the
    # whole wait (20 s), and then, taking that for a timeout, for the 29-minute renewal.
    await wait_for(stored, timeout=imap.IDLE_CYCLE + 7,
                   what="the message reported at the end of the IDLE to be read")
