"""Durability with real `inkless serve` processes (SPEC §6, §7).

Each test runs `python -m inkless serve -c CONFIG` as subprocesses on fixed free ports,
with a CaptureRelay on this test's event loop as their relay, then checks the database:

- two processes sharing one PostgreSQL database neither lose nor duplicate work
  (inbound claims, document numbers, outbound copies);
- a process killed with SIGKILL in the middle of a stream of mail loses nothing it
  answered 250 for, and a restarted process finishes what the dead one held.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from inkless.storage.models import Document, InboundMessage, OutboxMessage, Recipient
from tests.conftest import DOMAIN, CaptureRelay, free_port, simple_mail, write_config

SENDER = "fin-clerk@test.gov"  # home unit finance: numbers 延财发〔year〕n号
UNIT_ADDRESS = f"edu@{DOMAIN}"
# Issuing to edu@ sends one copy to each edu member and one "issued" notice to the sender.
COPY_RECIPIENTS = ("edu-clerk@test.gov", "edu-staff@test.gov", "shared@test.gov")
PER_DOCUMENT = len(COPY_RECIPIENTS) + 1
_HEADERS = BytesHeaderParser(policy=compat32)
_DECODING_HEADERS = BytesHeaderParser(policy=default_policy)

# Real processes and hundreds of messages: 5-45 s each; part of `make test`.


# Real serve processes --------------------------------------------------------------------


class ServeProcess:
    """One `inkless serve` subprocess; its stdout and stderr go to a log file."""

    def __init__(self, name: str, config: Path, smtp_port: int, log_path: Path) -> None:
        self.name = name
        self.config = config
        self.smtp_port = smtp_port
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.expect_running = False

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        # INKLESS_* variables of the caller would override the test config.
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("INKLESS_")}
        env["PYTHONUNBUFFERED"] = "1"
        with open(self.log_path, "ab") as log:
            log.write(f"----- {self.name}: starting -----\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "inkless", "serve", "-c", str(self.config)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.config.parent, env=env)
        self.expect_running = True

    def log_tail(self, limit: int = 6000) -> str:
        try:
            data = self.log_path.read_bytes()
        except FileNotFoundError:
            return "(no log)"
        return data[-limit:].decode("utf-8", "replace")

    def check_alive(self) -> None:
        if self.expect_running and self.proc is not None and self.proc.poll() is not None:
            self.expect_running = False
            raise AssertionError(f"{self.name} (pid {self.proc.pid}) exited unexpectedly with status "
                                 f"{self.proc.returncode}:\n{self.log_tail()}")

    async def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until the SMTP port answers with a 220 greeting."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.smtp_port)
            except OSError:
                pass
            else:
                try:
                    greeting = await asyncio.wait_for(reader.readline(), 5)
                finally:
                    writer.close()
                    with contextlib.suppress(OSError):
                        await writer.wait_closed()
                if greeting.startswith(b"220"):
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: SMTP port {self.smtp_port} not ready after {timeout}s:\n"
                                     f"{self.log_tail()}")
            await asyncio.sleep(0.05)

    def freeze(self) -> None:
        """SIGSTOP: the process does nothing more, so what the database shows of it stays."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def kill9(self) -> None:
        assert self.proc is not None
        self.expect_running = False
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    async def terminate(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, wait for the exit (polling); return the exit status, None if it had to be killed."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.expect_running = False
        self.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait(10)
                return None
            await asyncio.sleep(0.05)
        return self.proc.returncode

    def kill_quietly(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)


class Fleet:
    """The serve processes of one test: always killed at the end; their logs shown on failure."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.processes: list[ServeProcess] = []

    def spawn(self, name: str, config: Path, smtp_port: int) -> ServeProcess:
        process = ServeProcess(name, config, smtp_port, self.tmp_path / f"{name}.log")
        process.start()
        self.processes.append(process)
        return process

    def check_alive(self) -> None:
        for process in self.processes:
            process.check_alive()

    def logs(self) -> str:
        return "\n".join(f"===== {p.name} (pid {p.proc.pid if p.proc else '-'}) log tail =====\n{p.log_tail()}"
                         for p in self.processes)

    async def __aenter__(self) -> Fleet:
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        for process in self.processes:
            process.kill_quietly()
        if exc_type is not None and exc_type is not KeyboardInterrupt:
            # Printed during the call phase, so pytest shows it with the failure.
            print(self.logs())


async def wait_until(condition: Callable[[], Awaitable[bool]], *, timeout: float, fleet: Fleet,
                     describe: Callable[[], Awaitable[str]], interval: float = 0.1) -> None:
    """Poll condition() until true; fail fast if a serve process died, with a state dump on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        fleet.check_alive()
        if await condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s; state: {await describe()}")
        await asyncio.sleep(interval)


# SMTP clients ----------------------------------------------------------------------------


async def send_one(port: int, subject: str) -> str:
    """One document over a real SMTP session; return the DATA reply ("250 ...") or raise.

    The answer to DATA is what counts: a failure of the QUIT afterwards does not undo a 250.
    """
    data = simple_mail(SENDER, UNIT_ADDRESS, subject)
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=30)
    await client.connect()
    try:
        await client.mail(SENDER)
        await client.rcpt(UNIT_ADDRESS)
        response = await client.data(data)
    except BaseException:
        client.close()
        raise
    with contextlib.suppress(Exception):
        await client.quit()
    client.close()
    return f"{response.code} {response.message}"


def title_of(subject: str) -> str:
    """The document title Inkless stores for our subjects: the `[通知] ` type tag comes off."""
    assert subject.startswith("[通知] ")
    return subject.removeprefix("[通知] ")


# Database access from the test -----------------------------------------------------------


@contextlib.asynccontextmanager
async def open_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    # SQLite: wait for locks (e.g. while a restarted server recovers the WAL) instead of failing.
    options = {"connect_args": {"timeout": 30}} if database_url.startswith("sqlite") else {}
    engine = create_async_engine(database_url, **options)
    try:
        yield engine
    finally:
        await engine.dispose()


async def status_counts(engine: AsyncEngine, column: Any) -> dict[str, int]:
    async with engine.connect() as connection:
        rows = await connection.execute(select(column, func.count()).group_by(column))
        return {status: count for status, count in rows}


async def count(engine: AsyncEngine, model: Any) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(model)) or 0)


def relay_keys(relay: CaptureRelay) -> list[tuple[str, str]]:
    """(envelope recipient, Message-ID) of everything the relay received."""
    keys = []
    for captured in list(relay.messages):
        headers = _HEADERS.parsebytes(captured.data.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n")
        keys.append((captured.rcpt, str(headers["Message-ID"]).strip()))
    return keys


def worker_pid(claimed_by: str) -> int:
    # Service.worker_id is "host:pid:random".
    return int(claimed_by.split(":")[-2])


# 1. Two processes, one PostgreSQL ---------------------------------------------------------

TWO_PROCESS_MESSAGES = 500
TWO_PROCESS_CLIENTS = 10


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_processes_share_postgresql_without_loss_or_duplicates(
    tmp_path: Path, database_url: str, relay: CaptureRelay
) -> None:
    started = time.monotonic()
    ports = []
    configs = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        smtp_port = free_port()
        ports.append(smtp_port)
        configs.append(write_config(folder, database_url, relay.port, smtp_port=smtp_port, web_port=free_port()))

    async with Fleet(tmp_path) as fleet, open_engine(database_url) as engine:
        # Both start at once: migrations and the org import run under locks.
        serve = [fleet.spawn(f"serve-{name}", config, port) for name, config, port in zip("ab", configs, ports)]
        await asyncio.gather(*(process.wait_ready() for process in serve))
        ready = time.monotonic()

        subjects = [f"[通知] 两进程并发 {i:04d}" for i in range(TWO_PROCESS_MESSAGES)]
        replies: dict[int, str] = {}
        indices = iter(range(TWO_PROCESS_MESSAGES))

        async def client() -> None:
            for i in indices:  # a shared iterator: each index is taken by one client
                replies[i] = await send_one(ports[i % 2], subjects[i])

        await asyncio.gather(*(client() for _ in range(TWO_PROCESS_CLIENTS)))
        sent = time.monotonic()
        assert len(replies) == TWO_PROCESS_MESSAGES
        assert all(reply.startswith("250") for reply in replies.values()), \
            [r for r in replies.values() if not r.startswith("250")][:5]
        expected_copies = TWO_PROCESS_MESSAGES * PER_DOCUMENT

        async def everything_delivered() -> bool:
            if len(relay.messages) < expected_copies:
                return False
            # Delivered and recorded: nothing will be sent again after this.
            outbox = await status_counts(engine, OutboxMessage.status)
            inbound = await status_counts(engine, InboundMessage.status)
            return outbox == {"sent": expected_copies} and inbound == {"done": TWO_PROCESS_MESSAGES}

        async def describe() -> str:
            return (f"relay received {len(relay.messages)}/{expected_copies}; inbound "
                    f"{await status_counts(engine, InboundMessage.status)}; outbox "
                    f"{await status_counts(engine, OutboxMessage.status)}; documents {await count(engine, Document)}")

        # ~20-40 s on 2 idle cores; generous for a loaded machine.
        await wait_until(everything_delivered, timeout=150, fleet=fleet, describe=describe)
        delivered = time.monotonic()

        async with engine.connect() as connection:
            inbound = (await connection.execute(
                select(InboundMessage.id, InboundMessage.status, InboundMessage.claimed_by,
                       InboundMessage.attempts))).all()
            documents = (await connection.execute(
                select(Document.inbound_id, Document.title, Document.unit_id, Document.status, Document.year,
                       Document.serial, Document.number))).all()
            outbox_workers = set((await connection.scalars(select(OutboxMessage.claimed_by).distinct())).all())
            unsent = await connection.scalar(select(func.count()).where(Recipient.sent_at.is_(None)))

        # Every message stored once and processed once.
        assert len(inbound) == TWO_PROCESS_MESSAGES
        assert Counter(row.status for row in inbound) == {"done": TWO_PROCESS_MESSAGES}
        assert Counter(row.attempts for row in inbound) == {1: TWO_PROCESS_MESSAGES}, "a message was claimed twice"
        assert len(documents) == TWO_PROCESS_MESSAGES
        assert {row.inbound_id for row in documents} == {row.id for row in inbound}
        assert sorted(row.title for row in documents) == sorted(title_of(s) for s in subjects)
        assert {(row.unit_id, row.status) for row in documents} == {("finance", "issued")}

        # Document numbers gapless and unique per unit and year.
        [year] = {row.year for row in documents}
        assert sorted(row.serial for row in documents) == list(range(1, TWO_PROCESS_MESSAGES + 1))
        assert all(row.number == f"延财发〔{year}〕{row.serial}号" for row in documents)

        # The relay got each personal copy and notice exactly once.
        keys = relay_keys(relay)
        duplicates = [key for key, n in Counter(keys).items() if n > 1]
        assert not duplicates, f"{len(duplicates)} duplicated deliveries, e.g. {duplicates[:5]}"
        assert len(keys) == expected_copies
        per_rcpt = Counter(rcpt for rcpt, _ in keys)
        assert per_rcpt == {rcpt: TWO_PROCESS_MESSAGES for rcpt in (*COPY_RECIPIENTS, SENDER)}
        assert all(re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", message_id) for _, message_id in keys)
        assert unsent == 0, "recipient rows without sent_at although the relay accepted their copies"

        # Both processes did work, inbound and outbound.
        pids = {process.pid for process in serve}
        inbound_pids = Counter(worker_pid(row.claimed_by) for row in inbound)
        assert set(inbound_pids) == pids, f"inbound claims per pid: {inbound_pids}, processes {pids}"
        assert {worker_pid(w) for w in outbox_workers if w} == pids

        # SIGTERM: both stop cleanly.
        statuses = await asyncio.gather(*(process.terminate() for process in serve))
        assert statuses == [0, 0], f"exit statuses {statuses}\n{fleet.logs()}"

    print(f"\ntwo processes: start {ready - started:.1f}s, {TWO_PROCESS_MESSAGES} sent in {sent - ready:.1f}s, "
          f"all {expected_copies} delivered after {delivered - sent:.1f}s more; inbound claims per pid "
          f"{dict(inbound_pids)}")


# 2. kill -9 in the middle of a stream ------------------------------------------------------

KILL_AFTER = 100
STREAM_CLIENTS = 8


async def test_kill_9_loses_nothing_that_got_250(tmp_path: Path, database_url: str, relay: CaptureRelay) -> None:
    started = time.monotonic()
    smtp_port = free_port()
    # A short lease, so the restarted process takes over what the killed one had claimed.
    config = write_config(tmp_path, database_url, relay.port, smtp_port=smtp_port, web_port=free_port(),
                          worker={"lease": 2})

    async with Fleet(tmp_path) as fleet, open_engine(database_url) as engine:
        first = fleet.spawn("serve-1", config, smtp_port)
        await first.wait_ready()

        accepted: dict[str, str] = {}  # subject → the 250 reply
        failed: dict[str, str] = {}  # subject → the error (no retry)
        attempted: list[str] = []
        killed = asyncio.Event()
        failed_before_kill: list[str] = []
        numbers = itertools.count()

        async def stream() -> None:
            while not killed.is_set():
                subject = f"[通知] 断电测试 {next(numbers):05d}"
                attempted.append(subject)
                try:
                    reply = await send_one(smtp_port, subject)
                except Exception as exc:  # refused, reset, closed: recorded, never retried
                    failed[subject] = f"{type(exc).__name__}: {exc}"
                    if not killed.is_set():
                        failed_before_kill.append(subject)
                    continue
                if reply.startswith("250"):
                    accepted[subject] = reply
                else:
                    failed[subject] = reply
                    if not killed.is_set():
                        failed_before_kill.append(subject)

        senders = [asyncio.create_task(stream()) for _ in range(STREAM_CLIENTS)]
        try:
            async def enough_accepted() -> bool:
                return len(accepted) >= KILL_AFTER

            async def describe_stream() -> str:
                return f"accepted {len(accepted)}, failed {len(failed)}"

            await wait_until(enough_accepted, timeout=30, fleet=fleet, describe=describe_stream, interval=0.005)
            first.kill9()
            killed.set()  # no await in between: senders start nothing new after the kill
            done, pending = await asyncio.wait(senders, timeout=40)
            assert not pending, "a sender hung after the kill"
            for task in done:
                task.result()
        finally:
            for task in senders:
                task.cancel()
        at_kill = time.monotonic()
        assert not failed_before_kill, {s: failed[s] for s in failed_before_kill[:5]}
        assert set(accepted) | set(failed) == set(attempted)

        second = fleet.spawn("serve-2", config, smtp_port)
        await second.wait_ready()

        accepted_titles = {title_of(s) for s in accepted}

        async def all_processed() -> bool:
            inbound = await status_counts(engine, InboundMessage.status)
            if set(inbound) != {"done"}:
                return False
            outbox = await status_counts(engine, OutboxMessage.status)
            if set(outbox) != {"sent"}:
                return False
            async with engine.connect() as connection:
                titles = set((await connection.scalars(select(Document.title))).all())
            return accepted_titles <= titles

        async def describe() -> str:
            return (f"inbound {await status_counts(engine, InboundMessage.status)}; outbox "
                    f"{await status_counts(engine, OutboxMessage.status)}; documents {await count(engine, Document)}"
                    f" for {len(accepted)} accepted")

        await wait_until(all_processed, timeout=60, fleet=fleet, describe=describe)
        recovered = time.monotonic()

        async with engine.connect() as connection:
            inbound = (await connection.execute(
                select(InboundMessage.id, InboundMessage.status, InboundMessage.raw, InboundMessage.attempts))).all()
            documents = (await connection.execute(
                select(Document.inbound_id, Document.title, Document.serial, Document.number))).all()
            outbox = (await connection.execute(select(OutboxMessage.rcpt, OutboxMessage.headers))).all()
            unsent = await connection.scalar(select(func.count()).where(Recipient.sent_at.is_(None)))

        # Every message that got 250 is stored, and processed exactly once.
        stored_subjects = Counter(str(_DECODING_HEADERS.parsebytes(bytes(row.raw))["Subject"]) for row in inbound)
        lost = [s for s in accepted if s not in stored_subjects]
        assert not lost, f"{len(lost)} messages got 250 but were not stored: {lost[:5]}"
        assert all(n == 1 for n in stored_subjects.values()), "a message was stored twice"
        assert Counter(row.status for row in inbound) == {"done": len(inbound)}
        titles = Counter(row.title for row in documents)
        duplicated = [t for t, n in titles.items() if n > 1]
        assert not duplicated, f"documents created twice: {duplicated[:5]}"
        assert accepted_titles <= set(titles)
        assert set(titles) <= {title_of(s) for s in attempted}
        # Whatever was stored (even without the 250 reaching the client) became one document.
        assert len(documents) == len(inbound)
        assert {row.inbound_id for row in documents} == {row.id for row in inbound}
        # Numbers stay gapless across the crash: an interrupted issue gives its number back.
        assert sorted(row.serial for row in documents) == list(range(1, len(documents) + 1))

        # Outbound survives the crash too: every queued copy reached the relay (at least once,
        # with the same Message-ID if the crash fell between the relay's 250 and the record).
        assert len(outbox) == len(documents) * PER_DOCUMENT
        queued = {(row.rcpt, str(_HEADERS.parsebytes(bytes(row.headers) + b"\r\n")["Message-ID"]).strip())
                  for row in outbox}
        assert len(queued) == len(outbox)
        assert unsent == 0, "recipient rows without sent_at although their outbox rows are sent"

        async def relay_has_all() -> bool:
            return queued <= set(relay_keys(relay))

        async def describe_relay() -> str:
            return f"relay is missing {len(queued - set(relay_keys(relay)))} of {len(queued)}"

        await wait_until(relay_has_all, timeout=10, fleet=fleet, describe=describe_relay)
        keys = relay_keys(relay)
        assert set(keys) == queued
        resent = len(keys) - len(set(keys))
        stuck_after_kill = sum(1 for row in inbound if row.attempts > 1)

        assert await second.terminate() == 0, fleet.logs()

    print(f"\nkill -9 ({database_url.split('+')[0]}): {len(attempted)} attempted, {len(accepted)} got 250, "
          f"{len(failed)} failed at the kill, {len(inbound)} stored, {stuck_after_kill} taken over after the lease, "
          f"{resent} copies re-sent by the relay worker; kill after {at_kill - started:.1f}s, recovered in "
          f"{recovered - at_kill:.1f}s")
