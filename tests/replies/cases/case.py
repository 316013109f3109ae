"""A labelled case: what an approver typed, the decision it carries and why."""

from __future__ import annotations

from dataclasses import dataclass

APPROVE, REJECT, UNCLEAR = "approve", "reject", "unclear"


@dataclass(frozen=True)
class Case:
    """One reply's own text (or its parts), the decision it carries and a short why."""

    text: str
    label: str
    adversarial: bool
    note: str
    english: bool = False
    # Interleaved replies: the text typed after each quoted chunk (the case then needs that client).
    parts: tuple[str, ...] = ()
    # A signature under a "-- " marker (the case then needs a client that writes one).
    signature: str = ""
    # The own text as the person formatted it in an HTML editor (HTML-only clients).
    own_html: str = ""
    # The quoted request also shows an earlier approver's "同意".
    earlier: bool = False
    clients: tuple[str, ...] = ()


def cases(label: str, adversarial: bool, rows: tuple[tuple[str, str], ...], *, english: bool = False) -> list[Case]:
    return [Case(text, label, adversarial, note, english=english) for text, note in rows]
