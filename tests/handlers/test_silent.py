"""Reminders to the silent: one reminder per unacknowledged recipient, one digest to the sender."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select

from inkless.clock import FixedClock
from inkless.storage.models import Recipient
from tests.conftest import DOMAIN, CaptureRelay, simple_mail, smtp_send, wait_for
from tests.handlers.replies import reply

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def test_silent_recipients_are_reminded_once_after_working_days(make_service, relay: CaptureRelay) -> None:  # type: ignore[no-untyped-def]
    # Issued on Friday 27 November 2026; two working days later is Tuesday 1 December.
    clock = FixedClock(datetime(2026, 11, 27, 10, 0, tzinfo=SHANGHAI).astimezone(timezone.utc))
    service = await make_service(relay, clock=clock)
    raw = simple_mail("fin-clerk@test.gov", f"edu@{DOMAIN}", "[通知] 请签收")
    assert (await smtp_send(service.smtp_port, "fin-clerk@test.gov", [f"edu@{DOMAIN}"], raw)).startswith("250")
    await wait_for(lambda: len(relay.messages) == 4, what="copies")
    copy = relay.to("edu-clerk@test.gov")[0].message
    answer = reply(copy, "edu-clerk@test.gov", "收到", style="outlook_zh")
    assert (await smtp_send(service.smtp_port, "edu-clerk@test.gov", [str(copy["Reply-To"])], answer)).startswith("250")
    assert service.scheduler is not None

    async def acknowledged() -> bool:
        assert service.sessions is not None
        async with service.sessions() as session:
            rows = (await session.scalars(select(Recipient).where(Recipient.acknowledged_at.is_not(None)))).all()
        return [r.email for r in rows] == ["edu-clerk@test.gov"]

    await wait_for(acknowledged, what="the acknowledgement")

    async def round_at(local: datetime) -> int:
        clock.at = local.astimezone(timezone.utc)
        return await service.scheduler.run_once()  # type: ignore[union-attr]

    assert await round_at(datetime(2026, 11, 30, 23, 0, tzinfo=SHANGHAI)) == 0  # Monday: one working day only
    assert await round_at(datetime(2026, 12, 1, 10, 0, tzinfo=SHANGHAI)) == 1
    await wait_for(lambda: len(relay.messages) == 4 + 3, what="two reminders and the digest")
    assert await round_at(datetime(2026, 12, 3, 10, 0, tzinfo=SHANGHAI)) == 0  # once only
    assert len(relay.to("edu-clerk@test.gov")) == 1
    for silent in ("edu-staff@test.gov", "shared@test.gov"):
        reminder = relay.to(silent)[-1].message
        assert str(reminder["Subject"]).startswith("[催签收]")
        assert "/ack/" in reminder.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    digest = relay.to("fin-clerk@test.gov")[-1].message
    body = digest.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "edu-staff@test.gov" in body and "shared@test.gov" in body and "edu-clerk@test.gov" not in body
    assert str(digest["Subject"]).startswith("尚有 2 人未签收")
