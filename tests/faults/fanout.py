"""Shared by the outbound fault tests: one "[通知]" fan-out to a unit of a few hundred, and the
closing check every such test ends with (one summary line, like test_fanout_kill.py).

The check, from the database and from what the relay (or the Maildir) received:
- sent: messages Inkless answered 250 for; processed: inbound messages done;
- delivered: personal copies that arrived, and to how many distinct recipients;
- duplicates: copies beyond the first per recipient (each test says why it expects them or not);
- lost: recipients not meant to fail who got no copy;
- stuck: outbox rows not final (neither `sent` nor `failed`) plus recipient rows with neither
  `sent_at` nor `failed`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from inkless.storage.models import InboundMessage, OutboxMessage, Recipient
from tests.conftest import DOMAIN, simple_mail

SENDER = "clerk@test.gov"
UNIT = "crowd"
SUBJECT = "[通知] 关于做好冬季防火工作的通知"
FINAL = {"sent", "failed"}


def crowd(size: int) -> list[str]:
    return [f"p{n:04d}@test.gov" for n in range(size)]


def crowd_org(size: int) -> dict[str, Any]:
    """The sender's office (no approvers: issued at once) and one unit of `size` members."""
    return {"units": [
        {"id": "office", "name": "办公室", "members": [{"email": SENDER, "name": "王文书", "roles": ["clerk"]}]},
        {"id": UNIT, "name": "全县", "members": [{"email": email, "name": f"人{n}"}
                                               for n, email in enumerate(crowd(size))]},
    ]}


def fan_out_mail() -> bytes:
    return simple_mail(SENDER, f"{UNIT}@{DOMAIN}", SUBJECT, "各村、各单位：请做好冬季防火工作。（完）")


async def outbox_rows(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as connection:
        return list((await connection.execute(select(
            OutboxMessage.id, OutboxMessage.rcpt, OutboxMessage.status, OutboxMessage.attempts,
            OutboxMessage.last_error))).all())


@dataclass(frozen=True)
class Outcome:
    summary: str
    delivered: int
    duplicates: int
    lost: list[str]
    stuck_outbox: int
    stuck_recipients: int
    processed: int


async def final_check(engine: AsyncEngine, *, label: str, backend: str, sent: int, started: float,
                      recipients: list[str], arrived: Iterable[str], failing: Collection[str] = (),
                      duplicates_note: str) -> Outcome:
    """Count what arrived (one envelope recipient per copy) against the database; print one line."""
    copies = Counter(rcpt for rcpt in arrived)
    crowd_copies = Counter({rcpt: copies[rcpt] for rcpt in recipients if copies[rcpt]})
    duplicates = sum(n - 1 for n in crowd_copies.values())
    lost = [rcpt for rcpt in recipients if rcpt not in failing and crowd_copies[rcpt] == 0]
    async with engine.connect() as connection:
        processed = int(await connection.scalar(select(func.count()).where(InboundMessage.status == "done")) or 0)
        stuck_outbox = int(await connection.scalar(select(func.count()).where(
            OutboxMessage.status.not_in(FINAL))) or 0)
        stuck_recipients = int(await connection.scalar(select(func.count()).where(
            Recipient.sent_at.is_(None), Recipient.failed.is_(False))) or 0)
        failed = int(await connection.scalar(select(func.count()).where(Recipient.failed.is_(True))) or 0)
    summary = (f"{label} ({backend}): sent {sent}, processed {processed}, {len(recipients)} recipients: "
               f"{sum(crowd_copies.values())} copies delivered to {len(crowd_copies)}, {failed} failed, "
               f"issued notice x{copies[SENDER]}, duplicates {duplicates} ({duplicates_note}), lost {len(lost)}, "
               f"stuck rows {stuck_outbox} outbox + {stuck_recipients} recipients, "
               f"{time.monotonic() - started:.1f} s")
    print(f"\n{summary}")
    return Outcome(summary, sum(crowd_copies.values()), duplicates, lost, stuck_outbox, stuck_recipients, processed)
