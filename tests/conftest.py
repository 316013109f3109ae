"""Fixtures: a database per test (SQLite and PostgreSQL), a capture relay, the real service.

Every test that touches storage runs twice, once per backend. PostgreSQL tests create a
database with a random name and drop it afterwards, so runs never see each other's rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import random
import secrets
import socket
import time
import weakref
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from email.policy import SMTP as SMTP_POLICY
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import aiohttp
import aiosmtplib
import asyncpg
import pytest
import yaml
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select

from inkless.bridge.app import Service
from inkless.clock import Clock
from inkless.config import Config, build_config
from inkless.storage.models import InboundMessage, OutboxMessage

PG_ADMIN_URL = os.environ.get("INKLESS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")

TEST_ORG: dict[str, Any] = {
    "units": [
        {"id": "office", "name": "县政府办公室", "doc_prefix": "延政办发", "members": [
            {"email": "clerk@test.gov", "name": "王文书", "roles": ["clerk"]},
            {"email": "boss@test.gov", "name": "李县长", "roles": ["leader"]},
            {"email": "admin@test.gov", "name": "管理员", "roles": ["admin"]},
        ]},
        {"id": "finance", "name": "财政局", "parent": "office", "doc_prefix": "延财发", "members": [
            {"email": "fin-clerk@test.gov", "name": "陈会计", "roles": ["clerk"]},
            {"email": "fin-staff@test.gov", "name": "吴科员"},
            {"email": "shared@test.gov", "name": "两边都在"},
        ]},
        {"id": "edu", "name": "教育局", "parent": "office", "members": [
            {"email": "edu-clerk@test.gov", "name": "郑干事", "roles": ["clerk"]},
            {"email": "edu-staff@test.gov", "name": "钱老师"},
            {"email": "shared@test.gov", "name": "两边都在"},
        ]},
        {"id": "signed", "name": "审批局", "doc_prefix": "审批发", "approvers": ["signer@test.gov", "chief@test.gov"],
         "members": [
            {"email": "signed-clerk@test.gov", "name": "审批文书", "roles": ["clerk"]},
            {"email": "signer@test.gov", "name": "审批领导", "roles": ["leader"]},
            {"email": "chief@test.gov", "name": "一把手", "roles": ["leader"]},
            {"email": "signed-staff@test.gov", "name": "审批科员"},
        ]},
    ]
}
DOMAIN = "oa.test.gov"


def free_port() -> int:
    """A free loopback port below the kernel's ephemeral range.

    Servers bind a moment after the port is chosen. A port from the ephemeral range (what
    binding port 0 gives) can be taken meanwhile by any outgoing connection; this one cannot.
    """
    first_ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for port in random.sample(range(1024, first_ephemeral), min(100, max(0, first_ephemeral - 1024))):
        with socket.socket() as sock, contextlib.suppress(OSError):
            sock.bind(("127.0.0.1", port))
            return port
    raise RuntimeError(f"no free port below the ephemeral range (which starts at {first_ephemeral})")


async def wait_for(condition: Callable[[], Awaitable[object] | object], timeout: float = 10.0, what: str = "") -> None:
    """Wait until condition() is true (or an awaitable it returns gives something true),
    checking often; fail with `what` after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        await asyncio.sleep(0.02)


# Databases -------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/inkless.db"
        return
    name = f"inkless_test_{secrets.token_hex(6)}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _pg_admin(statement: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


# The capture relay -----------------------------------------------------------------------


@dataclass
class Captured:
    mail_from: str
    rcpt: str
    data: bytes
    mail_options: tuple[str, ...] = ()  # as given at MAIL FROM (SIZE=…)

    @property
    def message(self) -> Message:
        return message_from_bytes(self.data, policy=default_policy)


@dataclass
class CaptureRelay:
    """A real SMTP server (aiosmtpd) that records what Inkless relays, and can refuse."""

    port: int = 0
    messages: list[Captured] = field(default_factory=list)
    # rcpt → reply to give at RCPT (e.g. "550 5.1.1 no such user", "451 4.3.0 later").
    refuse: dict[str, str] = field(default_factory=dict)
    # Optional, for fault tests (None: accept): the reply to every RCPT not in `refuse`, and
    # a reply to DATA instead of accepting the message (e.g. "451 4.3.0 try again later").
    refuse_all: str | None = None
    refuse_data: str | None = None
    refuse_mail: str | None = None  # a reply to every MAIL FROM (e.g. "530 5.7.0 authentication required")
    # How often each address was given at RCPT, whatever the answer.
    rcpt_attempts: Counter[str] = field(default_factory=Counter)
    # Offer PIPELINING (RFC 2920) at EHLO, as Postfix does: Inkless then pipelines its copies.
    pipelining: bool = True
    # Messages one session may carry (None: any number); the next MAIL gets 421 and the
    # session is closed, as relays with a per-connection limit do.
    session_limit: int | None = None
    data_delay: float = 0.0  # seconds each message takes at the end of DATA (a slow relay)
    sessions_opened: int = 0
    _carried: Counter[int] = field(default_factory=Counter, init=False, repr=False, compare=False)
    server: asyncio.AbstractServer | None = None
    _sessions: weakref.WeakSet[SMTP] = field(default_factory=weakref.WeakSet, init=False, repr=False,
                                              compare=False)

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname  # what aiosmtpd does itself when there is no EHLO hook
        if not self.pipelining:
            return responses
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        if self.refuse_mail:
            return self.refuse_mail
        if self.session_limit is not None and self._carried[id(server)] >= self.session_limit:
            transport = server.transport
            assert transport is not None
            asyncio.get_running_loop().call_soon(transport.close)  # after the reply is written
            return "421 4.7.0 too many messages in this session, closing"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        self.rcpt_attempts[address] += 1
        reply = self.refuse.get(address) or self.refuse_all
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse_data:
            return self.refuse_data
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        self._carried[id(server)] += 1
        for rcpt in envelope.rcpt_tos:
            self.messages.append(Captured(envelope.mail_from or "", rcpt, envelope.original_content or b"",
                                          tuple(envelope.mail_options)))
        return "250 OK"

    def _session(self) -> SMTP:
        session = SMTP(self, hostname="relay.test")
        self._sessions.add(session)
        self.sessions_opened += 1
        return session

    async def start(self) -> None:
        """Listen (again): a stopped relay comes back on the port it had."""
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(self._session, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self, *, drop_sessions: bool = False) -> int:
        """Stop listening; with drop_sessions also close the open SMTP sessions, as a crashing
        relay would (otherwise a client already connected may go on sending). Returns how many
        sessions were closed."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        dropped = 0
        if drop_sessions:
            for session in list(self._sessions):
                if session.transport is not None and not session.transport.is_closing():
                    session.transport.close()
                    dropped += 1
        return dropped

    def to(self, rcpt: str) -> list[Captured]:
        return [m for m in self.messages if m.rcpt == rcpt]


@pytest.fixture
async def relay() -> AsyncIterator[CaptureRelay]:
    capture = CaptureRelay()
    await capture.start()
    yield capture
    await capture.stop()


# The service ------------------------------------------------------------------------------


def write_config(directory: Path, database: str, relay_port: int | None, **overrides: Any) -> Path:
    """Write org.yaml and config.yaml for a test service listening on free ports."""
    (directory / "org.yaml").write_text(yaml.safe_dump(overrides.pop("org", TEST_ORG), allow_unicode=True),
                                        encoding="utf-8")
    relay_url = f"smtp://127.0.0.1:{relay_port}?starttls=off" if relay_port else "maildir://var/outbox"
    data: dict[str, Any] = {
        "domain": DOMAIN,
        "database": database,
        "secret_key": "test-secret-key-0123456789",
        "org": "org.yaml",
        "smtp": {"listen": f"127.0.0.1:{overrides.pop('smtp_port', 0)}", "max_recipients": 5,
                 "max_message_size": 200_000},
        "relay": {"url": relay_url, "retry_initial": 0.2, "retry_max": 1.0},
        "web": {"listen": f"127.0.0.1:{overrides.pop('web_port', 0)}", "base_url": "http://inkless.test"},
        "api": {"tokens": ["static-test-token"]},
        "worker": {"poll_interval": 0.2, "lease": 30, "scheduler_interval": 3600},
    }
    for key, value in overrides.items():
        if isinstance(value, dict):
            data.setdefault(key, {}).update(value)
        else:
            data[key] = value
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def load_test_config(path: Path) -> Config:
    return build_config(yaml.safe_load(path.read_text(encoding="utf-8")), source=str(path), base_dir=path.parent)


@pytest.fixture
async def make_service(tmp_path: Path, database_url: str) -> AsyncIterator[Callable[..., Awaitable[Service]]]:
    """Start real services (in this process, on free ports); all are stopped afterwards."""
    started: list[Service] = []

    async def start(capture: CaptureRelay | None = None, *, clock: Clock | None = None, directory: Path | None = None,
                    **overrides: Any) -> Service:
        folder = directory or tmp_path
        folder.mkdir(parents=True, exist_ok=True)
        path = write_config(folder, database_url, capture.port if capture else None, **overrides)
        service = Service(load_test_config(path), clock=clock)
        await service.start()
        started.append(service)
        return service

    yield start
    for service in started:
        await service.stop()


@pytest.fixture
def clock() -> Clock | None:
    """The clock `service` runs on: the real one, unless a module overrides this fixture (with a
    FixedClock its tests move)."""
    return None


@pytest.fixture
def service_at(make_service: Callable[..., Awaitable[Service]],
               relay: CaptureRelay) -> Callable[..., Awaitable[Service]]:
    """`await service_at(clock, **overrides)`: a service on that clock, relaying to `relay`."""

    async def start(clock: Clock | None, **overrides: Any) -> Service:
        return await make_service(relay, clock=clock, **overrides)

    return start


@pytest.fixture
async def service(service_at: Callable[..., Awaitable[Service]], clock: Clock | None) -> Service:
    return await service_at(clock)


# An SMTP client that reports every reply -------------------------------------------------


class Refused(Exception):
    def __init__(self, stage: str, code: int, message: str) -> None:
        super().__init__(f"{stage}: {code} {message}")
        self.stage, self.code, self.message = stage, code, message


async def smtp_send(port: int, mail_from: str, rcpts: list[str], data: bytes, *, size: int | None = None) -> str:
    """Send one message over a real SMTP session; raise Refused with the stage and code."""
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=30)
    await client.connect()
    try:
        options = [f"SIZE={size}"] if size is not None else []
        response = await client.mail(mail_from, options=options)
        for rcpt in rcpts:
            try:
                await client.rcpt(rcpt)
            except aiosmtplib.SMTPRecipientRefused as exc:
                raise Refused("RCPT", exc.code, exc.message) from None
        try:
            response = await client.data(data)
        except aiosmtplib.SMTPDataError as exc:
            raise Refused("DATA", exc.code, exc.message) from None
        return f"{response.code} {response.message}"
    except aiosmtplib.SMTPSenderRefused as exc:
        raise Refused("MAIL", exc.code, exc.message) from None
    finally:
        try:
            await client.quit()
        except aiosmtplib.SMTPException:
            client.close()


def simple_mail(sender: str, to: str, subject: str, body: str = "正文", *, extra: str = "") -> bytes:
    """A UTF-8 text message as a mail client would write it."""
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<{secrets.token_hex(8)}@client.test>"
    for line in filter(None, extra.split("\n")):
        name, _, value = line.partition(":")
        message[name.strip()] = value.strip()
    message.set_content(body)
    return message.as_bytes(policy=SMTP_POLICY)


# Waiting for the service ------------------------------------------------------------------


async def next_mail(relay: CaptureRelay, rcpt: str, count: int = 1) -> Message:
    """Wait for the count-th message to rcpt and return it."""
    await wait_for(lambda: len(relay.to(rcpt)) >= count, what=f"mail #{count} to {rcpt}")
    return relay.to(rcpt)[count - 1].message


async def settled(service: Service) -> list[InboundMessage]:
    """Wait until every stored message is processed and what it queued is delivered; return them."""
    assert service.sessions is not None

    async def done() -> bool:
        async with service.sessions() as session:  # type: ignore[misc]
            statuses = (await session.scalars(select(InboundMessage.status))).all()
            outbound = (await session.scalars(select(OutboxMessage.status))).all()
        return all(status not in ("new", "processing") for status in statuses) and \
            all(status not in ("queued", "sending") for status in outbound)

    await wait_for(done, what="processing to finish")
    async with service.sessions() as session:
        return list((await session.scalars(select(InboundMessage).order_by(InboundMessage.id))).all())


async def api(service: Service, path: str) -> Any:
    async with aiohttp.ClientSession() as http:
        response = await http.get(f"http://127.0.0.1:{service.web_port}{path}",
                                  headers={"Authorization": "Bearer static-test-token"})
        assert response.status == 200
        return await response.json()
