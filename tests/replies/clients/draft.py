"""A reply to write (Draft) and the pieces every client style is made of: quotes, ids, headers, MIME."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from html import escape

from tests.replies import mime
from tests.replies.originals import ASKED, Request

HEX = "0123456789abcdef"
DIGITS = "0123456789"
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


@dataclass(frozen=True)
class Draft:
    """One reply to write: what the person typed and where their client puts it."""

    request: Request
    own: str = ""
    # Interleaved replies: the text typed after each quoted chunk.
    parts: tuple[str, ...] = ()
    # A signature under a marker the client writes ("-- "), or "" for none.
    signature: str = ""
    # The own text as formatted HTML, for HTML clients, when it differs from escaping `own`.
    own_html: str = ""
    english: bool = False
    variant: int = 0
    sent: datetime = ASKED
    seed: int = 0


def quote_lines(text: str, prefix: str = "> ", empty: str = ">") -> str:
    """`text` quoted line by line."""
    return "\n".join(prefix + line if line.strip() else empty for line in text.splitlines())


def html_lines(text: str, opening: str = "<div>", closing: str = "</div>", empty: str = "<div><br></div>") -> str:
    """Each line of `text` in its own block, as rich-text editors write typed lines."""
    return "".join(f"{opening}{escape(line)}{closing}" if line.strip() else empty for line in text.splitlines())


def own_html(draft: Draft, opening: str = "<div>", closing: str = "</div>", empty: str = "<div><br></div>") -> str:
    return draft.own_html or html_lines(draft.own, opening, closing, empty)


def hex_id(draft: Draft, length: int, alphabet: str = "0123456789ABCDEF", *, salt: str = "") -> str:
    """Random characters for ids: the same draft (and salt) always gets the same ones."""
    rng = random.Random(f"{draft.seed}-{length}-{alphabet}-{salt}")
    return "".join(rng.choice(alphabet) for _ in range(length))


def uuid(draft: Draft, alphabet: str = HEX, *, salt: str = "") -> str:
    return "-".join(hex_id(draft, n, alphabet, salt=f"{salt}{i}") for i, n in enumerate((8, 4, 4, 4, 12)))


def domain(draft: Draft) -> str:
    """The approver's mail domain, where their client makes its Message-IDs."""
    return draft.request.approver.address.split("@")[1]


def common_headers(draft: Draft, *, name: str, subject_prefix: str, charset: str, message_id: str,
                   to: str | None = None) -> list[tuple[str, str]]:
    """From, To, Subject, Date, Message-ID, In-Reply-To and References, as every client writes them."""
    request = draft.request
    return [
        ("From", mime.mailbox(name, request.approver.address, charset)),
        ("To", to or request.reply_to),
        ("Subject", subject(subject_prefix, request.subject, charset)),
        ("Date", format_datetime(draft.sent)),
        ("Message-ID", message_id),
        ("In-Reply-To", request.message_id),
        ("References", request.message_id),
    ]


def subject(prefix: str, original: str, charset: str) -> str:
    """"Re: " stays readable before the encoded words, as clients write it; "回复：" and "Re:" are encoded with them."""
    if prefix.isascii() and prefix.endswith(" "):
        return prefix + mime.words(original, charset)
    return mime.words(prefix + original, charset)


def single(headers: list[tuple[str, str]], content_type: str, charset: str, transfer: str, text: str,
           *, params: str = "") -> bytes:
    return mime.to_bytes(mime.header_block(headers + [("MIME-Version", "1.0")])
                         + mime.text_part(content_type, charset, transfer, text, params=params))


def alternative(headers: list[tuple[str, str]], boundary: str, parts: list[str]) -> bytes:
    content_type, body = mime.alternative(boundary, parts)
    return mime.to_bytes(mime.header_block(headers + [("MIME-Version", "1.0"), ("Content-Type", content_type)])
                         + mime.CRLF + body)


def zh_time(moment: datetime) -> str:
    """2026年11月27日 9:30"""
    return f"{moment.year}年{moment.month}月{moment.day}日 {moment.hour}:{moment.minute:02d}"


def bottom(quote: str, own: str, signature: str = "") -> str:
    """A bottom-posted body: the quote, then the new text, then the signature."""
    text = quote + "\n\n" + own if own.strip() else quote + "\n"
    return text + (f"\n\n-- \n{signature}" if signature else "") + "\n"


def top(own: str, quote: str, signature: str = "", *, marked: bool = True) -> str:
    """A top-posted body: the new text, the signature, then the quote."""
    text = own
    if signature:
        text += ("\n\n-- \n" if marked else "\n\n") + signature
    return text + "\n\n" + quote + "\n"


PLAIN_SIGNATURES = (
    "张建国\n县财政局 局长\n电话：0797-8221234",
    "周海波\n县发展和改革局\n手机：139 7970 1234",
    "此致\n敬礼",
    "",
)
