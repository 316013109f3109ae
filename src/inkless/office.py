"""What the office's work runs with besides a database session: its settings, its people, its tokens."""

from __future__ import annotations

from dataclasses import dataclass

from inkless.config import Config
from inkless.directory import Directory
from inkless.tokens import TokenSigner


@dataclass(frozen=True)
class Office:
    """What handlers, the scheduler and the edges use besides the session: settings, people, tokens."""

    config: Config
    directory: Directory
    signer: TokenSigner
