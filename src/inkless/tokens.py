"""Signed return addresses: `reply+…@`, `bounce+…@`, `receipt+…@`.

A token names a purpose, the kind of item, the item and the person it was issued to, and
carries an HMAC over all four made with `secret_key`; a forged or altered token never
verifies. Tokens are lower-case so that MTAs which fold local parts do not break them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

# Purposes of mail addresses, and of links (never accepted as addresses).
ADDRESS_PURPOSES = ("reply", "bounce", "receipt")
LINK_PURPOSES = ("ack",)
PURPOSES = ADDRESS_PURPOSES + LINK_PURPOSES
# Item kinds: d = a recipient's copy of a document, n = a notice to a document's sender,
# a = an approval (one approver, one document version), v = a rejected version returned
# to its sender (their reply is the next version), m = a meeting attendee (their invitation),
# e = an event, to its organiser (their reply changes or cancels it), t = a supervision task,
# to a member of its unit (progress, done, extension), x = a task's extension request, to
# its owner (their reply grants or refuses it), p = a [公开] document held for publication, to
# one of its unit's leaders (their reply confirms it).
KINDS = frozenset("dnavmetxp")
_TOKEN = re.compile(r"(?P<kind>[a-z])(?P<item>[0-9a-f]{1,16})-(?P<person>[0-9a-f]{1,16})-(?P<sig>[a-z2-7]{16})")
_EMBEDDED = re.compile(r"(?:reply|bounce|receipt)\+[a-z][0-9a-f]{1,16}-[0-9a-f]{1,16}-[a-z2-7]{16}", re.IGNORECASE)


# Lower-case base32 (RFC 4648) of each 10 bits: a fan-out signs four tokens per copy, and
# base64.b32encode is Python code that costs as much as the HMAC.
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
_BASE32_PAIRS = [_BASE32[n >> 5] + _BASE32[n & 31] for n in range(1024)]


_SHIFTS = tuple(range(70, -1, -10))


def _base32(data: bytes) -> str:
    """base64.b32encode(data).decode().lower() for data of 10 bytes (no padding)."""
    value = int.from_bytes(data, "big")
    return "".join([_BASE32_PAIRS[(value >> shift) & 1023] for shift in _SHIFTS])


@dataclass(frozen=True)
class Token:
    """What a return address stands for."""

    purpose: str
    kind: str
    item: int
    person: int


class TokenSigner:
    """Makes and checks signed return addresses for one secret and one domain."""

    def __init__(self, secret_key: str, domain: str) -> None:
        self._key = hashlib.sha256(b"inkless-token\0" + secret_key.encode()).digest()
        self.domain = domain
        self._last: tuple[Token | None, str] = (None, "")

    def _signature(self, token: Token) -> str:
        message = f"{token.purpose}:{token.kind}:{token.item}:{token.person}".encode()
        return _base32(hmac.digest(self._key, message, "sha256")[:10])

    def local_part(self, token: Token) -> str:
        if token == self._last[0]:  # a copy's Message-ID and Reply-To carry the same token
            return self._last[1]
        if token.purpose not in PURPOSES or token.kind not in KINDS:
            raise ValueError(f"unknown token purpose or kind: {token}")
        local_part = f"{token.purpose}+{token.kind}{token.item:x}-{token.person:x}-{self._signature(token)}"
        self._last = (token, local_part)
        return local_part

    def address(self, token: Token) -> str:
        return f"{self.local_part(token)}@{self.domain}"

    def verify(self, local_part: str) -> Token | None:
        """The token a local part carries, or None when it is not one of ours or is forged."""
        if not local_part.isascii():
            # str.lower() folds look-alikes such as the Kelvin sign into ASCII: refuse them.
            return None
        purpose, plus, rest = local_part.lower().partition("+")
        if not plus or purpose not in PURPOSES:
            return None
        match = _TOKEN.fullmatch(rest)
        if match is None or match["kind"] not in KINDS:
            return None
        token = Token(purpose, match["kind"], int(match["item"], 16), int(match["person"], 16))
        # One spelling per token: the one local_part() makes (no leading zeros).
        if not hmac.compare_digest(self.local_part(token), f"{purpose}+{rest}"):
            return None
        return token

    def find(self, text: str) -> Token | None:
        """The first genuine token anywhere in a header value (References, Delivered-To …)."""
        return next(iter(self.find_all(text)), None)

    def find_all(self, text: str) -> list[Token]:
        """Every genuine token in a header value, in order."""
        found = (self.verify(match.group(0)) for match in _EMBEDDED.finditer(text or ""))
        return [token for token in found if token is not None]

    def message_id(self, token: Token, *, suffix: str = "") -> str:
        """A Message-ID that carries the token, so replies find it in References even when
        a client drops the `+tag` from the reply address."""
        return f"<{self.local_part(token)}{'.' + suffix if suffix else ''}@{self.domain}>"

    def verify_address(self, local_part: str) -> Token | None:
        """A token that may stand in a mail address (reply, bounce, receipt), or None."""
        token = self.verify(local_part)
        return token if token is not None and token.purpose in ADDRESS_PURPOSES else None

    def is_token_local_part(self, local_part: str) -> bool:
        """Whether the local part claims to be a token (so a bad one gets 550 5.7.1, not 5.1.1)."""
        return local_part.lower().partition("+")[0] in PURPOSES and "+" in local_part
