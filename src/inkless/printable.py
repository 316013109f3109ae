"""Text taken from a message, made safe to store and to show: the one function for reasons.

A reason or an audit detail often quotes the message it is about (a header From, a bounce's
diagnostic). Mail can carry bytes that are not text in any charset; Python keeps them as lone
surrogates (`surrogateescape`), which neither SQLite nor PostgreSQL can store, and control
characters that would garble a log line or a page. `printable` escapes both, so recording an
outcome cannot fail because of what the message said.
"""

from __future__ import annotations

import unicodedata
from typing import Any

# Reasons are one line for an operator; a quoted header cannot make one arbitrarily long.
MAX_REASON = 2000


def _escape(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that surrogateescape kept: show the byte itself
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _shown(char: str, keep: str) -> bool:
    # Spaces of any script (U+3000 between Chinese words, no-break space) are text too.
    return char.isprintable() or char in keep or unicodedata.category(char) == "Zs"


def printable(text: str, *, limit: int | None = MAX_REASON, keep: str = "") -> str:
    """`text` with everything that is not printable (lone surrogates, control and format
    characters, line breaks unless in `keep`) written as a backslash escape, cut to `limit`
    characters (None: not cut).

    Printable text of any script passes unchanged: "已阅" stays "已阅", while the bytes
    `\\xff\\xfe` before an address come out as the eight characters `\\xff\\xfe`.
    """
    if not text.isprintable():
        text = "".join(char if _shown(char, keep) else _escape(char) for char in text)
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"


def printable_detail(value: Any) -> Any:
    """An audit detail (JSON: dicts, lists, strings, numbers) with every string storable and
    readable. Nothing is cut and line breaks stay: the audit log keeps what was said."""
    if isinstance(value, str):
        return printable(value, limit=None, keep="\n\t")
    if isinstance(value, dict):
        return {printable(str(key), limit=None): printable_detail(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [printable_detail(item) for item in value]
    return value
