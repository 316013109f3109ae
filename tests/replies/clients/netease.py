"""NetEase 163 webmail (Coremail): "在 … 写道：" with `>` lines, or blockquote id="isReplyContent"; GBK."""

from __future__ import annotations

from html import escape

from tests.replies import mime
from tests.replies.clients.draft import (
    DIGITS,
    HEX,
    Draft,
    alternative,
    common_headers,
    hex_id,
    own_html,
    quote_lines,
    single,
)


def netease_attribution(draft: Draft) -> str:
    request = draft.request
    return f"在 2026-11-27 09:30:00，\"{request.from_name}\" <{request.from_address}> 写道："


def netease_html(draft: Draft) -> str:
    return ('<div style="line-height:1.7;color:#000000;font-size:14px;font-family:Arial">'
            + own_html(draft, '<p style="margin:0;">', "</p>", '<p style="margin:0;"><br></p>')
            + '<p style="margin:0;"><br></p><p style="margin:0;"><br></p><div style="position:relative;zoom:1"></div>'
            '<div id="divNeteaseMailCard"></div><p style="margin:0;"><br></p>'
            f'<pre><br>{escape(netease_attribution(draft))}<br></pre>'
            '<blockquote id="isReplyContent" style="PADDING-LEFT: 1ex; MARGIN: 0px 0px 0px 0.8ex; '
            f'BORDER-LEFT: #ccc 1px solid">{draft.request.html()}</blockquote></div>')


def netease_text(draft: Draft) -> str:
    own = draft.own + "\n\n\n\n\n\n\n\n" if draft.own.strip() else "\n\n\n\n\n"
    return own + netease_attribution(draft) + "\n" + quote_lines(draft.request.text(), ">", ">") + "\n"


def netease163(draft: Draft) -> bytes:
    """163 webmail (Coremail): GBK base64; even variants send text with `>` quotes plus HTML, odd ones HTML only."""
    request = draft.request
    html = netease_html(draft)
    charset = mime.pick_charset(draft.own + html, "GBK")
    stamp = format(int(draft.sent.timestamp() * 1000), "x")
    message_id = f"<{hex_id(draft, 8, HEX)}.{hex_id(draft, 4, HEX)}.{stamp}.Coremail.{request.approver.address}>"
    headers = common_headers(draft, name=request.approver.name, subject_prefix="Re:", charset=charset,
                             message_id=message_id)
    headers += [("X-Mailer", "Coremail Webmail Server Version XT5.0.14 build 20240801(9da12a7b) "
                 "Copyright (c) 2002-2026 www.mailtech.cn 163com"),
                ("X-Originating-IP", "[117.44.0.23]"), ("X-NTES-SC", "AL_Qu2c" + hex_id(draft, 40))]
    if draft.variant % 2:
        return single(headers, "text/html", charset, "base64", html)
    text = netease_text(draft)
    return alternative(headers, f"----=_Part_{hex_id(draft, 6, DIGITS)}_{hex_id(draft, 9, DIGITS)}.{stamp}",
                       [mime.text_part("text/plain", charset, "base64", text),
                        mime.text_part("text/html", charset, "base64", html)])
