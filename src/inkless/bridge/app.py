"""The service lifecycle: build the parts, run them on one loop, stop them cleanly.

Start order: database (migrate under a lock) → org import → directory → SMTP ingress,
inbound worker, outbound worker, web. Stop order is the reverse of acceptance: stop
accepting SMTP, let the workers finish what they hold, close the web, close the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import faulthandler
import logging
import os
import secrets
import signal
import socket
from collections.abc import Callable
from functools import partial

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from inkless.bridge import malloc
from inkless.bridge.heartbeat import Heartbeat
from inkless.bridge.imap import ImapIngress
from inkless.bridge.inbox import InboxWorker
from inkless.bridge.outbox import OutboxWorker
from inkless.bridge.pressure import IngestPressure
from inkless.bridge.relay import build_relay
from inkless.bridge.scheduler import Scheduler
from inkless.bridge.smtp import IngressHandler, InklessSMTP
from inkless.bridge.store import InboundStore, SessionInboundStore, SqliteInboundStore
from inkless.chat.telegram.bot import ChatBot
from inkless.chat.wecom.app import WecomApp
from inkless.clock import Clock
from inkless.config import Config
from inkless.config.sections import split_listen
from inkless.directory import Directory
from inkless.errors import InklessError
from inkless.logs import config_secrets, hide_secrets, quiet_libraries, show_secrets
from inkless.office import Office
from inkless.org import load_org
from inkless.storage import migrate
from inkless.storage.engine import create_engine, session_factory
from inkless.storage.org import import_org, load_directory
from inkless.tokens import TokenSigner
from inkless.web.app import init_app
from inkless.worker import Worker, pause

log = logging.getLogger(__name__)
ORG_LOCK_KEY = 0x1A4B1E56
DIRECTORY_REFRESH = 30.0
# Seconds a stop waits for the scheduler, heartbeat and directory loops to end their round.
ROUND_END_WAIT = 30.0


async def prepare_database(config: Config, engine: AsyncEngine, clock: Clock) -> None:
    """Migrate to the latest schema and import the org file, safe with several processes."""
    await migrate.upgrade(engine, config.sqlite_path)
    path = config.org_path
    if path is None:
        return
    spec = load_org(path)
    async with session_factory(engine)() as session, session.begin():
        if engine.dialect.name == "postgresql":
            await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ORG_LOCK_KEY})
        await import_org(session, spec, now=clock.now())


class Service:
    """One `inkless serve` process."""

    def __init__(self, config: Config, *, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or Clock()
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.signer = TokenSigner(config.secret_key, config.domain)
        self.engine: AsyncEngine | None = None
        self.sessions: async_sessionmaker[AsyncSession] | None = None
        # The inbound and outbound workers' own engine: on SQLite their statements run on the
        # loop's thread (storage/engine.py, _InlineCursor); on PostgreSQL it is `engine`.
        self.worker_engine: AsyncEngine | None = None
        self.directory = Directory([], [])
        self.store: InboundStore | None = None
        self.inbox: InboxWorker | None = None
        self.outbox: OutboxWorker | None = None
        self.pressure = IngestPressure()
        self.scheduler: Scheduler | None = None
        self.heartbeat: Heartbeat | None = None
        self.imap: list[ImapIngress] = []
        self.bot: ChatBot | None = None
        self.wecom: WecomApp | None = None
        self._smtp_server: asyncio.AbstractServer | None = None
        self._web_runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        # Set at stop: the scheduler and directory loops end between rounds, and (last, once the
        # workers are done) the heartbeat. Cleared at each start.
        self._stopping = asyncio.Event()
        self._heartbeat_stopping = asyncio.Event()
        self.smtp_port = 0
        self.web_port = 0

    async def start(self) -> None:
        """Bring every part up; raise InklessError (one clear line) when one cannot start."""
        config = self.config
        self._stopping.clear()
        self._heartbeat_stopping.clear()
        # Before anything can log a request URL with the bot token in it, or quote a password.
        quiet_libraries()
        hide_secrets(self, config_secrets(config))
        for index, mailbox in enumerate(config.imap):
            if mailbox.password_env and mailbox.password_env not in os.environ:
                # Checked here, not when the config is read: other commands need no password.
                raise InklessError(f"imap[{index}].password_env: environment variable {mailbox.password_env} "
                                   "is not set")
        self.engine = create_engine(config)
        try:
            await prepare_database(config, self.engine, self.clock)
        except InklessError:
            raise
        except Exception as exc:
            raise InklessError(f"database: cannot open {safe_url(config.database)}: {type(exc).__name__}: {exc}") \
                from None
        self.sessions = session_factory(self.engine)
        self.worker_engine = create_engine(config, inline=True) if config.sqlite_path is not None else self.engine
        worker_sessions = session_factory(self.worker_engine)
        await self.refresh_directory()
        # The heartbeat is written before the first claim, so no claim of ours looks abandoned.
        self.heartbeat = Heartbeat(sessions=self.sessions, clock=self.clock, holder=self.worker_id,
                                   settings=config.worker, sqlite_path=config.sqlite_path)
        await self.heartbeat.start()
        claimer = self.heartbeat.claimer
        path = config.sqlite_path
        self.store = SqliteInboundStore(path, self.clock) if path is not None \
            else SessionInboundStore(self.sessions, self.clock)
        pressure = self.pressure
        self.outbox = OutboxWorker(
            pressure=pressure,
            sessions=worker_sessions,
            relay=build_relay(config.relay.url, maildir=config.maildir_path, hostname=config.domain,
                              timeout=config.relay.timeout),
            settings=config.relay, worker_settings=config.worker, clock=self.clock, claimer=claimer)
        self.inbox = InboxWorker(
            pressure=pressure,
            sessions=worker_sessions, config=config, directory=lambda: self.directory, signer=self.signer,
            clock=self.clock, claimer=claimer, on_processed=self.wake_senders)
        inbox = self.inbox

        def stored() -> None:
            pressure.arrived()
            inbox.wakeup.set()

        self.imap = [ImapIngress(mailbox=mailbox, domain=config.domain, store=self.store, sessions=self.sessions,
                                 clock=self.clock, on_stored=stored, holder=self.worker_id) for mailbox in config.imap]
        handler = IngressHandler(config=config, directory=lambda: self.directory, signer=self.signer,
                                 store=self.store, on_stored=stored, on_activity=pressure.arrived)
        loop = asyncio.get_running_loop()
        host, port = split_listen(config.smtp.listen)
        # No authenticator: mail comes from the MTA in front, so AUTH is not offered (aiosmtpd
        # offers it only over TLS, which Inkless does not speak) rather than offered and failed.
        factory = partial(InklessSMTP, handler, hostname=config.smtp.hostname or config.domain,
                          ident="Inkless ESMTP", data_size_limit=config.smtp.max_message_size,
                          enable_SMTPUTF8=True, timeout=300)
        try:
            self._smtp_server = await loop.create_server(factory, host, port)
        except OSError as exc:
            raise InklessError(f"smtp.listen: cannot listen on {config.smtp.listen}: {_os_reason(exc)}") from None
        self.smtp_port = self._smtp_server.sockets[0].getsockname()[1]
        if config.telegram.token:
            self.bot = ChatBot(config=config, sessions=self.sessions, office=self.office, clock=self.clock,
                               on_queued=self.wake_senders, claimer=claimer)
            hide_secrets(self, config_secrets(config) | {self.bot.webhook_secret})
        if config.wecom is not None:
            self.wecom = WecomApp(config=config, sessions=self.sessions, office=self.office, clock=self.clock,
                                  on_queued=self.wake_senders, claimer=claimer)
        app = init_app(config=config, sessions=self.sessions, clock=self.clock, office=self.office,
                       on_queued=self.wake_senders, health=self._health_probes(),
                       chat=lambda: self.bot, wecom=lambda: self.wecom, on_stored=stored)
        self._web_runner = web.AppRunner(app, access_log=None)
        await self._web_runner.setup()
        host, port = split_listen(config.web.listen)
        site = web.TCPSite(self._web_runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise InklessError(f"web.listen: cannot listen on {config.web.listen}: {_os_reason(exc)}") from None
        self.web_port = self._web_runner.addresses[0][1]
        self.scheduler = Scheduler(sessions=self.sessions, office=self.office, clock=self.clock,
                                   interval=config.worker.scheduler_interval, on_queued=self.wake_senders,
                                   holder=self.worker_id)
        self._tasks = [asyncio.create_task(coro, name=name) for name, coro in (
            ("heartbeat", self.heartbeat.run(self._heartbeat_stopping)), ("inbox", self.inbox.run()),
            ("outbox", self.outbox.run()), ("scheduler", self.scheduler.run(self._stopping)),
            ("directory", self._refresh_loop()), *((f"imap:{i.name}", i.run()) for i in self.imap),
            *((("chat", self.bot.run()),) if self.bot is not None else ()),
            *((("wecom", self.wecom.sender.run()),) if self.wecom is not None else ()))]
        log.info("inkless serving: smtp %s:%s, web %s:%s, relay %s", split_listen(config.smtp.listen)[0],
                 self.smtp_port, host, self.web_port, safe_url(config.relay.url))

    def wake_senders(self) -> None:
        """Something was queued: mail, and bot messages when the bot runs."""
        assert self.outbox is not None
        self.outbox.wakeup.set()
        if self.bot is not None:
            self.bot.sender.wakeup.set()
        if self.wecom is not None:
            self.wecom.sender.wakeup.set()

    def office(self) -> Office:
        """What handlers use, with the current directory."""
        return Office(self.config, self.directory, self.signer)

    def _health_probes(self) -> dict[str, Callable[[], str]]:
        stall_after = self.config.worker.stall_after

        def task_state(name: str) -> str:
            task = next((t for t in self._tasks if t.get_name() == name), None)
            if task is None or task.done():
                return "stopped"
            return "ok"

        def worker_state(name: str, worker: Worker | None) -> str:
            state = task_state(name)
            return worker.health(stall_after) if state == "ok" and worker is not None else state

        def chat_state() -> str:
            if self.bot is None:
                return "stopped"
            return self.bot.state if self.bot.state != "ok" else self.bot.sender.health(stall_after)

        probes: dict[str, Callable[[], str]] = {
            "smtp": lambda: "ok" if self._smtp_server is not None and self._smtp_server.is_serving() else "stopped",
            "inbox": lambda: worker_state("inbox", self.inbox),
            "outbox": lambda: worker_state("outbox", self.outbox),
        }
        for ingress in self.imap:
            probes[f"imap:{ingress.name}"] = partial(getattr, ingress, "state")
        if self.config.telegram.token:
            probes["chat"] = chat_state
        if self.config.wecom is not None:
            def wecom_state() -> str:
                if self.wecom is None:
                    return "stopped"
                state = worker_state("wecom", self.wecom.sender)
                return self.wecom.state if state == "ok" else state
            probes["wecom"] = wecom_state
        return probes

    async def refresh_directory(self) -> None:
        assert self.sessions is not None
        async with self.sessions() as session:
            self.directory = await load_directory(session)

    async def _refresh_loop(self) -> None:
        # Another process may import a new org file; pick it up without a restart.
        while not await pause(self._stopping, DIRECTORY_REFRESH):
            try:
                await self.refresh_directory()
            except Exception:
                log.exception("directory refresh failed; keeping the previous one")

    async def stop(self) -> None:
        """Stop accepting, finish in-flight work, release everything."""
        if self._smtp_server is not None:
            self._smtp_server.close()
        tasks = {task.get_name(): task for task in self._tasks}
        # IMAP ingress stops reading first; what it stored is then processed like SMTP mail.
        for ingress in self.imap:
            ingress.stop()
        await asyncio.gather(*(tasks[f"imap:{i.name}"] for i in self.imap if f"imap:{i.name}" in tasks),
                             return_exceptions=True)
        # The scheduler and the directory refresh are asked to end between rounds, never
        # cancelled in one (worker.pause says why); they finish while the workers drain.
        self._stopping.set()
        # Inbound first: what it processes queues outbound mail and bot messages, then sent.
        for name, worker in (("inbox", self.inbox), ("outbox", self.outbox),
                             ("chat", self.bot.sender if self.bot is not None else None),
                             ("wecom", self.wecom.sender if self.wecom is not None else None)):
            if worker is not None and name in tasks:
                worker.stop()
                await asyncio.gather(tasks[name], return_exceptions=True)
        await _end_rounds([tasks[name] for name in ("directory", "scheduler") if name in tasks])
        # The heartbeat beats until the workers are done: other processes must not take over
        # claims this one is still working on.
        self._heartbeat_stopping.set()
        await _end_rounds([tasks["heartbeat"]] if "heartbeat" in tasks else [])
        if self.bot is not None:
            await self.bot.stop()
        if self.wecom is not None:
            await self.wecom.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._web_runner is not None:
            await self._web_runner.cleanup()
        if self.store is not None:
            await self.store.close()
        if self.heartbeat is not None:
            await self.heartbeat.stop()
        if self.worker_engine is not None and self.worker_engine is not self.engine:
            await self.worker_engine.dispose()
        if self.engine is not None:
            await self.engine.dispose()
        show_secrets(self)

    async def run_until_signalled(self) -> None:
        """Start, serve until SIGINT/SIGTERM, stop."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await self.start()
            await stop.wait()
            log.info("shutting down")
        finally:
            await self.stop()


async def _end_rounds(loops: list[asyncio.Task[None]]) -> None:
    """Wait for loops asked to stop to end their round; one still busy after ROUND_END_WAIT
    seconds is cancelled after all."""
    if not loops:
        return
    _, late = await asyncio.wait(loops, timeout=ROUND_END_WAIT)
    for task in late:
        log.warning("%s: still busy %.0f s after the stop; cancelled", task.get_name(), ROUND_END_WAIT)
        task.cancel()


def _os_reason(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "address already in use"
    return exc.strerror or str(exc)


def safe_url(url: str) -> str:
    """A URL with its password hidden (for logs and messages)."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.partition(":")[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else url


def run_service(config: Config) -> None:
    """Run `inkless serve` on uvloop when available. SIGUSR1 writes every thread's stack to
    standard error (a service that does not stop or answer can be asked where it is)."""
    malloc.keep_big_buffers_apart()
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    service = Service(config)
    try:
        import uvloop
    except ImportError:
        asyncio.run(service.run_until_signalled())
        return
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(service.run_until_signalled())
