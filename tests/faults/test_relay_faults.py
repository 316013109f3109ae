"""Faults at the SMTP relay during a fan-out, with a real `inkless serve` process and real sockets.

1. The relay goes down in the middle of a 400-recipient fan-out (listening socket closed and
   the open session cut in the middle of a batch) and stays down for several retry rounds; then it comes back on the
   same port. Every copy not yet sent stays queued and is retried with backoff, never marked
   failed; once the relay is back everything arrives, exactly once.
2. The relay answers 451 to every RCPT, then 451 to every DATA (temporary: Inkless keeps the
   copies queued and retries), then 550 5.1.1 at RCPT for every fifth recipient (the others
   still deferred at DATA), then 250 for the rest. The 250 ones arrive exactly once; the 550 ones are tried once more and then never
   again: failed, with the relay's reason on the recipient row, in the audit log, and on the
   tracking API the sender reads (SPEC §2.3: `failed` with the reason; §7: retries with backoff,
   then `failed` with the reason).

Each ends with one summary line (see tests/faults/fanout.py). About 5-10 s each on 2 cores.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from inkless.storage.models import AuditEntry, Document, OutboxMessage, Recipient
from tests.bridge.test_durability import Fleet, open_engine, status_counts, wait_until
from tests.conftest import DOMAIN, CaptureRelay, free_port, smtp_send, write_config
from tests.faults.fanout import (
    SENDER,
    UNIT,
    crowd,
    crowd_org,
    fan_out_mail,
    final_check,
    outbox_rows,
)

RECIPIENTS = 400
BATCH = 50
STOP_AFTER = 120  # copies at the relay when it goes down: in the middle of the third batch
RETRY_ROUNDS = 3  # attempts every waiting copy has made while the relay is down


def backend(database_url: str) -> str:
    return database_url.split("+")[0].split(":")[0]


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
async def test_relay_down_then_back_on_the_same_port(tmp_path: Path, database_url: str,
                                                     relay: CaptureRelay) -> None:
    started = time.monotonic()
    recipients = crowd(RECIPIENTS)
    smtp_port = free_port()
    config = write_config(tmp_path, database_url, relay.port, smtp_port=smtp_port, web_port=free_port(),
                          org=crowd_org(RECIPIENTS), relay={"batch_size": BATCH})
    relay_port = relay.port
    async with Fleet(tmp_path) as fleet, open_engine(database_url) as engine:
        serve = fleet.spawn("serve", config, smtp_port)
        await serve.wait_ready()
        reply = await smtp_send(smtp_port, SENDER, [f"{UNIT}@{DOMAIN}"], fan_out_mail())
        assert reply.startswith("250"), reply

        async def describe() -> str:
            return (f"{len(relay.messages)} copies at the relay; outbox "
                    f"{await status_counts(engine, OutboxMessage.status)}")

        async def under_way() -> bool:
            return len(relay.messages) >= STOP_AFTER

        # The relay runs on this event loop: polling every millisecond stops it within a few copies.
        await wait_until(under_way, timeout=60, fleet=fleet, describe=describe, interval=0.001)
        cut = await relay.stop(drop_sessions=True)
        at_stop = len(relay.messages)
        assert at_stop < RECIPIENTS, "the fan-out finished before the relay went down: nothing was tested"
        assert cut >= 1, "no relay session was open: the outage did not fall inside a batch"

        async def waiting_through_retries() -> bool:
            rows = await outbox_rows(engine)
            waiting = [row for row in rows if row.status != "sent"]
            assert not [row for row in rows if row.status == "failed"], "a copy failed while the relay was down"
            return len(rows) == RECIPIENTS + 1 and bool(waiting) and all(
                row.status == "queued" and row.attempts >= RETRY_ROUNDS for row in waiting)

        await wait_until(waiting_through_retries, timeout=60, fleet=fleet, describe=describe)
        down_errors = Counter((row.last_error or "").split(":")[0] for row in await outbox_rows(engine)
                              if row.status == "queued")
        assert set(down_errors) <= {"relay unreachable", "relay connection lost"}, down_errors
        assert len(relay.messages) == at_stop

        await relay.start()
        assert relay.port == relay_port

        async def all_final() -> bool:
            return set(await status_counts(engine, OutboxMessage.status)) == {"sent"}

        await wait_until(all_final, timeout=60, fleet=fleet, describe=describe)
        serve.check_alive()
        outcome = await final_check(
            engine, label=f"relay down after {at_stop} copies ({cut} relay sessions cut) for {RETRY_ROUNDS}+ retry "
                          f"rounds, back on port {relay_port}", backend=backend(database_url), sent=1, started=started,
            recipients=recipients, arrived=[m.rcpt for m in relay.messages],
            duplicates_note="expected 0: the relay cuts a session only between replies, so every copy it "
                            "stored was answered 250 and recorded as sent")

    assert outcome.processed == 1
    assert outcome.lost == []
    assert outcome.duplicates == 0
    assert outcome.delivered == RECIPIENTS
    assert len(relay.to(SENDER)) == 1  # the "issued" notice
    assert outcome.stuck_outbox == 0 and outcome.stuck_recipients == 0


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
async def test_relay_answers_4xx_then_5xx(tmp_path: Path, database_url: str, relay: CaptureRelay) -> None:
    started = time.monotonic()
    recipients = crowd(RECIPIENTS)
    unknown = set(recipients[::5])  # 550 5.1.1 in the end
    known = [rcpt for rcpt in recipients if rcpt not in unknown]
    everyone = [*recipients, SENDER]
    smtp_port, web_port = free_port(), free_port()
    config = write_config(tmp_path, database_url, relay.port, smtp_port=smtp_port, web_port=web_port,
                          org=crowd_org(RECIPIENTS), relay={"batch_size": 200})
    relay.refuse_all = "451 4.3.0 relay busy, try again later"
    async with Fleet(tmp_path) as fleet, open_engine(database_url) as engine:
        serve = fleet.spawn("serve", config, smtp_port)
        await serve.wait_ready()
        reply = await smtp_send(smtp_port, SENDER, [f"{UNIT}@{DOMAIN}"], fan_out_mail())
        assert reply.startswith("250"), reply

        async def describe() -> str:
            rows = await outbox_rows(engine)
            return (f"{len(relay.messages)} copies at the relay; outbox {Counter(row.status for row in rows)}; "
                    f"attempts {Counter(row.attempts for row in rows)}; errors "
                    f"{Counter(row.last_error for row in rows).most_common(3)}")

        def tried(since: Counter[str], times: int) -> bool:
            return all(relay.rcpt_attempts[rcpt] - since[rcpt] >= times for rcpt in everyone)

        async def all_queued_after(error: str) -> bool:
            rows = await outbox_rows(engine)
            assert not [row for row in rows if row.status in ("sent", "failed")], \
                f"a temporary refusal ended a copy: {await describe()}"
            return len(rows) == len(everyone) and all(
                row.status == "queued" and error in (row.last_error or "") for row in rows)

        # Phase 1: 451 at RCPT for everyone, for several rounds.
        async def retried_at_rcpt() -> bool:
            return await all_queued_after("451 4.3.0") and tried(Counter(), 3)

        await wait_until(retried_at_rcpt, timeout=60, fleet=fleet, describe=describe)

        # Phase 2: RCPT accepted, 451 at the end of DATA, for several rounds.
        relay.refuse_data, relay.refuse_all = "451 4.7.1 message deferred, try again later", None
        before_data = Counter(relay.rcpt_attempts)

        async def retried_at_data() -> bool:
            return await all_queued_after("451 4.7.1") and tried(before_data, 2)

        await wait_until(retried_at_data, timeout=60, fleet=fleet, describe=describe)
        assert relay.messages == []

        # Phase 3: every fifth recipient is unknown (550 5.1.1 at RCPT) while the others are still
        # deferred at DATA; once the unknown ones have failed, the others go through. (Switching
        # both at once could let a copy whose RCPT was accepted just before through at DATA.)
        relay.refuse = {rcpt: f"550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown" for rcpt in unknown}
        before_final = Counter(relay.rcpt_attempts)

        async def unknown_failed() -> bool:
            return await status_counts(engine, OutboxMessage.status) == {
                "queued": len(known) + 1, "failed": len(unknown)}

        await wait_until(unknown_failed, timeout=60, fleet=fleet, describe=describe)
        relay.refuse_data = None

        async def all_final() -> bool:
            return await status_counts(engine, OutboxMessage.status) == {
                "sent": len(known) + 1, "failed": len(unknown)}

        await wait_until(all_final, timeout=60, fleet=fleet, describe=describe)
        serve.check_alive()

        async with engine.connect() as connection:
            document_id = await connection.scalar(select(Document.id))
            rows = {row.email: row for row in (await connection.execute(
                select(Recipient.email, Recipient.sent_at, Recipient.failed, Recipient.reason))).all()}
            audited = Counter((await connection.scalars(select(AuditEntry.action).where(
                AuditEntry.action == "outbound.failed"))).all())
        async with aiohttp.ClientSession() as http:
            response = await http.get(f"http://127.0.0.1:{web_port}/api/v1/documents/{document_id}",
                                      headers={"Authorization": "Bearer static-test-token"})
            assert response.status == 200
            tracking = {r["email"]: r for r in (await response.json())["recipients"]}

        outcome = await final_check(
            engine, label=f"relay 451 at RCPT, then 451 at DATA, then 550 5.1.1 for {len(unknown)}",
            backend=backend(database_url), sent=1, started=started, recipients=recipients,
            arrived=[m.rcpt for m in relay.messages], failing=unknown,
            duplicates_note="expected 0: a refused copy never reached the relay's store")

    # Temporary refusals were retried, permanent ones tried exactly once and then given up.
    assert {rcpt: relay.rcpt_attempts[rcpt] - before_final[rcpt] for rcpt in unknown} == dict.fromkeys(unknown, 1)
    assert outcome.processed == 1
    assert outcome.lost == []
    assert outcome.duplicates == 0
    assert Counter(m.rcpt for m in relay.messages) == Counter([*known, SENDER])
    for rcpt in known:
        assert rows[rcpt].sent_at is not None and not rows[rcpt].failed and rows[rcpt].reason is None, rcpt
        assert tracking[rcpt]["sent_at"] is not None and tracking[rcpt]["failed"] is False, tracking[rcpt]
    for rcpt in unknown:
        assert rows[rcpt].failed and rows[rcpt].sent_at is None, rcpt
        assert rows[rcpt].reason.startswith("550 5.1.1") and rcpt in rows[rcpt].reason, rows[rcpt].reason
        assert tracking[rcpt]["failed"] is True and tracking[rcpt]["reason"] == rows[rcpt].reason, tracking[rcpt]
        assert tracking[rcpt]["sent_at"] is None
    assert audited == {"outbound.failed": len(unknown)}
    assert outcome.stuck_outbox == 0 and outcome.stuck_recipients == 0
