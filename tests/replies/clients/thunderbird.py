"""Thunderbird: bottom-posted under "在 2026/11/27 9:30, X 写道:"; and replies written between quoted parts."""

from __future__ import annotations

from html import escape

from tests.replies import mime
from tests.replies.clients.draft import (
    HEX,
    Draft,
    alternative,
    bottom,
    common_headers,
    domain,
    hex_id,
    own_html,
    quote_lines,
    single,
    uuid,
)


def thunderbird_attribution(draft: Draft) -> str:
    if draft.english or draft.variant % 3 == 1:
        return f"On 11/27/26 09:30, {draft.request.from_name} wrote:"
    return f"在 2026/11/27 9:30, {draft.request.from_name} 写道:"


def thunderbird_text(draft: Draft) -> str:
    quote = f"{thunderbird_attribution(draft)}\n{quote_lines(draft.request.text())}"
    signature = draft.signature or ("周海波\n县发展和改革局" if draft.variant % 2 else "")
    return bottom(quote, draft.own, signature)


def thunderbird(draft: Draft) -> bytes:
    """Thunderbird: bottom-posted, UTF-8 8bit format=flowed; every fourth one also sends HTML (moz-cite-prefix)."""
    request = draft.request
    message_id = f"<{uuid(draft)}@{domain(draft)}>"
    headers = common_headers(draft, name=request.approver.latin if draft.english else request.approver.name,
                             subject_prefix="Re: ", charset="UTF-8", message_id=message_id)
    headers += [("User-Agent", "Mozilla Thunderbird"), ("Content-Language", "en-US" if draft.english else "zh-CN")]
    text = thunderbird_text(draft)
    if draft.variant % 4 != 3:
        return single(headers, "text/plain", "UTF-8", "8bit", text, params="; format=flowed")
    signature = draft.signature or ("周海波\n县发展和改革局" if draft.variant % 2 else "")
    html = ('<!DOCTYPE html>\n<html>\n  <head>\n'
            '    <meta http-equiv="Content-Type" content="text/html; charset=UTF-8">\n  </head>\n  <body>\n'
            f'    <div class="moz-cite-prefix">{escape(thunderbird_attribution(draft))}<br>\n    </div>\n'
            f'    <blockquote type="cite" cite="mid:{request.message_id.strip("<>")}">{request.html()}</blockquote>\n'
            f'    {own_html(draft, "<p>", "</p>", "<p><br></p>")}\n'
            + (f'    <div class="moz-signature">-- <br>{"<br>".join(escape(s) for s in signature.splitlines())}</div>\n'
               if signature else "") + '  </body>\n</html>\n')
    boundary = f"------------{hex_id(draft, 24, '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz')}"
    return alternative(headers, boundary, [
        mime.text_part("text/plain", "UTF-8", "8bit", text, params="; format=flowed"),
        mime.text_part("text/html", "UTF-8", "8bit", html)])


def interleaved_text(draft: Draft) -> str:
    """A reply written between quoted parts: the instruction, the person's text, the document, more text."""
    lines = draft.request.text().splitlines()
    split = next(index for index, line in enumerate(lines) if line.startswith(draft.request.document.title)) + 1
    chunks = ["\n".join(lines[:split]), "\n".join(lines[split:])]
    out = [thunderbird_attribution(draft)]
    for index, chunk in enumerate(chunks):
        out.append(quote_lines(chunk))
        typed = draft.parts[index] if index < len(draft.parts) else ""
        if typed.strip():
            out.append("\n" + typed + "\n")
    text = "\n".join(out)
    return text + (f"\n-- \n{draft.signature}" if draft.signature else "") + "\n"


def interleaved(draft: Draft) -> bytes:
    """Interleaved (Thunderbird or Gmail, trimmed by hand): text between and under quoted parts."""
    request = draft.request
    headers = common_headers(draft, name=request.approver.name, subject_prefix="Re: ", charset="UTF-8",
                             message_id=f"<{hex_id(draft, 24, HEX)}@{domain(draft)}>")
    headers.append(("User-Agent", "Mozilla Thunderbird"))
    return single(headers, "text/plain", "UTF-8", "8bit" if draft.variant % 2 else "quoted-printable",
                  interleaved_text(draft), params="; format=flowed" if draft.variant % 2 else "")
