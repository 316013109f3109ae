"""Recognise automatic mail (RFC 3834 and the headers and subjects real systems use)."""

from __future__ import annotations

import re

from inkless.mail.parse import ParsedMessage

AUTO_SUBJECT = re.compile(
    r"^\s*(自动回复|自动答复|自动应答|外出|休假|Automatic reply|Auto[- ]?Reply|Auto[- ]?Response|AutoAntwort"
    r"|Out of (the )?Office|Abwesenheit)", re.IGNORECASE)
AUTO_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Response-Suppress")
AUTO_PRECEDENCE = frozenset({"bulk", "junk", "auto_reply", "list"})


def automatic_reason(message: ParsedMessage, envelope_sender: str) -> str | None:
    """Why a message is automatic (never a decision, never answered), or None for a human's mail."""
    if not envelope_sender:
        return "null envelope sender"
    auto_submitted = message.header("Auto-Submitted").lower()
    if auto_submitted and auto_submitted.split(";")[0].strip() != "no":
        return f"Auto-Submitted: {auto_submitted}"
    for name in AUTO_HEADERS:
        if message.message.get(name) is not None:
            return f"{name} header"
    precedence = message.header("Precedence").lower().strip()
    if precedence in AUTO_PRECEDENCE:
        return f"Precedence: {precedence}"
    if AUTO_SUBJECT.match(message.subject):
        return f"automatic-reply subject: {message.subject[:60]}"
    return None
