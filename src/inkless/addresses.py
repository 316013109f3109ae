"""Mail addresses as Inkless compares them: ASCII letters case-folded, nothing else changed.

`str.lower()` is not safe for this: it maps look-alikes such as the Kelvin sign (U+212A) to
ASCII "k", so "cler\u212a@test.gov" would become a member's address. A full-width letter or a
Kelvin sign is another character, so an address with one is another address (a stranger's).
"""

from __future__ import annotations

import string

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def fold_address(address: str) -> str:
    """The address to compare and look up: outer spaces off, A-Z in lower case, every other
    character as written."""
    return address.strip().translate(_ASCII_LOWER)
