"""Decide what a message is: which addresses it reached and what its subject tags say."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from inkless.addresses import fold_address
from inkless.directory import Directory
from inkless.tokens import TokenSigner

# The 15 statutory document types (GB/T 9704 / 党政机关公文处理工作条例).
DOCUMENT_TYPES = ("决议", "决定", "命令", "公报", "公告", "通告", "意见", "通知", "通报",
                  "报告", "请示", "批复", "议案", "函", "纪要")
# Function tags: these never become documents and never go through sign-off.
FUNCTION_TAGS = {"会议": "meeting", "日程": "schedule", "督办": "task", "短消息": "short_message"}
PUBLIC_TAG = "公开"
# Urgency (紧急程度, GB/T 9704): the copies carry it and reminders come after working hours.
URGENCY_TAGS = ("特急", "加急")
_TAG = re.compile(r"^\s*[\[【]\s*([^\]】]{1,20}?)\s*[\]】]")


@dataclass(frozen=True)
class Subject:
    """A subject split into its leading tags and the title."""

    tags: tuple[str, ...]
    title: str

    def document_type(self, extra_types: tuple[str, ...] = ()) -> str | None:
        known = DOCUMENT_TYPES + extra_types
        return next((tag for tag in self.tags if tag in known), None)

    @property
    def public(self) -> bool:
        return PUBLIC_TAG in self.tags

    @property
    def urgency(self) -> str | None:
        return next((tag for tag in self.tags if tag in URGENCY_TAGS), None)

    @property
    def function(self) -> str | None:
        return next((FUNCTION_TAGS[tag] for tag in self.tags if tag in FUNCTION_TAGS), None)


def split_subject(subject: str, known_tags: frozenset[str]) -> Subject:
    """Take known leading tags (`[通知]`, `【公开】`, in any order) off the subject."""
    tags: list[str] = []
    rest = subject.strip()
    while True:
        match = _TAG.match(rest)
        if match is None or match.group(1).strip() not in known_tags:
            break
        tags.append(match.group(1).strip())
        rest = rest[match.end():]
    return Subject(tuple(tags), rest.strip())


def known_tags(extra_types: tuple[str, ...] = ()) -> frozenset[str]:
    return frozenset(DOCUMENT_TYPES + extra_types + tuple(FUNCTION_TAGS) + (PUBLIC_TAG,) + URGENCY_TAGS)


@dataclass(frozen=True)
class Routes:
    """Envelope recipients grouped by what Inkless does with them; `copies` are the unit
    addresses only copied (抄送: in the header Cc, not in To)."""

    units: tuple[str, ...]
    returns: tuple[str, ...]
    copies: tuple[str, ...] = ()

    @property
    def main(self) -> tuple[str, ...]:
        """The unit addresses that are main recipients (主送)."""
        return tuple(unit for unit in self.units if unit not in self.copies)


def _locals(addresses: Sequence[str], domain: str) -> set[str]:
    found = set()
    for address in addresses:
        local, _, host = address.rpartition("@")
        if fold_address(host) == domain:
            found.add(fold_address(local))
    return found


def route(recipients: list[str], *, domain: str, directory: Directory, signer: TokenSigner,
          to: Sequence[str] = (), cc: Sequence[str] = ()) -> Routes:
    """Split envelope recipients into unit addresses (incl. all@) and signed return addresses.

    A unit address in the header Cc and not in To is a copy (抄送); every other unit address
    the message was delivered to (To, or Bcc) is a main recipient (主送)."""
    units: list[str] = []
    returns: list[str] = []
    for recipient in recipients:
        local, _, host = recipient.rpartition("@")
        if fold_address(host) != domain:
            continue
        local = fold_address(local)
        if local == "all" or local in directory.units:
            if local not in units:
                units.append(local)
        elif local == "reply" or signer.verify_address(local) is not None:
            returns.append(local)
    in_to, in_cc = _locals(to, domain), _locals(cc, domain)
    copies = tuple(unit for unit in units if unit in in_cc and unit not in in_to and unit != "all")
    return Routes(tuple(units), tuple(returns), copies)
