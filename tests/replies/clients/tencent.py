"""Foxmail and QQ Mail: "------------------ 原始邮件 ------------------" and the 发件人： block, GB charsets."""

from __future__ import annotations

from html import escape

from tests.replies import mime
from tests.replies.clients.draft import (
    ALNUM,
    DIGITS,
    HEX,
    Draft,
    alternative,
    common_headers,
    domain,
    hex_id,
    own_html,
    single,
    uuid,
)


def qq_block(draft: Draft, *, english: bool = False) -> str:
    request = draft.request
    if english:
        return (f"------------------ Original ------------------\nFrom: {request.from_name} <{request.from_address}>\n"
                f"Date: Fri,Nov 27,2026 9:30 AM\nTo: {request.approver.name} <{request.approver.address}>\n"
                f"Subject: {request.subject}\n\n{request.text()}")
    return (f"------------------ 原始邮件 ------------------\n发件人: \"{request.from_name}\"<{request.from_address}>;\n"
            f"发送时间: 2026年11月27日(星期五) 上午9:30\n收件人: \"{request.approver.name}\"<{request.approver.address}>;\n\n"
            f"主题: {request.subject}\n\n\n\n{request.text()}")


def foxmail_text(draft: Draft) -> str:
    """Foxmail's own layout (even variants: signature address, then a 发件人： block), or the QQ one (odd)."""
    request = draft.request
    if draft.variant % 2 == 0:
        quote = (f"{request.approver.address}\n \n发件人： {request.from_name}\n发送时间： 2026-11-27 09:30\n"
                 f"收件人： {request.approver.name}\n主题： {request.subject}\n{request.text()}")
        return (draft.own + "\n \n \n \n" if draft.own.strip() else " \n \n \n") + quote + "\n"
    return (draft.own + "\n\n\n" if draft.own.strip() else "\n\n\n") + qq_block(draft) + "\n"


def foxmail(draft: Draft) -> bytes:
    """Foxmail 7: multipart/alternative, GB2312-labelled (GBK/GB18030 when needed) base64, "回复：" or "Re:"."""
    request = draft.request
    text = foxmail_text(draft)
    charset = mime.pick_charset(text, "GB2312" if draft.variant % 3 else "GB18030")
    stamp = draft.sent.strftime("%Y%m%d%H%M%S")
    headers = common_headers(draft, name=request.approver.name, subject_prefix="回复：" if draft.variant % 4 else "Re: ",
                             charset=charset, message_id=f"<{stamp}{hex_id(draft, 7, DIGITS)}@{domain(draft)}>")
    headers += [("X-Priority", "3"), ("X-GUID", uuid(draft, HEX.upper())),
                ("X-Has-Attach", "no"), ("X-Mailer", "Foxmail 7.2.25.228[cn]")]
    html = ('<html><head><meta http-equiv="content-type" content="text/html; charset=' + charset + '">'
            '<style>body { line-height: 1.5; }body { font-size: 14px; font-family: "Microsoft YaHei UI"; '
            'color: rgb(0, 0, 0); line-height: 1.5; }</style></head><body>\n'
            + own_html(draft, "<div><span></span>", "</div>")
            + f'<div><br></div><hr style="width: 210px; height: 1px;" color="#b5c4df" size="1" align="left">'
            f'<div><span><div style="MARGIN: 10px; FONT-FAMILY: verdana; FONT-SIZE: 10pt"><div>'
            f'{escape(request.approver.address)}</div></div></span></div>'
            '<blockquote style="margin-Top: 0px; margin-Bottom: 0px; margin-Left: 0.5em; margin-Right: inherit">'
            '<div style="border:none;border-top:solid #B5C4DF 1.0pt;padding:3.0pt 0cm 0cm 0cm">'
            '<div style="PADDING-RIGHT: 8px; PADDING-LEFT: 8px; FONT-SIZE: 12px;FONT-FAMILY:tahoma;COLOR:#000000; '
            'BACKGROUND: #efefef; PADDING-BOTTOM: 8px; PADDING-TOP: 8px">'
            f'<div><b>发件人：</b>&nbsp;{escape(request.from_name)}</div>'
            '<div><b>发送时间：</b>&nbsp;2026-11-27&nbsp;09:30</div>'
            f'<div><b>收件人：</b>&nbsp;{escape(request.approver.name)}</div>'
            f'<div><b>主题：</b>&nbsp;{escape(request.subject)}</div></div></div>'
            f'<div><br></div>{request.html()}</blockquote>\n</body></html>')
    boundary = f"----=_001_NextPart{hex_id(draft, 6, DIGITS)}_=----"
    return alternative(headers, boundary, [mime.text_part("text/plain", charset, "base64", text),
                                           mime.text_part("text/html", charset, "base64", html)])


def qq_headers(draft: Draft, charset: str, prefix: str = "回复：") -> list[tuple[str, str]]:
    request = draft.request
    headers = common_headers(draft, name=request.approver.name, subject_prefix=prefix, charset=charset,
                             message_id=f"<tencent_{hex_id(draft, 40)}{hex_id(draft, 4, DIGITS)}@qq.com>",
                             to=f'"{request.reply_to}" <{request.reply_to}>')
    headers += [("X-QQ-mid", "xmsaza" + hex_id(draft, 26, "0123456789abcdefghijklmnopqrstuvwxyz")),
                ("X-QQ-XMAILINFO", hex_id(draft, 60, ALNUM + "+/")),
                ("X-Mailer", "QQMail 2.x")]
    return headers


def qq_plain_text(draft: Draft) -> str:
    """QQ Mail's text part; some have no-break spaces around 原始邮件, as its HTML does."""
    nbsp = "\xa0" if draft.variant % 3 == 1 else " "
    block = qq_block(draft).replace(" 原始邮件 ", f"{nbsp}原始邮件{nbsp}")
    return (draft.own + "\n\n\n\n" if draft.own.strip() else "\n\n\n") + block + "\n"


def qq_text(draft: Draft) -> bytes:
    """QQ Mail on the web: multipart/alternative, GB18030 base64; the text part has the 原始邮件 block."""
    text = qq_plain_text(draft)
    html = qq_html_body(draft)
    boundary = f"----=_NextPart_{hex_id(draft, 8)}_{hex_id(draft, 9)}_{hex_id(draft, 10)}"
    return alternative(qq_headers(draft, "gb18030"), boundary,
                       [mime.text_part("text/plain", "gb18030", "base64", text),
                        mime.text_part("text/html", "gb18030", "base64", html)])


def qq_html_body(draft: Draft) -> str:
    """QQ Mail's HTML: the 原始邮件 line, a grey header box, the original; odd variants wrap it in #original-content."""
    request = draft.request
    signature = ('<div><br></div><div><sign signid="0">'
                 '<div style="color:#909090;font-family:Arial Narrow;font-size:12px">'
                 f'{escape(request.approver.name)}</div></sign></div>') if draft.variant % 2 == 0 else ""
    quote = ('<div style="font-size: 12px;font-family: Arial Narrow;padding:2px 0 2px 0;">'
             '------------------&nbsp;原始邮件&nbsp;------------------</div>'
             '<div style="font-size: 12px;background:#efefef;padding:8px;">'
             f'<div><b>发件人:</b>&nbsp;"{escape(request.from_name)}"&lt;{request.from_address}&gt;;</div>'
             '<div><b>发送时间:</b>&nbsp;2026年11月27日(星期五) 上午9:30</div>'
             f'<div><b>收件人:</b>&nbsp;"{escape(request.approver.name)}"&lt;{request.approver.address}&gt;;<wbr></div>'
             f'<div></div><div><b>主题:</b>&nbsp;{escape(request.subject)}</div></div><div><br></div>{request.html()}')
    if draft.variant % 2:
        quote = f'<div id="original-content">{quote}</div>'
    return ('<meta http-equiv="Content-Type" content="text/html; charset=GB18030">'
            f'{own_html(draft)}{signature}<div><br></div><div><br></div>{quote}')


def qq_html(draft: Draft) -> bytes:
    """QQ Mail sending HTML only (the mobile web editor), GB18030 base64."""
    return single(qq_headers(draft, "gb18030"), "text/html", "gb18030", "base64", qq_html_body(draft))
