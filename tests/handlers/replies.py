"""Replies as real mail clients write them, built from a message Inkless sent."""

from __future__ import annotations

from datetime import datetime, timezone
from email.message import EmailMessage, Message
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from html import escape

SENT = datetime(2026, 11, 27, 9, 30, tzinfo=timezone.utc)


def _original_text(original: Message) -> str:
    body = original.get_body(("plain",))  # type: ignore[attr-defined]
    return body.get_content() if body is not None else ""


def _quote_lines(text: str, prefix: str = "> ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def quoted(style: str, original: Message) -> str:
    """The quoted original the way each client writes it under the new text."""
    sender = str(original["From"])
    subject = str(original["Subject"])
    text = _original_text(original)
    return {
        "outlook_en": f"\n\n________________________________\nFrom: {sender}\nSent: Friday, November 27, 2026 9:30 AM\n"
                      f"To: 审批领导\nSubject: {subject}\n\n{text}",
        "outlook_zh": f"\n\n发件人: {sender}\n发送时间: 2026年11月27日 9:30\n收件人: 审批领导\n主题: {subject}\n\n{text}",
        "gmail_en": f"\n\nOn Fri, Nov 27, 2026 at 9:30 AM {sender}\nwrote:\n\n{_quote_lines(text)}",
        "gmail_zh": f"\n\n{sender} 于2026年11月27日周五 09:30写道：\n\n{_quote_lines(text)}",
        "foxmail": f"\n\n\n------------------ 原始邮件 ------------------\n发件人: \"{sender}\";\n"
                   f"发送时间: 2026年11月27日(星期五) 上午9:30\n主题: {subject}\n\n{text}",
        "qq_en": f"\n\n------------------ Original ------------------\nFrom: {sender}\nDate: Fri, Nov 27, 2026 09:30 AM\n\n{text}",
        "netease163": f"\n\n\n\n\n在 2026-11-27 09:30:00，{sender} 写道：\n{_quote_lines(text, '>')}",
        "apple_en": f"\n\n> On 27 Nov 2026, at 09:30, {sender} wrote:\n> \n{_quote_lines(text)}",
        "apple_zh": f"\n\n发自我的iPhone\n\n> 在 2026年11月27日，09:30，{sender} 写道：\n> \n{_quote_lines(text)}",
        "thunderbird_en": f"\n\nOn 11/27/26 09:30, {sender} wrote:\n{_quote_lines(text)}",
        "thunderbird_zh": f"\n\n在 2026/11/27 9:30, {sender} 写道:\n{_quote_lines(text)}",
        "iphone": f"\n\n发自我的iPhone\n\n\n------------------ Original ------------------\nFrom: {sender}\n\n{text}",
    }[style]


STYLES = ("outlook_en", "outlook_zh", "gmail_en", "gmail_zh", "foxmail", "qq_en", "netease163", "apple_en",
          "apple_zh", "thunderbird_en", "thunderbird_zh", "iphone")


def reply(original: Message, author: str, new_text: str, *, style: str = "gmail_zh", html_only: bool = False,
          to: str | None = None, headers: dict[str, str] | None = None) -> bytes:
    """A reply to `original` from `author` with `new_text` above the client's quote."""
    message = EmailMessage()
    message["From"] = author
    message["To"] = to or str(original["Reply-To"])
    message["Subject"] = "回复：" + str(original["Subject"])
    message["Date"] = format_datetime(SENT)
    message["Message-ID"] = make_msgid(domain="client.test")
    message["In-Reply-To"] = str(original["Message-ID"])
    message["References"] = str(original["Message-ID"])
    for name, value in (headers or {}).items():
        message[name] = value
    if html_only:
        text = _original_text(original)
        message.set_content(
            f'<html><body><div dir="ltr">{escape(new_text).replace(chr(10), "<br>")}</div><br>'
            f'<div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Fri, Nov 27, 2026 wrote:<br></div>'
            f'<blockquote class="gmail_quote">{escape(text).replace(chr(10), "<br>")}</blockquote></div>'
            f'</body></html>', subtype="html")
    else:
        message.set_content(new_text + quoted(style, original))
    return message.as_bytes(policy=SMTP)
