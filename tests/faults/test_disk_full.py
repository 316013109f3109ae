"""Fault: the Maildir outbox's disk is full during a 400-recipient fan-out.

The Maildir relay (relay.url `maildir://PATH`) is a small tmpfs mounted for this test, filled
before the document is sent, in one of two ways:
- blocks: a file takes all but a few dozen pages, so the first copies fit and then every
  write fails with ENOSPC in the middle of the fan-out;
- inodes: the tmpfs has 16 inodes and empty files take them all, so not even the Maildir's
  tmp/new/cur folders can be created (ENOSPC at the relay's connect) and nothing is written.
A full disk is temporary (the operator frees space): Inkless must keep the remaining copies
queued and retry them, not crash, not mark them failed, and never leave a partial file in new/
(a copy is written in tmp/, fsynced, then renamed) nor a leftover in tmp/. Then the fillers are
deleted (and the tmpfs remounted larger in the inode case) and every copy arrives in new/
exactly once, byte for byte what the outbox holds.
Ends with one summary line (see tests/faults/fanout.py). About 4-8 s per case.

Needs root (mount); skipped with the reason where mounting is not permitted.
"""

from __future__ import annotations

import errno
import os
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from inkless.storage.models import OutboxBody, OutboxMessage
from tests.bridge.test_durability import Fleet, open_engine, status_counts, wait_until
from tests.conftest import DOMAIN, free_port, smtp_send, write_config
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
# tmpfs options per filler (a copy takes one 4 KiB page: 4 MiB hold them all once freed).
DISK = {"blocks": "size=4m", "inodes": "size=4m,nr_inodes=16"}
GROWN = "nr_inodes=4096"  # after `mount -o remount`: room for every copy
ROOM_PAGES = 40  # free pages left by the "blocks" filler: room for a few dozen copies
RETRY_ROUNDS = 3
PAGE = 4096


def mount_tmpfs(mountpoint: Path, options: str) -> None:
    mountpoint.mkdir()
    if os.geteuid() != 0:
        pytest.skip(f"mounting a tmpfs at {mountpoint} needs root (euid {os.geteuid()})")
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"{options},mode=0755", "tmpfs", str(mountpoint)],
                              capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        pytest.skip("no mount command on this machine")
    if done.returncode != 0:
        pytest.skip(f"mount -t tmpfs at {mountpoint} not permitted (exit {done.returncode}): "
                    f"{(done.stderr or done.stdout).strip()}")


def fill(maildir: Path, resource: str) -> list[Path]:
    """Use up the disk's blocks (all but ROOM_PAGES pages) or all its inodes; return the fillers."""
    if resource == "inodes":
        fillers = []
        try:
            while True:
                fillers.append(maildir / f"filler-{len(fillers)}")
                fillers[-1].touch()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
        return fillers[:-1]
    filler, chunk = maildir / "filler", b"\0" * PAGE
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
        handle.truncate(max(0, handle.tell() - ROOM_PAGES * PAGE))
    return [filler]


def maildir_copies(maildir: Path) -> list[tuple[str, bytes]]:
    """(Delivered-To, file content) of every message in new/."""
    copies: list[tuple[str, bytes]] = []
    if not (maildir / "new").exists():
        return copies
    for entry in sorted((maildir / "new").iterdir()):
        data = entry.read_bytes()
        trace = data.split(b"\r\n", 2)
        assert trace[1].startswith(b"Delivered-To: "), (entry, data[:200])
        copies.append((trace[1].removeprefix(b"Delivered-To: ").decode(), data))
    return copies


@pytest.mark.parametrize("resource", ["blocks", "inodes"])
@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
async def test_disk_full_keeps_copies_queued_until_space_is_freed(tmp_path: Path, database_url: str,
                                                                  resource: str) -> None:
    started = time.monotonic()
    recipients = crowd(RECIPIENTS)
    maildir = tmp_path / "outbox"
    mount_tmpfs(maildir, DISK[resource])
    try:
        smtp_port = free_port()
        config = write_config(tmp_path, database_url, None, smtp_port=smtp_port, web_port=free_port(),
                              org=crowd_org(RECIPIENTS), relay={"url": f"maildir://{maildir}", "batch_size": BATCH})
        async with Fleet(tmp_path) as fleet, open_engine(database_url) as engine:
            serve = fleet.spawn("serve", config, smtp_port)
            await serve.wait_ready()
            fillers = fill(maildir, resource)

            reply = await smtp_send(smtp_port, SENDER, [f"{UNIT}@{DOMAIN}"], fan_out_mail())
            assert reply.startswith("250"), reply

            async def expected_files() -> dict[str, bytes]:
                """What each recipient's file must hold: the trace lines, then the outbox row's bytes."""
                async with engine.connect() as connection:
                    rows = (await connection.execute(select(
                        OutboxMessage.rcpt, OutboxMessage.mail_from, OutboxMessage.headers, OutboxBody.data)
                        .join(OutboxBody, OutboxBody.id == OutboxMessage.body_id))).all()
                return {row.rcpt: f"Return-Path: <{row.mail_from}>\r\nDelivered-To: {row.rcpt}\r\n".encode()
                        + bytes(row.headers) + bytes(row.data) for row in rows}

            async def describe() -> str:
                rows = await outbox_rows(engine)
                return (f"{len(maildir_copies(maildir))} files in new/; outbox "
                        f"{Counter(row.status for row in rows)}; errors "
                        f"{Counter(row.last_error for row in rows).most_common(2)}")

            async def stalled_on_full_disk() -> bool:
                rows = await outbox_rows(engine)
                assert not [row for row in rows if row.status == "failed"], \
                    f"a full disk failed a copy for good: {await describe()}"
                waiting = [row for row in rows if row.status != "sent"]
                return len(rows) == RECIPIENTS + 1 and bool(waiting) and all(
                    row.status == "queued" and row.attempts >= RETRY_ROUNDS
                    and "No space left on device" in (row.last_error or "") for row in waiting)

            await wait_until(stalled_on_full_disk, timeout=60, fleet=fleet, describe=describe)
            expected = await expected_files()
            written = maildir_copies(maildir)
            sent_while_full = (await status_counts(engine, OutboxMessage.status)).get("sent", 0)
            if resource == "blocks":
                assert 0 < len(written) < RECIPIENTS, "the disk did not fill in the middle of the fan-out"
            else:
                assert written == [] and not (maildir / "new").exists()
            assert len(written) == sent_while_full
            # Every file in new/ is whole; no copy was written twice.
            assert all(data == expected[rcpt] for rcpt, data in written), "a partial or wrong file in new/"
            assert len({rcpt for rcpt, _ in written}) == len(written)

            # The operator frees space, or (out of inodes) also grows the file system.
            for filler in fillers:
                filler.unlink()
            if resource == "inodes":
                subprocess.run(["mount", "-o", f"remount,{GROWN}", str(maildir)], check=True, capture_output=True,
                               timeout=30)

            async def all_sent() -> bool:
                return await status_counts(engine, OutboxMessage.status) == {"sent": RECIPIENTS + 1}

            await wait_until(all_sent, timeout=60, fleet=fleet, describe=describe)
            serve.check_alive()
            copies = maildir_copies(maildir)
            leftovers = sorted(p.name for p in (maildir / "tmp").iterdir())
            outcome = await final_check(
                engine, label=f"maildir disk out of {resource} after {len(written)} copies, then freed",
                backend=database_url.split("+")[0].split(":")[0], sent=1, started=started,
                recipients=recipients, arrived=[rcpt for rcpt, _ in copies],
                duplicates_note="expected 0: a failed write leaves nothing in new/ and is retried")
            assert await serve.terminate() == 0, fleet.logs()
    finally:
        subprocess.run(["umount", str(maildir)], check=True, capture_output=True, timeout=30)

    assert outcome.processed == 1
    assert outcome.lost == []
    assert outcome.duplicates == 0
    assert outcome.delivered == RECIPIENTS
    assert Counter(rcpt for rcpt, _ in copies)[SENDER] == 1  # the "issued" notice
    assert all(data == expected[rcpt] for rcpt, data in copies), "a partial or wrong file in new/"
    assert leftovers == [], f"files left in tmp/: {leftovers[:5]}"
    assert outcome.stuck_outbox == 0 and outcome.stuck_recipients == 0
