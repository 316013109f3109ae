"""How each mail client answers an Inkless approval request: its quote, its signature, its MIME.

A client style is a function from a Draft (the request, what the person typed, where the client
puts it) to the raw reply; TEXT_BODIES and HTML_BODIES give just the bodies, for the property tests.
One module per client family; this one lists the styles the corpus uses.
The shapes follow what the clients write by default: Outlook's header block (发件人:/From:) with an
unindented original, Gmail's "于…写道：" or "On … wrote:" with `>` lines and a gmail_quote div,
Thunderbird's bottom-posting under "在 2026/11/27 9:30, X 写道:", Apple Mail's quoted attribution,
Foxmail/QQ's "------------------ 原始邮件 ------------------", NetEase's "在 … 写道：" and
blockquote id="isReplyContent", and phone clients' "发自我的华为手机" footers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tests.replies.clients.apple import apple_html, apple_mail, apple_text
from tests.replies.clients.draft import Draft
from tests.replies.clients.gmail import gmail_bottom, gmail_html, gmail_text, gmail_top
from tests.replies.clients.netease import netease163, netease_html, netease_text
from tests.replies.clients.outlook import (
    outlook_en,
    outlook_html,
    outlook_html_body,
    outlook_text,
    outlook_word_html,
    outlook_zh,
)
from tests.replies.clients.phones import mobile, mobile_text
from tests.replies.clients.tencent import (
    foxmail,
    foxmail_text,
    qq_html,
    qq_html_body,
    qq_plain_text,
    qq_text,
)
from tests.replies.clients.thunderbird import (
    interleaved,
    interleaved_text,
    thunderbird,
    thunderbird_text,
)

__all__ = ["BY_NAME", "CLIENTS", "HTML_BODIES", "TEXT_BODIES", "Client", "Draft"]


@dataclass(frozen=True)
class Client:
    """A client style: how it builds a reply and how it posts (top, bottom, interleaved; HTML only or not)."""

    name: str
    build: Callable[[Draft], bytes]
    posting: str
    html_only: bool = False
    english: bool = False
    # Signatures this client marks so a reader can tell them from the text ("-- ").
    marked_signature: bool = False
    # Which PEOPLE (originals.py) use this client.
    people: tuple[int, ...] = ()


CLIENTS: tuple[Client, ...] = (
    Client("outlook_zh", outlook_zh, "top", people=(0, 1)),
    Client("outlook_en", outlook_en, "top", english=True, people=(8, 0)),
    Client("outlook_html", outlook_html, "top", html_only=True, english=True, people=(1, 8)),
    Client("gmail_top", gmail_top, "top", english=True, marked_signature=True, people=(3, 8)),
    Client("gmail_bottom", gmail_bottom, "bottom", english=True, marked_signature=True, people=(3, 8)),
    Client("thunderbird", thunderbird, "bottom", english=True, marked_signature=True, people=(6, 8)),
    Client("apple_mail", apple_mail, "top", english=True, people=(5, 8)),
    Client("foxmail", foxmail, "top", people=(4, 2)),
    Client("qq_text", qq_text, "top", people=(4,)),
    Client("qq_html", qq_html, "top", html_only=True, people=(4,)),
    Client("netease163", netease163, "top", people=(2,)),
    Client("mobile", mobile, "top", people=(7, 5)),
    Client("interleaved", interleaved, "interleaved", english=True, marked_signature=True, people=(6, 3)),
)
BY_NAME = {client.name: client for client in CLIENTS}

# The bodies alone, for tests that put generated text into each client's shape.
TEXT_BODIES: dict[str, Callable[[Draft], str]] = {
    "outlook_zh": lambda draft: outlook_text(draft, english=False),
    "outlook_en": lambda draft: outlook_text(draft, english=True),
    "gmail_top": lambda draft: gmail_text(draft, bottom_posted=False),
    "gmail_bottom": lambda draft: gmail_text(draft, bottom_posted=True),
    "thunderbird": thunderbird_text,
    "apple_mail": apple_text,
    "foxmail": foxmail_text,
    "qq_text": qq_plain_text,
    "netease163": netease_text,
    "mobile": lambda draft: mobile_text(draft)[0],
    "interleaved": interleaved_text,
}
HTML_BODIES: dict[str, Callable[[Draft], str]] = {
    "outlook_html": outlook_html_body,
    "outlook_word": lambda draft: outlook_word_html(draft, english=draft.english, own=draft.own),
    "gmail_top": lambda draft: gmail_html(draft, bottom_posted=False),
    "gmail_bottom": lambda draft: gmail_html(draft, bottom_posted=True),
    "apple_mail": apple_html,
    "qq_html": qq_html_body,
    "netease163": netease_html,
}
