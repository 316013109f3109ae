"""The chat bot inside `inkless serve`: python-telegram-bot on the service's event loop.

Updates arrive by long polling, or by webhook when `telegram.webhook_url` is set (the
service's aiohttp app receives them). A chat learns nothing before it is linked; once
linked, its buttons and commands act for that person only, and every button re-checks
that the item is still open (a decision by mail or desk makes the button stale).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Update
from telegram.error import InvalidToken, NetworkError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from inkless.chat.outbox import ChatOutbox, Pace
from inkless.chat.telegram.buttons import Buttons
from inkless.chat.telegram.commands import Commands
from inkless.chat.telegram.sender import TelegramChannel
from inkless.clock import Clock
from inkless.config import Config
from inkless.office import Office
from inkless.storage import queries

log = logging.getLogger(__name__)
DEFAULT_API = "https://api.telegram.org"


class ChatBot:
    """The bot: its PTB Application, the update handlers, and the chat outbox worker."""

    def __init__(self, *, config: Config, sessions: async_sessionmaker[AsyncSession], office: Callable[[], Office],
                 clock: Clock, on_queued: Callable[[], None], claimer: Callable[[], queries.Claimer]) -> None:
        settings = config.telegram
        assert settings.token, "the bot runs only with telegram.token"
        self.config = config
        self.commands = Commands(config=config, sessions=sessions, office=office, clock=clock, on_queued=on_queued)
        self.buttons = Buttons(config=config, sessions=sessions, office=office, clock=clock, on_queued=on_queued)
        root = settings.base_url or DEFAULT_API
        self.application = self._build(root)
        self.state = "starting"
        self.sender = ChatOutbox(channel=TelegramChannel(self.application.bot), sessions=sessions, office=office,
                                 pace=Pace(settings.max_per_second, settings.per_chat_interval),
                                 batch=max(1, int(settings.max_per_second)), worker_settings=config.worker,
                                 clock=clock, claimer=claimer)
        # The webhook path carries a secret derived from the token, so only Telegram knows it.
        self.webhook_secret = hashlib.sha256(b"inkless-webhook\0" + settings.token.encode()).hexdigest()[:32]

    def _build(self, root: str) -> Application[Any, Any, Any, Any, Any, Any]:
        settings = self.config.telegram
        builder = (Application.builder().token(settings.token or "").base_url(f"{root}/bot")
                   .base_file_url(f"{root}/file/bot").get_updates_read_timeout(settings.poll_timeout + 10))
        application = builder.build()
        commands = self.commands
        for name, handler in (("start", commands.on_start), ("unlink", commands.on_unlink), ("help", commands.on_help),
                              ("desk", commands.on_desk), ("pending", commands.on_pending),
                              ("today", commands.on_today), ("send", commands.on_send)):
            application.add_handler(CommandHandler(name, handler))
        application.add_handler(CallbackQueryHandler(self.buttons.on_button))
        application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, self.buttons.on_text))
        application.add_error_handler(self.on_error)
        return application

    # Lifecycle -----------------------------------------------------------------------

    async def run(self) -> None:
        """Start the bot (retrying while the Bot API cannot be reached), then send the chat outbox."""
        backoff = 1.0
        while True:
            try:
                await self.start()
                break
            except InvalidToken as error:
                self.state = f"stopped: telegram.token refused: {error}"
                log.error("chat bot: %s", self.state)
                return
            except NetworkError as error:
                self.state = f"connecting: {error}"
                log.warning("chat bot: cannot reach the Bot API (%s); retrying in %.0f s", error, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 60.0)
        self.state = "ok"
        await self.sender.run()

    async def start(self) -> None:
        settings = self.config.telegram
        await self.application.initialize()
        if not self.application.running:
            await self.application.start()
        if settings.webhook_url:
            await self.application.bot.set_webhook(f"{settings.webhook_url}/{self.webhook_secret}",
                                                   allowed_updates=["message", "callback_query"],
                                                   secret_token=self.webhook_secret)
        else:
            assert self.application.updater is not None
            await self.application.updater.start_polling(timeout=settings.poll_timeout, poll_interval=0,
                                                         allowed_updates=["message", "callback_query"])

    async def stop(self) -> None:
        if not self.application.running:
            await self.application.shutdown()
            return
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()

    async def feed_webhook(self, data: dict[str, Any]) -> None:
        """An update Telegram posted to the webhook."""
        await self.application.update_queue.put(Update.de_json(data, self.application.bot))

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("chat update failed: %s: %s", type(context.error).__name__, context.error)
