"""Apple Mail and iOS Mail: a quoted "在 …，X 写道：" attribution and a "发自我的iPhone" footer."""

from __future__ import annotations

from html import escape

from tests.replies import mime
from tests.replies.clients.draft import (
    HEX,
    Draft,
    alternative,
    common_headers,
    domain,
    own_html,
    quote_lines,
    uuid,
)


def apple_attribution(draft: Draft) -> str:
    request = draft.request
    who = f"{request.from_name} <{request.from_address}>"
    if draft.english:
        return (f"On Nov 27, 2026, at 09:30, {who} wrote:" if draft.variant % 2
                else f"On 27 Nov 2026, at 09:30, {who} wrote:")
    return f"在 2026年11月27日，09:30，{who} 写道：" if draft.variant % 2 else f"2026年11月27日 09:30，{who} 写道："


def apple_footer(draft: Draft) -> str:
    """iPhone and iPad add a footer; the Mac (variant 2 of 3) does not."""
    if draft.variant % 3 == 2:
        return ""
    return ("Sent from my iPhone" if draft.english else "发自我的iPhone") if draft.variant % 3 == 0 else (
        "Sent from my iPad" if draft.english else "发自我的 iPad")


def apple_text(draft: Draft) -> str:
    footer = apple_footer(draft)
    own = draft.own + (f"\n\n{footer}" if footer else "")
    quote = quote_lines(apple_attribution(draft) + "\n\n" + draft.request.text(), "> ", "> ")
    return (own.strip("\n") + "\n\n" if own.strip() else "\n\n") + quote + "\n"


def apple_html(draft: Draft) -> str:
    footer = apple_footer(draft)
    own_part = own_html(draft, '<div dir="ltr">', "</div>", '<div dir="ltr"><br></div>')
    return ('<html><head><meta http-equiv="content-type" content="text/html; charset=utf-8"></head>'
            f'<body dir="auto">{own_part}'
            + (f'<div dir="ltr"><br></div><div dir="ltr">{escape(footer)}</div>' if footer else "")
            + '<div dir="ltr"><br><blockquote type="cite">'
            f'{escape(apple_attribution(draft))}<br><br></blockquote></div>'
            f'<blockquote type="cite"><div dir="ltr">{draft.request.html()}</div></blockquote></body></html>')


def apple_mail(draft: Draft) -> bytes:
    """Apple Mail / iOS Mail: "> 在 …，X 写道：" quoted, a "发自我的iPhone" footer, UTF-8 quoted-printable."""
    request = draft.request
    footer = apple_footer(draft)
    text = apple_text(draft)
    headers = common_headers(draft, name=request.approver.name, subject_prefix="Re: " if draft.english else "回复：",
                             charset="utf-8", message_id=f"<{uuid(draft, HEX.upper())}@{domain(draft)}>")
    headers.append(("X-Mailer", "iPhone Mail (22B91)" if footer else "Apple Mail (2.3826.200.121)"))
    html = apple_html(draft)
    boundary = f"Apple-Mail-{uuid(draft, HEX.upper(), salt='boundary')}"
    return alternative(headers, boundary, [mime.text_part("text/plain", "utf-8", "quoted-printable", text),
                                           mime.text_part("text/html", "utf-8", "quoted-printable", html)])
