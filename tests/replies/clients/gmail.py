"""Gmail: "于…写道：" or "On … wrote:" over `>` lines, a gmail_quote div; top- or bottom-posted."""

from __future__ import annotations

from html import escape

from tests.replies import mime
from tests.replies.clients.draft import (
    ALNUM,
    HEX,
    Draft,
    alternative,
    bottom,
    common_headers,
    hex_id,
    own_html,
    quote_lines,
    top,
)


def gmail_attribution(draft: Draft) -> str:
    request = draft.request
    who = f"{request.from_name} <{request.from_address}>"
    if draft.english or draft.variant % 3 == 2:
        line = f"On Fri, Nov 27, 2026 at 9:30 AM {who} wrote:"
        # Gmail's text part wraps the attribution at about 76 columns.
        return line.replace(" wrote:", "\nwrote:") if draft.variant % 2 else line
    return f"{who} 于2026年11月27日周五 09:30写道："


def gmail_text(draft: Draft, bottom_posted: bool) -> str:
    quote = f"{gmail_attribution(draft)}\n\n{quote_lines(draft.request.text())}"
    if bottom_posted:
        return bottom(quote, draft.own, draft.signature)
    return top(draft.own, quote, draft.signature)


def gmail_html(draft: Draft, bottom_posted: bool) -> str:
    request = draft.request
    address = request.from_address
    attribution = escape(gmail_attribution(draft)).replace("\n", " ").replace(
        escape(f"<{address}>"), f'&lt;<a href="mailto:{address}">{address}</a>&gt;')
    quote = (f'<div class="gmail_quote gmail_quote_container"><div dir="ltr" class="gmail_attr">{attribution}<br></div>'
             '<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);'
             f'padding-left:1ex">{request.html()}</blockquote></div>')
    own = own_html(draft, "<div>", "</div>")
    lines = "<br>".join(escape(line) for line in draft.signature.splitlines())
    signature = ("" if not draft.signature else '<span class="gmail_signature_prefix">-- </span><br>'
                 f'<div dir="ltr" class="gmail_signature">{lines}</div>')
    if bottom_posted:
        return f'<div dir="ltr"><div dir="ltr"><br></div><br>{quote}<div><br></div>{own}{signature}</div>'
    return f'<div dir="ltr">{own}</div>{signature}<br>{quote}'


def gmail(draft: Draft, bottom_posted: bool) -> bytes:
    """Gmail: multipart/alternative, UTF-8 base64 text and quoted-printable HTML, "Re: "."""
    request = draft.request
    message_id = f"<CA{hex_id(draft, 1, 'BFGHKLMN')}+{hex_id(draft, 40, ALNUM)}@mail.gmail.com>"
    headers = common_headers(draft, name=request.approver.name if not draft.english else request.approver.latin,
                             subject_prefix="Re: ", charset="UTF-8", message_id=message_id)
    boundary = f"000000000000{hex_id(draft, 16, HEX)}"
    parts = [mime.text_part("text/plain", "UTF-8", "base64", gmail_text(draft, bottom_posted)),
             mime.text_part("text/html", "UTF-8", "quoted-printable", gmail_html(draft, bottom_posted))]
    return alternative(headers, boundary, parts)


def gmail_top(draft: Draft) -> bytes:
    return gmail(draft, bottom_posted=False)


def gmail_bottom(draft: Draft) -> bytes:
    return gmail(draft, bottom_posted=True)
