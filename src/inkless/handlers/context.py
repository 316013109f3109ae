"""What a pipeline step gets: one message, its transaction, and the office around it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from inkless.clock import Clock
from inkless.config import Config
from inkless.directory import Directory, PersonInfo
from inkless.handlers.classify import Routes, Subject
from inkless.mail.parse import ParsedMessage
from inkless.office import Office
from inkless.storage.models import InboundMessage
from inkless.tokens import TokenSigner


@dataclass
class Context:
    """Everything a handler may use while processing one message, in one transaction."""

    session: AsyncSession
    config: Config
    directory: Directory
    signer: TokenSigner
    clock: Clock
    inbound: InboundMessage
    message: ParsedMessage
    routes: Routes
    # The subject split into its tags and title, read once for every handler.
    subject: Subject
    # Filled in by the sender check for the handlers after it.
    sender: PersonInfo | None = None
    # Whether the return's token came in an address the mail was sent to (see
    # returns.find_token), not only in References/In-Reply-To; set by the return router.
    # Only an addressed token can decide anything.
    token_addressed: bool = False

    @property
    def inbound_id(self) -> int:
        """The message's id, readable even after its transaction was rolled back (for `tell`)."""
        return self._inbound_id

    def __post_init__(self) -> None:
        self._inbound_id = self.inbound.id

    @property
    def office(self) -> Office:
        return Office(self.config, self.directory, self.signer)


class Handler(Protocol):
    """One step of a pipeline."""

    name: str

    async def process(self, ctx: Context) -> None: ...
