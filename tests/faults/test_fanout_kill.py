"""Fault: kill -9 of one of two `inkless serve` processes in the middle of a 2,000-recipient
fan-out on PostgreSQL.

Outbound delivery is at least once: a copy the relay accepted is recorded as sent only
after it is handed over, so copies the killed process had sent but not yet recorded are
sent again by the survivor once its claim lease runs out. The check: every recipient got
the document, nothing is stuck, and the duplicates are at most one claimed batch (the
crash window) — counted and printed, not hidden.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from inkless.storage.models import Document, OutboxMessage, Recipient
from tests.bridge.test_durability import Fleet, open_engine, status_counts, wait_until
from tests.conftest import (
    DOMAIN,
    CaptureRelay,
    free_port,
    simple_mail,
    smtp_send,
    write_config,
)
from tests.faults.fanout import SENDER, crowd_org

RECIPIENTS = 2_000
BATCH = 100
KILL_AFTER = 400
CROWD_ORG = crowd_org(RECIPIENTS)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_kill_9_during_a_fan_out_loses_no_recipient(tmp_path: Path, database_url: str,
                                                          relay: CaptureRelay) -> None:
    started = time.monotonic()
    ports, configs = [], []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        ports.append(free_port())
        # A short lease, so the survivor takes the dead process's claims over after 10 s. (The
        # processing worker renews its claim every lease/3, but issuing 2,000 copies keeps the
        # event loop busy for seconds at a stretch; see the session note.)
        configs.append(write_config(folder, database_url, relay.port, smtp_port=ports[-1], web_port=free_port(),
                                    org=CROWD_ORG, worker={"lease": 10}, relay={"batch_size": BATCH}))
    async with Fleet(tmp_path) as fleet, open_engine(database_url) as engine:
        serve = [fleet.spawn(f"serve-{name}", config, port) for name, config, port in zip("ab", configs, ports)]
        for process in serve:
            await process.wait_ready()
        raw = simple_mail(SENDER, f"crowd@{DOMAIN}", "[通知] 关于做好冬季防火工作的通知", "各村、各单位：……")
        assert (await smtp_send(ports[0], SENDER, [f"crowd@{DOMAIN}"], raw)).startswith("250")

        async def under_way() -> bool:
            return len(relay.messages) >= KILL_AFTER

        async def progress() -> str:
            return f"{len(relay.messages)} copies at the relay; outbox {await status_counts(engine, OutboxMessage.status)}"

        await wait_until(under_way, timeout=120, fleet=fleet, describe=progress, interval=0.01)
        # Kill the process holding claims right now (the one sending), else the first.
        async with engine.connect() as connection:
            holders = Counter((await connection.scalars(select(OutboxMessage.claimed_by).where(
                OutboxMessage.status == "sending"))).all())
        victim = next((p for p in serve if any(f":{p.pid}:" in (h or "") for h in holders)), serve[0])
        victim.kill9()
        killed_at = len(relay.messages)
        survivor = next(p for p in serve if p is not victim)

        async def all_sent() -> bool:
            return set(await status_counts(engine, OutboxMessage.status)) == {"sent"}

        fleet.processes.remove(victim)  # the dead one no longer counts as "alive"
        await wait_until(all_sent, timeout=180, fleet=fleet, describe=progress)
        survivor.check_alive()

    delivered = Counter(m.rcpt for m in relay.messages if m.rcpt.startswith("p"))
    missing = [f"p{n:04d}@test.gov" for n in range(RECIPIENTS) if delivered[f"p{n:04d}@test.gov"] == 0]
    duplicates = sum(count - 1 for count in delivered.values())
    async with open_engine(database_url) as engine, engine.connect() as connection:
        unsent = await connection.scalar(select(func.count()).select_from(Recipient).where(
            Recipient.sent_at.is_(None)))
    print(f"\nfan-out kill: {RECIPIENTS} recipients, {len(relay.messages)} messages at the relay, killed after "
          f"{killed_at}, duplicates {duplicates} (the killed process's unrecorded batch, at most {BATCH}), "
          f"lost {len(missing)}, {time.monotonic() - started:.1f} s")
    assert missing == []
    assert unsent == 0
    assert duplicates <= BATCH
    async with open_engine(database_url) as engine, engine.connect() as connection:
        documents = await connection.scalar(select(func.count()).select_from(Document))
    assert documents == 1  # issued once, whichever process did it
