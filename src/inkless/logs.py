"""Logging: one format, quiet libraries, and no secret in any log record.

HTTP client libraries log each request's URL at INFO (httpx: `HTTP Request: POST
https://api.telegram.org/bot<token>/getUpdates`), and Bot API URLs carry the bot token. Those
loggers are kept at WARNING. Whatever else might quote a secret (an exception naming a URL, a
library's debug line) is covered by `hide_secrets`: every record created while a service runs
has the configured secrets replaced by `***`, whichever logger made it and whichever handler
writes it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from urllib.parse import quote, unquote, urlsplit

from inkless.config import Config

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Loggers that log request URLs (with tokens in them), SQL parameters or protocol chatter at
# INFO or DEBUG.
QUIET = ("httpx", "httpcore", "hpack", "aiosqlite", "alembic", "mail.log")
# Shorter values are not worth hiding: replacing them would garble every line that holds them.
MIN_SECRET = 4
MASK = "***"


def configure() -> None:
    """The logging of `inkless` commands: INFO and above to standard error, libraries quiet."""
    logging.basicConfig(level=logging.INFO, format=FORMAT)
    quiet_libraries()


def quiet_libraries() -> None:
    """Keep the loggers that write request URLs (and with them tokens) at WARNING."""
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)


def config_secrets(config: Config) -> set[str]:
    """Every secret a configuration holds: secret_key, passwords in the database, relay and IMAP
    URLs (and IMAP passwords from the environment), the bot token, WeCom's secret, callback token
    and AES key, static API tokens."""
    found = {config.secret_key, *config.api.tokens}
    if config.telegram.token:
        found.add(config.telegram.token)
    if config.wecom is not None:
        found |= {config.wecom.secret, config.wecom.token, config.wecom.encoding_aes_key}
    for url in (config.database, config.relay.url, *(mailbox.url for mailbox in config.imap)):
        password = urlsplit(url).password
        if password:
            found |= {password, unquote(password)}
    for mailbox in config.imap:
        if mailbox.password_env and os.environ.get(mailbox.password_env):
            found.add(os.environ[mailbox.password_env])
    return found


class _Redactor:
    """Wraps the log record factory: a record's message and traceback lose every secret."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders: dict[object, frozenset[str]] = {}
        self._secrets: tuple[str, ...] = ()
        self._previous = logging.getLogRecordFactory()
        self._installed = False

    def add(self, holder: object, secrets: Iterable[str]) -> None:
        with self._lock:
            self._holders[holder] = frozenset(secrets)
            self._update()
            if not self._installed:
                self._previous = logging.getLogRecordFactory()
                logging.setLogRecordFactory(self._make_record)
                self._installed = True

    def remove(self, holder: object) -> None:
        with self._lock:
            self._holders.pop(holder, None)
            self._update()

    def _update(self) -> None:
        variants = set()
        for secret in set().union(*self._holders.values()) if self._holders else ():
            if len(secret) >= MIN_SECRET:
                variants |= {secret, quote(secret, safe=""), quote(secret)}
        # Longest first, so a secret containing another is hidden whole.
        self._secrets = tuple(sorted(variants, key=len, reverse=True))

    def hide(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def _make_record(self, *args: object, **kwargs: object) -> logging.LogRecord:
        record = self._previous(*args, **kwargs)
        if not self._secrets:
            return record
        message = record.getMessage()
        hidden = self.hide(message)
        if hidden != message:
            record.msg, record.args = hidden, None
        if record.exc_info and record.exc_info[1] is not None:
            # Format the traceback now (handlers reuse exc_text) so it is searched too.
            record.exc_text = self.hide(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = self.hide(record.stack_info)
        return record


_REDACTOR = _Redactor()


def hide_secrets(holder: object, secrets: Iterable[str]) -> None:
    """From now on, log records lose these secrets (until `show_secrets(holder)`)."""
    _REDACTOR.add(holder, secrets)


def show_secrets(holder: object) -> None:
    """Stop hiding the secrets `holder` registered (a service that stopped)."""
    _REDACTOR.remove(holder)
