"""InklessError for users' mistakes, and the outcomes a pipeline handler may raise."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


class InklessError(Exception):
    """An error a user caused (bad config, bad org file, port in use): one clear line, exit 2."""


class ConfigError(InklessError):
    """The configuration file or environment is invalid."""


class OrgError(InklessError):
    """The organisation file is invalid."""


class PipelineOutcome(Exception):
    """Raised by a handler to end a message's processing; caught only in pipeline.run.

    Everything a handler wrote is undone; `tell` (given the transaction that records the
    outcome) queues what the sender should be told of it."""

    def __init__(self, reason: str, tell: Callable[[AsyncSession], Awaitable[None]] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.tell = tell


class Quarantine(PipelineOutcome):
    """The message cannot be processed: keep it, with the reason, for an operator."""


class Discard(PipelineOutcome):
    """The message needs no action (e.g. an automatic reply); it is audited and kept."""


class Retry(PipelineOutcome):
    """A transient condition: leave the message queued and try again later."""
