"""Long base64 bodies kept out of the email parser, and read straight from the message.

The email package splits every body into line strings, joins them, and holds the result:
for a 25 MB attachment that is about three times its size at once, all Python objects.
Before a big message is parsed, each long run of lines made only of the base64 alphabet is
replaced by a short placeholder (unique to this parse); the parser sees a small message
with the same structure. A body that is nothing but one placeholder is decoded from the
message's own bytes; any other body that holds one gets its text back before anyone reads
it. A placeholder the parser put anywhere else (a preamble, say) makes the caller parse the
message the ordinary way.
"""

from __future__ import annotations

import binascii
import re
import secrets
from dataclasses import dataclass, field

# A run shorter than this is left to the parser.
MIN_RUN = 64 * 1024
# The message is searched this much at a time (the re module keeps the interpreter while it
# searches; the event loop waits for a thread that parses): a window ends where a run does not.
SCAN_WINDOW = 1024 * 1024

_ALPHABET = rb"A-Za-z0-9+/=\r\n"
# A run starts where the previous byte is not in it: without the look-behind, every start
# inside a run just shorter than MIN_RUN would be tried again (quadratic).
_RUN = re.compile(rb"(?<![" + _ALPHABET + rb"])[" + _ALPHABET + rb"]{" + str(MIN_RUN).encode() + rb",}")
_OUTSIDE = re.compile(rb"[^" + _ALPHABET + rb"]")
_CLEAN = re.compile(rb"[A-Za-z0-9+/\r\n]*(?:={1,2}[\r\n]*)?")


@dataclass
class Runs:
    """The runs taken out of one message: `reduced` is what the parser reads."""

    raw: bytes
    reduced: bytes
    marker: str
    spans: list[tuple[int, int]]
    restored: set[int] = field(default_factory=set)

    def holds(self, payload: str) -> bool:
        return self.marker in payload

    def decoded(self, payload: str) -> bytes | None:
        """The file of a body that is one placeholder of clean base64; else None."""
        index = self._index(payload.strip())
        if index is None:
            return None
        start, end = self.spans[index]
        raw = self.raw
        quartets = end - start - raw.count(b"\r", start, end) - raw.count(b"\n", start, end)
        if quartets % 4 or not _CLEAN.fullmatch(raw, start, end):
            return None
        try:
            data = binascii.a2b_base64(memoryview(raw)[start:end])
        except binascii.Error:
            return None
        self.restored.add(index)
        return data

    def restore(self, payload: str) -> str:
        """The body's text as the message has it."""
        pieces = payload.split(self.marker)
        text = [pieces[0]]
        for piece in pieces[1:]:
            digits = len(piece) - len(piece.lstrip("0123456789"))
            index = int(piece[:digits]) if digits else None
            if index is None or index >= len(self.spans):  # not one of ours: keep as it was
                text.append(self.marker + piece)
                continue
            start, end = self.spans[index]
            self.restored.add(index)
            text.append(self.raw[start:end].decode("ascii") + piece[digits:])
        return "".join(text)

    @property
    def complete(self) -> bool:
        """Whether every run went back where it came from."""
        return len(self.restored) == len(self.spans)

    def _index(self, text: str) -> int | None:
        if not text.startswith(self.marker):
            return None
        digits = text[len(self.marker):]
        if not digits.isdigit() or not digits.isascii() or int(digits) >= len(self.spans):
            return None
        return int(digits)


def take_out(raw: bytes) -> Runs | None:
    """The message with its long base64 runs replaced; None when it has none."""
    spans = list(_spans(raw))
    if not spans:
        return None
    marker = f"INKLESSRUN{secrets.token_hex(8)}N"
    view = memoryview(raw)
    pieces: list[bytes | memoryview] = []
    previous = 0
    for index, (start, end) in enumerate(spans):
        pieces += [view[previous:start], f"{marker}{index}".encode()]
        previous = end
    pieces.append(view[previous:])
    return Runs(raw=raw, reduced=b"".join(pieces), marker=marker, spans=spans)


def _spans(raw: bytes) -> list[tuple[int, int]]:
    """(start, end) of each run: from the start of a line that is not blank to the end of a
    line, without that last line end (it stays, so the parser ends the body as before)."""
    spans = []
    position = 0
    while position < len(raw):
        window_end = min(position + SCAN_WINDOW, len(raw))
        outside = _OUTSIDE.search(raw, window_end)
        window_end = outside.start() if outside else len(raw)
        for match in _RUN.finditer(raw, position, window_end):
            start, end = match.span()
            if start > 0 and raw[start - 1] != 0x0A:  # begins inside a line: from the next one
                start = raw.find(b"\n", start, end) + 1 or end
            while start < end and raw[start] in b"\r\n":  # blank lines (a header's end) stay
                start += 1
            end = raw.rfind(b"\n", start, end)
            if end > 0 and raw[end - 1] == 0x0D:
                end -= 1
            if end - start >= MIN_RUN:
                spans.append((start, end))
        position = window_end
    return spans
