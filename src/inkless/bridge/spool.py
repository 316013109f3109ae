"""The text of one SMTP DATA, read in blocks and spooled, not held as a list of lines.

aiosmtpd reads DATA a line at a time into a list of bytearrays and joins them at the end:
a 25 MB base64 attachment is 330,000 line objects (about 1.8 times the message) plus the
joined copy, and 330,000 awaits on the event loop. A DataSpool is fed whatever the socket
has delivered, finds the end (a line holding only a dot, RFC 5321 §4.5.2), removes the
dot-stuffing, counts the size and the line lengths as aiosmtpd does, and keeps the text in
memory up to SPOOL_IN_MEMORY, beyond that in a temporary file: at the end the message is
held once, as the bytes the handler stores.
"""

from __future__ import annotations

import enum
import tempfile

# Up to this size the text stays in memory; beyond it, in a temporary file.
SPOOL_IN_MEMORY = 1024 * 1024

_END = b"\r\n.\r\n"
_CRLF = b"\r\n"


class Problem(enum.Enum):
    """Why a DATA is refused once its end has been read (RFC 5321 §4.2.5: the answer waits)."""

    TOO_MUCH = "552 Error: Too much mail data"
    TOO_LONG = "500 Line too long (see RFC5321 4.5.3.1.6)"


class DataSpool:
    """Feed it the bytes after the 354, in any pieces: feed() says when the end has come."""

    def __init__(self, *, size_limit: int | None, line_limit: int) -> None:
        self._size_limit = size_limit
        self._line_limit = line_limit
        # Unread text: always the start of the current, unfinished line, after the line end
        # before it. The text begins at a line start, so it begins with a line end that is
        # not part of it (the first two bytes are skipped when written).
        self._pending = bytearray(_CRLF)
        self._skip = len(_CRLF)
        self._size = 0
        self._spool: tempfile.SpooledTemporaryFile[bytes] | None = tempfile.SpooledTemporaryFile(  # noqa: SIM115  # closed by message() or close()
            max_size=SPOOL_IN_MEMORY)
        self.problem: Problem | None = None

    def feed(self, chunk: bytes) -> bytes | None:
        """Take the next bytes; None while the end has not come, else what followed it
        (pipelined commands, usually b"")."""
        pending = self._pending
        searched_to = max(0, len(pending) - len(_END) + 1)
        pending += chunk
        end = pending.find(_END, searched_to)
        if end >= 0:
            rest = bytes(pending[end + len(_END):])
            if self.problem is None:
                self._take(end + len(_CRLF), since=searched_to)
            return rest
        if self.problem is not None:
            del pending[:-len(_END)]  # only the end can matter now
            return None
        cut = pending.rfind(_CRLF, max(0, searched_to - 1))
        if cut > 0:
            self._take(cut, since=searched_to)
        if self.problem is None and len(pending) - len(_CRLF) > self._line_limit:
            self._refuse(Problem.TOO_LONG)
        return None

    def message(self) -> bytes:
        """The whole text, without the final dot and without the stuffing; once."""
        assert self._spool is not None and self.problem is None
        self._spool.seek(0)
        text = self._spool.read()
        self.close()
        return text

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None

    def _take(self, cut: int, *, since: int) -> None:
        """Move the complete lines before `cut` (a line end) from pending into the spool."""
        pending = self._pending
        if self._longest_line(cut, since) + len(_CRLF) > self._line_limit:
            self._refuse(Problem.TOO_LONG)
            return
        self._size += cut - self._skip
        if self._size_limit and self._size > self._size_limit:
            self._refuse(Problem.TOO_MUCH)
            return
        lines = pending[:cut].replace(b"\r\n..", b"\r\n.")
        assert self._spool is not None
        self._spool.write(memoryview(lines)[self._skip:])
        self._skip = 0
        del pending[:cut]

    def _longest_line(self, cut: int, since: int) -> int:
        """The longest line that ends before `cut`; pending holds no line end between its first
        two bytes and `since`, so only the first line and those after `since` are measured."""
        pending = self._pending
        first = pending.find(_CRLF, max(len(_CRLF), since - 1))
        longest = first - len(_CRLF)
        if cut - first > self._line_limit:  # rare: a block bigger than a line may be
            start = first
            while start < cut:
                following = pending.find(_CRLF, start + len(_CRLF))
                longest = max(longest, following - start - len(_CRLF))
                start = following
        return longest

    def _refuse(self, problem: Problem) -> None:
        self.problem = problem
        self.close()
        del self._pending[:-len(_END)]
