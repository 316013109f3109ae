"""Fault: PostgreSQL restarted under load (SPEC §6, §7).

Two `inkless serve` processes share one database in a PRIVATE PostgreSQL cluster (started
by this module as the `postgres` OS user on a free port, so the shared server on :5432 is
never touched). While SMTP clients stream small [通知] documents to a small unit, and a
fan-out to a few hundred recipients is being delivered, the cluster is restarted twice:

1. `pg_ctl restart -m fast` (clients disconnected, clean shutdown) in the middle of the fan-out;
2. a crash-like `pg_ctl stop -m immediate` (no shutdown checkpoint, crash recovery at the
   next start), kept down until the SMTP clients have seen 4xx answers, then started again.

The clients behave like a real MTA: a 4xx answer is retried with the same bytes (same
Message-ID). The check: nothing that got 250 is lost; each accepted message became exactly
one document (a retry of a message whose commit did succeed although the answer was 451 is
discarded by its Message-ID, not turned into a second document); no 5xx and no dropped
connection for a database outage; every recipient copy reached the relay exactly once (a
copy the relay accepted while the database could not record it is held by its worker and
recorded when the database is back, not sent again after the lease); no row stuck in new/processing/queued/sending; both processes alive and the
scheduler lease still renewed. One summary line is printed.

Runtime: ~10 s on 2 cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.policy import default as default_policy
from pathlib import Path

import aiosmtplib
import asyncpg
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from inkless.storage.models import (
    Document,
    InboundMessage,
    Lease,
    OutboxMessage,
    Recipient,
)
from tests.bridge.test_durability import Fleet, relay_keys, status_counts, wait_until
from tests.conftest import (
    DOMAIN,
    TEST_ORG,
    CaptureRelay,
    free_port,
    simple_mail,
    write_config,
)

SENDER = "fin-clerk@test.gov"  # finance clerk → edu@: one copy per edu member + an "issued" notice
UNIT_ADDRESS = f"edu@{DOMAIN}"
PER_DOCUMENT = 4
FANOUT_SENDER = "clerk@test.gov"
FANOUT_RECIPIENTS = 300
ORG = {"units": [*TEST_ORG["units"], {
    "id": "crowd", "name": "全县", "parent": "office",
    "members": [{"email": f"p{n:04d}@test.gov", "name": f"人{n}"} for n in range(FANOUT_RECIPIENTS)]}]}
CLIENTS = 6
PHASE = 60  # messages accepted before each restart and after the last one
BATCH = 50  # relay.batch_size
# Copies the relay accepted while the database could not record them are recorded later, not
# sent again: outbound duplicates come only from a process that dies (test_fanout_kill.py).
MAX_DUPLICATES = 0
RETRY_DELAY = 0.1  # a real MTA waits minutes before retrying a 4xx; the test does not
SCHEDULER_INTERVAL = 1.0
_HEADERS = BytesHeaderParser(policy=compat32)
_DECODING_HEADERS = BytesHeaderParser(policy=default_policy)


# A private PostgreSQL cluster ------------------------------------------------------------


def _server_binaries() -> Path | None:
    """The bin folder of the newest installed PostgreSQL server (Debian layout, then PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0)
    if found:
        folder = Path(found[-1]).parent
    elif shutil.which("pg_ctl"):
        folder = Path(str(shutil.which("pg_ctl"))).parent
    else:
        return None
    return folder if (folder / "initdb").exists() else None


@dataclass
class PrivateCluster:
    """A throwaway PostgreSQL cluster, run as `postgres` when the test runs as root."""

    bin: Path
    folder: Path
    port: int
    as_user: list[str]

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    def url(self, database: str, driver: str = "postgresql+asyncpg") -> str:
        return f"{driver}://postgres@127.0.0.1:{self.port}/{database}"

    def command(self, *args: str) -> list[str]:
        return [*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
                "-t", "60", *args]

    def run(self, *args: str) -> None:
        done = subprocess.run(self.command(*args), cwd=self.folder, capture_output=True, timeout=90)
        assert done.returncode == 0, f"pg_ctl {' '.join(args)} failed:\n{done.stdout.decode()}{done.stderr.decode()}" \
                                     f"\n{self.log_tail()}"

    async def pg_ctl(self, *args: str) -> float:
        """Run pg_ctl without blocking the event loop (the relay and the clients live on it);
        return how long it took."""
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(*self.command(*args), cwd=self.folder,
                                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        output, _ = await asyncio.wait_for(process.communicate(), 90)
        assert process.returncode == 0, f"pg_ctl {' '.join(args)} failed:\n{output.decode(errors='replace')}"
        return time.monotonic() - started

    def log_tail(self, limit: int = 4000) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-limit:]
        return "(no server log)"


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivateCluster]:
    """A PostgreSQL cluster of this module's own: trust auth on 127.0.0.1, a free port, its
    socket in its temp folder; stopped (immediate) and removed afterwards."""
    binaries = _server_binaries()
    if binaries is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin or on PATH")
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="inkless-pg-"))
    if os.getuid() == 0:  # initdb refuses root
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(folder)
            pytest.skip("running as root and there is no `postgres` OS user to run initdb as")
        if not shutil.which("runuser"):
            shutil.rmtree(folder)
            pytest.skip("running as root and `runuser` is missing (needed to run initdb as postgres)")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    folder.chmod(0o700)
    cluster = PrivateCluster(binaries, folder, free_port(), as_user)
    try:
        initdb = subprocess.run([*as_user, str(binaries / "initdb"), "-D", str(cluster.data), "-U", "postgres",
                                 "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
                                cwd=folder, capture_output=True, timeout=120)
        assert initdb.returncode == 0, f"initdb failed:\n{initdb.stdout.decode()}{initdb.stderr.decode()}"
        with open(cluster.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(f"\n# tests/faults/test_pg_restart.py\nport = {cluster.port}\n"
                       f"listen_addresses = '127.0.0.1'\nunix_socket_directories = '{folder}'\n"
                       "max_connections = 200\n")
        cluster.run("start")
        yield cluster
    finally:
        with contextlib.suppress(Exception):
            cluster.run("stop", "-m", "immediate")
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.asynccontextmanager
async def database_in(cluster: PrivateCluster, name: str) -> AsyncIterator[str]:
    admin = await asyncpg.connect(cluster.url("postgres", "postgresql"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield cluster.url(name)


@contextlib.asynccontextmanager
async def unpooled_engine(url: str) -> AsyncIterator[AsyncEngine]:
    # No pool: every check opens a fresh connection, so the test's own reads never trip over a
    # connection the restart broke.
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        yield engine
    finally:
        await engine.dispose()


# An SMTP client that retries 4xx like an MTA --------------------------------------------


@dataclass
class Tally:
    sent: int = 0  # messages the clients set out to deliver
    accepted: int = 0  # 250 answers
    temporary: int = 0  # 4xx answers (each retried)
    permanent: list[str] | None = None  # 5xx answers: must stay empty
    dropped: list[str] | None = None  # connection errors / timeouts: must stay empty

    def __post_init__(self) -> None:
        self.permanent, self.dropped = [], []


async def deliver(port: int, mail_from: str, rcpt: str, data: bytes, tally: Tally) -> str:
    """Deliver one message, retrying 4xx answers with the same bytes; return the 250 reply."""
    while True:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=30)
        try:
            await client.connect()
            await client.mail(mail_from)
            await client.rcpt(rcpt)
            response = await client.data(data)
        except aiosmtplib.SMTPResponseException as exc:
            client.close()
            if 400 <= exc.code < 500:
                tally.temporary += 1
                await asyncio.sleep(RETRY_DELAY)  # the MTA's retry interval, not a synchronisation
                continue
            assert tally.permanent is not None
            tally.permanent.append(f"{exc.code} {exc.message}")
            raise
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            assert tally.dropped is not None
            tally.dropped.append(f"{type(exc).__name__}: {exc}")
            raise
        with contextlib.suppress(Exception):
            await client.quit()
        client.close()
        tally.accepted += 1
        return f"{response.code} {response.message}"


# The test ---------------------------------------------------------------------------------


async def test_postgresql_restart_under_load_loses_nothing(tmp_path: Path, private_postgres: PrivateCluster,
                                                           relay: CaptureRelay) -> None:
    started = time.monotonic()
    cluster = private_postgres
    ports, configs = [], []
    async with contextlib.AsyncExitStack() as stack:
        stack.push(lambda exc_type, *_: print(f"===== PostgreSQL log tail =====\n{cluster.log_tail()}")
                   if exc_type is not None else None)
        database_url = await stack.enter_async_context(database_in(cluster, "inkless_pg_restart"))
        for name in ("a", "b"):
            folder = tmp_path / name
            folder.mkdir()
            ports.append(free_port())
            configs.append(write_config(folder, database_url, relay.port, smtp_port=ports[-1], web_port=free_port(),
                                        org=ORG, relay={"batch_size": BATCH},
                                        worker={"scheduler_interval": SCHEDULER_INTERVAL}))
        fleet = await stack.enter_async_context(Fleet(tmp_path))
        engine = await stack.enter_async_context(unpooled_engine(database_url))
        serve = [fleet.spawn(f"serve-{name}", config, port) for name, config, port in zip("ab", configs, ports)]
        await asyncio.gather(*(process.wait_ready() for process in serve))

        tally = Tally()
        accepted: dict[str, str] = {}  # subject → 250 reply
        numbers = itertools.count()
        stop_stream = asyncio.Event()

        async def stream() -> None:
            while not stop_stream.is_set():
                n = next(numbers)
                subject = f"[通知] 数据库重启 {n:05d}"
                data = simple_mail(SENDER, UNIT_ADDRESS, subject)  # one Message-ID, kept across retries
                tally.sent += 1
                accepted[subject] = await deliver(ports[n % 2], SENDER, UNIT_ADDRESS, data, tally)

        def crowd_copies() -> int:
            return sum(1 for m in relay.messages if m.rcpt.startswith("p"))

        async def progress() -> str:
            return (f"sent {tally.sent}, accepted {tally.accepted}, 4xx {tally.temporary}, 5xx {tally.permanent}, "
                    f"dropped {tally.dropped}; relay {len(relay.messages)} ({crowd_copies()} fan-out copies)")

        async def accepted_reaches(target: int) -> None:
            async def reached() -> bool:
                return tally.accepted >= target

            await wait_until(reached, timeout=60, fleet=fleet, describe=progress, interval=0.01)

        fanout = simple_mail(FANOUT_SENDER, f"crowd@{DOMAIN}", "[通知] 关于做好冬季防火工作的通知", "各村、各单位：……")
        tally.sent += 1
        await deliver(ports[0], FANOUT_SENDER, f"crowd@{DOMAIN}", fanout, tally)
        senders = [asyncio.create_task(stream()) for _ in range(CLIENTS)]
        try:
            # 1. A clean restart in the middle of the fan-out.
            async def fanout_under_way() -> bool:
                return crowd_copies() >= 30 and tally.accepted >= 10

            await wait_until(fanout_under_way, timeout=90, fleet=fleet, describe=progress, interval=0.01)
            fast_at = crowd_copies()
            fast_seconds = await cluster.pg_ctl("restart", "-m", "fast")

            # 2. A crash: down until the clients have been refused with 4xx for a while, then up.
            await accepted_reaches(tally.accepted + PHASE)
            refused_before = tally.temporary
            crash_at = crowd_copies()
            down = time.monotonic()
            await cluster.pg_ctl("stop", "-m", "immediate")

            async def refused_while_down() -> bool:
                return tally.temporary >= refused_before + 20

            await wait_until(refused_while_down, timeout=30, fleet=fleet, describe=progress, interval=0.01)
            await cluster.pg_ctl("start")
            crash_seconds = time.monotonic() - down

            # 3. The stream goes on after the crash.
            await accepted_reaches(tally.accepted + PHASE)
        finally:
            stop_stream.set()
        done, pending = await asyncio.wait(senders, timeout=90)
        assert not pending, f"a client hung: {await progress()}"
        for task in senders:
            if not task.cancelled() and task.exception() is not None:
                raise AssertionError(f"a client failed: {await progress()}") from task.exception()
        assert tally.permanent == [] and tally.dropped == []
        assert len(accepted) + 1 == tally.sent == tally.accepted  # + the fan-out
        restarted = time.monotonic()

        subjects = set(accepted)
        titles_wanted = {s.removeprefix("[通知] ") for s in subjects}

        async def all_processed() -> bool:
            inbound = await status_counts(engine, InboundMessage.status)
            outbox = await status_counts(engine, OutboxMessage.status)
            if set(inbound) - {"done", "discarded", "quarantined"} or set(outbox) - {"sent", "failed"}:
                return False
            async with engine.connect() as connection:
                titles = set((await connection.scalars(select(Document.title))).all())
            return titles_wanted <= titles

        async def describe() -> str:
            return (f"inbound {await status_counts(engine, InboundMessage.status)}; outbox "
                    f"{await status_counts(engine, OutboxMessage.status)}; {await progress()}")

        # Rows a process claimed but could not finish while the database was down are taken
        # over when their lease (30 s in the test config) runs out.
        await wait_until(all_processed, timeout=150, fleet=fleet, describe=describe)
        settled = time.monotonic()

        async with engine.connect() as connection:
            inbound = (await connection.execute(
                select(InboundMessage.id, InboundMessage.status, InboundMessage.reason, InboundMessage.raw,
                       InboundMessage.attempts))).all()
            documents = (await connection.execute(
                select(Document.inbound_id, Document.title, Document.unit_id, Document.serial))).all()
            outbox = (await connection.execute(
                select(OutboxMessage.rcpt, OutboxMessage.headers, OutboxMessage.status))).all()
            unsent = await connection.scalar(select(func.count()).where(Recipient.sent_at.is_(None)))
            lease_before = await connection.scalar(select(Lease.expires_at).where(Lease.name == "scheduler"))

        # The scheduler loop survived the restarts: its lease keeps being renewed.
        async def lease_renewed() -> bool:
            async with engine.connect() as connection:
                expires = await connection.scalar(select(Lease.expires_at).where(Lease.name == "scheduler"))
            return expires is not None and (lease_before is None or expires > lease_before)

        await wait_until(lease_renewed, timeout=10 * SCHEDULER_INTERVAL, fleet=fleet, describe=describe)
        fleet.check_alive()
        alive = sum(1 for p in serve if p.proc is not None and p.proc.poll() is None)

    # Inbound: what got 250 is stored; each stored message done once or discarded as a repeat.
    stored = Counter(str(_DECODING_HEADERS.parsebytes(bytes(row.raw))["Subject"]) for row in inbound)
    lost = sorted(s for s in subjects if s not in stored)
    statuses = Counter(row.status for row in inbound)
    quarantined = [(row.id, row.reason) for row in inbound if row.status == "quarantined"]
    repeats = [row for row in inbound if row.status == "discarded"]
    stuck_inbound = sum(n for status, n in statuses.items() if status in ("new", "processing"))
    # A live process finishes what it claimed once the database is back; only a claim it gave
    # up on is claimed again (attempts 2) after its lease ran out.
    reclaimed = sum(1 for row in inbound if row.attempts > 1)
    # Documents: exactly one per accepted message (the fan-out is the one extra).
    titles = Counter(row.title for row in documents if row.unit_id == "finance")
    duplicate_documents = {t: n for t, n in titles.items() if n > 1}
    processed = sum(1 for t in titles_wanted if titles[t] == 1)
    # Outbound: every queued copy reached the relay, at least once.
    queued = {(row.rcpt, str(_HEADERS.parsebytes(bytes(row.headers) + b"\r\n")["Message-ID"]).strip())
              for row in outbox}
    keys = relay_keys(relay)
    missing_copies = queued - set(keys)
    resent = Counter(keys)
    duplicates = sum(n - 1 for n in resent.values())
    fanout_duplicates = sum(n - 1 for (rcpt, _), n in resent.items() if rcpt.startswith("p"))
    crowd = {m.rcpt for m in relay.messages if m.rcpt.startswith("p")}
    stuck_outbox = sum(1 for row in outbox if row.status in ("queued", "sending"))
    failed_outbox = sum(1 for row in outbox if row.status == "failed")

    print(f"\npg restart: {tally.sent} messages sent by the clients, {tally.accepted} accepted (250), "
          f"{tally.temporary} refused temporarily (4xx, retried), {processed}/{len(subjects)} streamed + the fan-out "
          f"processed once "
          f"({len(repeats)} repeats discarded by Message-ID, {len(duplicate_documents)} duplicate documents), "
          f"{len(set(keys))} recipient copies delivered ({len(crowd)}/{FANOUT_RECIPIENTS} fan-out recipients), "
          f"duplicates {duplicates} ({fanout_duplicates} in the fan-out; copies the relay accepted while the "
          f"database could not record them are recorded when it is back: expected {MAX_DUPLICATES}), "
          f"restart -m fast at fan-out copy {fast_at} ({fast_seconds:.1f} s), crash -m immediate at copy "
          f"{crash_at} (down {crash_seconds:.1f} s), lost {len(lost)}, stuck {stuck_inbound + stuck_outbox}, "
          f"inbound re-claimed after the lease {reclaimed}, processes alive {alive}/2, settled "
          f"{settled - restarted:.1f} s after the stream, {time.monotonic() - started:.1f} s")

    assert not lost, f"{len(lost)} messages got 250 but were not stored: {lost[:5]}"
    assert not quarantined, f"{len(quarantined)} messages quarantined: {quarantined[:5]}"
    assert all(row.reason and "already processed" in row.reason for row in repeats), \
        [row.reason for row in repeats][:5]
    assert set(statuses) <= {"done", "discarded"}, statuses
    assert stuck_inbound == 0
    assert reclaimed == 0, f"{reclaimed} inbound messages waited for their lease although their process lived"
    assert not duplicate_documents, f"documents created twice: {list(duplicate_documents)[:5]}"
    assert processed == len(subjects)
    assert set(titles) == titles_wanted  # nothing but the accepted messages became finance documents
    assert len(documents) == statuses["done"] == len(subjects) + 1  # + the fan-out document
    assert sorted(row.serial for row in documents if row.unit_id == "finance") == list(range(1, len(subjects) + 1))
    assert len(outbox) == len(subjects) * PER_DOCUMENT + FANOUT_RECIPIENTS + 1
    assert failed_outbox == 0 and stuck_outbox == 0
    assert not missing_copies, f"{len(missing_copies)} queued copies never reached the relay"
    assert set(keys) == queued
    assert duplicates <= MAX_DUPLICATES
    assert len(crowd) == FANOUT_RECIPIENTS
    assert unsent == 0, "recipient rows without sent_at although their copies were sent"
    assert alive == 2
