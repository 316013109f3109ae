"""Reply tokens under random mutation (SPEC §7, issue 9): an altered token never verifies.

Valid tokens for random purposes, kinds, items and persons are mutated — characters flipped
within their class, inserted, deleted, replaced (ASCII, whitespace, look-alikes), case
changed, item and person swapped or changed, signature taken from another key or another
token — and `verify()` must return None unless the result is the original token in another
letter case (tokens are lower-case because MTAs may fold local parts; ASCII case is all an
MTA changes).
"""

from __future__ import annotations

import re
import string

from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from inkless.tokens import KINDS, PURPOSES, Token, TokenSigner

SECRET = "secret-key-for-the-hostile-token-suite"
SIGNER = TokenSigner(SECRET, "oa.test.gov")
OTHER_SIGNERS = [TokenSigner(SECRET + "x", "oa.test.gov"), TokenSigner("", "oa.test.gov"),
                 TokenSigner(SECRET.upper(), "oa.test.gov")]

_HEX = "0123456789abcdef"
_B32 = "abcdefghijklmnopqrstuvwxyz234567"
# What may be put into a token: its own alphabets, upper case, separators, whitespace and
# control characters, and non-ASCII look-alikes (KELVIN SIGN lower-cases to "k", LONG S
# upper-cases to "S", fullwidth digits, dotless i, Cyrillic а/е/о).
_NOISE = ("+-_.@= \t\n\r\x00" + string.ascii_uppercase + "K" + "ſ" + "０１２" + "ı" + "аео" + "İ")
CHARS = st.sampled_from(_HEX + _B32 + _NOISE)
# Characters whose str.lower() is an ASCII letter of a token: KELVIN SIGN → k.
_LOOK_ALIKES = {"k": "\u212a"}
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)

tokens = st.builds(Token, st.sampled_from(PURPOSES), st.sampled_from(sorted(KINDS)),
                   st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))


def _fields(local_part: str) -> re.Match[str]:
    match = re.fullmatch(r"(?P<purpose>[a-z]+)\+(?P<kind>[a-z])(?P<item>[0-9a-f]+)-(?P<person>[0-9a-f]+)-"
                         r"(?P<sig>[a-z2-7]{16})", local_part)
    assert match, local_part
    return match


@st.composite
def mutations(draw: st.DrawFn, token: Token) -> tuple[str, list[str]]:
    """A mutated local part of `token`, and the steps that made it."""
    text = SIGNER.local_part(token)
    steps: list[str] = []
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "replace", "case", "append", "look-alike",
                                   "swap-numbers", "change-number", "pad-number", "other-key", "graft-signature",
                                   "purpose", "kind", "truncate", "duplicate"]))
        if not text and op not in ("insert", "append"):
            op = "insert"
        at = draw(st.integers(0, max(0, len(text) - 1)))
        if op == "flip":  # a character of the same class: hex for hex, base32 for base32
            old = text[at]
            pool = _HEX if old in _HEX else _B32 if old in _B32 else _NOISE
            text = text[:at] + draw(st.sampled_from(pool)) + text[at + 1:]
        elif op == "insert":
            at = draw(st.integers(0, len(text)))
            text = text[:at] + draw(CHARS) + text[at:]
        elif op == "append":  # what a sloppy parser might leave on: a newline, a space, a dot
            text += draw(st.sampled_from(["\n", "\r\n", " ", ".", "\x00", "a", "="]))
        elif op == "look-alike":  # a non-ASCII character whose lower case is ASCII
            targets = [i for i, ch in enumerate(text) if ch in _LOOK_ALIKES]
            if targets:
                i = draw(st.sampled_from(targets))
                text = text[:i] + _LOOK_ALIKES[text[i]] + text[i + 1:]
        elif op == "delete":
            text = text[:at] + text[at + 1:]
        elif op == "replace":
            text = text[:at] + draw(CHARS) + text[at + 1:]
        elif op == "case":
            positions = draw(st.sets(st.integers(0, max(0, len(text) - 1)), max_size=len(text)))
            text = "".join(ch.upper() if i in positions else ch for i, ch in enumerate(text))
        elif op == "truncate":
            text = text[:at]
        elif op == "duplicate":
            end = draw(st.integers(at, len(text)))
            text = text[:end] + text[at:end] + text[end:]
        else:
            try:
                fields = _fields(text)
            except AssertionError:
                continue  # an earlier step broke the shape; these need it whole
            purpose, kind, item, person, sig = (fields["purpose"], fields["kind"], fields["item"], fields["person"],
                                                fields["sig"])
            if op == "swap-numbers":
                item, person = person, item
            elif op == "change-number":
                value = draw(st.integers(0, 2**64 - 1))
                if draw(st.booleans()):
                    item = f"{value:x}"
                else:
                    person = f"{value:x}"
            elif op == "pad-number":  # the same number with leading zeros (still at most 16 digits)
                if draw(st.booleans()):
                    item = ("0" * draw(st.integers(1, 3)) + item)[-16:] if len(item) < 16 else item
                else:
                    person = ("0" * draw(st.integers(1, 3)) + person)[-16:] if len(person) < 16 else person
            elif op == "other-key":
                sig = _fields(draw(st.sampled_from(OTHER_SIGNERS)).local_part(token))["sig"]
            elif op == "graft-signature":
                sig = _fields(SIGNER.local_part(draw(tokens)))["sig"]
            elif op == "purpose":
                purpose = draw(st.sampled_from(PURPOSES + ("Reply", "replies", "x", "")))
            else:
                kind = draw(st.sampled_from(sorted(KINDS) + ["z", "D", ""]))
            text = f"{purpose}+{kind}{item}-{person}-{sig}"
        steps.append(op)
    return text, steps


class AlteredTokenVerified(AssertionError):
    """verify() accepted a local part that is not the token it was made from."""


# One class per shape of alteration, so Hypothesis reports (and shrinks) each one it finds.
class VerifiedWithNonAscii(AlteredTokenVerified):
    pass


class VerifiedWithWhitespaceOrControl(AlteredTokenVerified):
    pass


class VerifiedWithLeadingZero(AlteredTokenVerified):
    pass


def altered_token_verified(original: str, mutated: str, result: Token) -> AlteredTokenVerified:
    message = f"{mutated!r} verified as {result} (made from {original!r})"
    if any(ord(ch) > 127 for ch in mutated):
        return VerifiedWithNonAscii(message)
    if any(ch in string.whitespace or ord(ch) < 32 for ch in mutated):
        return VerifiedWithWhitespaceOrControl(message)
    if re.search(r"\+[a-z]0[0-9a-f]|-0[0-9a-f]", mutated.translate(_ASCII_LOWER)):
        return VerifiedWithLeadingZero(message)
    return AlteredTokenVerified(message)


@st.composite
def token_and_mutation(draw: st.DrawFn) -> tuple[Token, str, list[str]]:
    token = draw(tokens)
    mutated, steps = draw(mutations(token))
    return token, mutated, steps


@settings(max_examples=2000, deadline=None, database=None, phases=[Phase.explicit, Phase.generate, Phase.shrink],
          suppress_health_check=[HealthCheck.too_slow])
@given(case=token_and_mutation())
def test_mutated_tokens_never_verify(case: tuple[Token, str, list[str]]) -> None:
    token, mutated, steps = case
    original = SIGNER.local_part(token)
    note(f"token {token}, original {original!r}, steps {steps}, mutated {mutated!r}")
    assert SIGNER.verify(original) == token
    result = SIGNER.verify(mutated)
    if mutated.translate(_ASCII_LOWER) == original:
        assert result == token, f"{mutated!r} is {original!r} in other letter case, yet does not verify"
    elif result is not None and SIGNER.local_part(result) != mutated.translate(_ASCII_LOWER):
        # (A mutation may rebuild another genuine token exactly: graft-signature takes the
        # signature of a token the signer made, swap-numbers then gives that token's numbers.
        # Verifying it is right; only a form the signer never made must fail.)
        raise altered_token_verified(original, mutated, result)


@settings(max_examples=300, deadline=None, database=None)
@given(token=tokens, signer=st.sampled_from(OTHER_SIGNERS))
def test_tokens_of_another_key_never_verify(token: Token, signer: TokenSigner) -> None:
    assert SIGNER.verify(signer.local_part(token)) is None
    assert signer.verify(SIGNER.local_part(token)) is None
