"""Outlook: the 发件人:/From: header block over an unindented original; Word HTML; Outlook on the web."""

from __future__ import annotations

from html import escape

from tests.replies import mime
from tests.replies.clients.draft import (
    ALNUM,
    DIGITS,
    HEX,
    PLAIN_SIGNATURES,
    Draft,
    alternative,
    common_headers,
    domain,
    hex_id,
    own_html,
    single,
    top,
    zh_time,
)
from tests.replies.originals import ASKED


def outlook_header_block(draft: Draft, english: bool, *, bold: bool = False) -> str:
    request = draft.request
    asked = ASKED.strftime("%A, %B %d, %Y %I:%M %p").replace(" 0", " ")
    labels = ("From", "Sent", "To", "Subject") if english else ("发件人", "发送时间", "收件人", "主题")
    values = (f"{request.from_name} <{request.from_address}>", asked if english else zh_time(ASKED),
              f"{request.approver.latin if english else request.approver.name} <{request.approver.address}>",
              request.subject)
    mark = "*" if bold else ""
    return "\n".join(f"{mark}{label}:{mark} {value}" for label, value in zip(labels, values))


def outlook_own(draft: Draft) -> str:
    """What the person typed, with the unmarked signature Outlook users keep under it."""
    signature = PLAIN_SIGNATURES[draft.variant % len(PLAIN_SIGNATURES)] if draft.own.strip() else ""
    return draft.own + (f"\n\n{signature}" if signature else "")


def outlook_text(draft: Draft, english: bool) -> str:
    """Outlook desktop (variants 0, 1, 3), Outlook on the web with its rule (2) and the zh "-----邮件原件-----" (4)."""
    block = outlook_header_block(draft, english)
    original = draft.request.text()
    shape = draft.variant % 5
    if shape == 2:
        quote = f"________________________________\n{block}\n\n{original}"
    elif shape == 4:
        quote = f"{'-----Original Message-----' if english else '-----邮件原件-----'}\n{block}\n\n{original}"
    elif english and shape == 1:
        quote = f"-----Original Message-----\n{block}\n\n{original}"
    else:
        quote = f"{block}\n\n{original}"
    return top(outlook_own(draft), quote)


def outlook_headers(draft: Draft, charset: str, prefix: str) -> list[tuple[str, str]]:
    request = draft.request
    exchange = draft.variant % 2 == 0
    # Exchange Online names the mailbox server twice; Outlook desktop on its own writes a "$"-separated id.
    server = f"SEYPR06MB{hex_id(draft, 4, DIGITS)}"
    message_id = (f"<{server}{hex_id(draft, 28)}@{server}.apcprd06.prod.outlook.com>" if exchange
                  else f"<000001db{hex_id(draft, 4, HEX)}${hex_id(draft, 8, HEX)}${hex_id(draft, 8, HEX, salt='b')}"
                       f"$@{domain(draft)}>")
    headers = common_headers(draft, name=request.approver.latin if prefix == "RE: " else request.approver.name,
                             subject_prefix=prefix, charset=charset, message_id=message_id,
                             to=f'"{request.reply_to}" <{request.reply_to}>')
    headers.insert(3, ("Thread-Topic", mime.words(request.subject, charset)))
    headers.insert(4, ("Thread-Index", "AQHbX" + hex_id(draft, 30, ALNUM)))
    headers += [("Accept-Language", "zh-CN, en-US"), ("Content-Language", "zh-CN" if prefix != "RE: " else "en-US"),
                ("X-MS-Has-Attach", ""), ("X-MS-TNEF-Correlator", "")]
    if not exchange:
        headers.append(("X-Mailer", "Microsoft Outlook 16.0"))
    return headers


def outlook_zh(draft: Draft) -> bytes:
    """Outlook with a Chinese interface: multipart/alternative, labelled gb2312 (GBK text) in base64, "答复: "."""
    text = outlook_text(draft, english=False)
    # Outlook labels GBK text (the request's "·", for one) as gb2312; readers must decode it as GBK.
    charset = "gb2312"
    prefix = "回复: " if draft.variant % 5 == 2 else "答复: "
    html = outlook_word_html(draft, english=False, own=outlook_own(draft))
    parts = [mime.text_part("text/plain", charset, "base64", text),
             mime.text_part("text/html", charset, "base64", html)]
    return alternative(outlook_headers(draft, charset, prefix), f"_000_{hex_id(draft, 40)}_", parts)


def outlook_en(draft: Draft) -> bytes:
    """Outlook with an English interface: "-----Original Message-----" or the rule, quoted-printable UTF-8, "RE: "."""
    text = outlook_text(draft, english=True)
    html = outlook_word_html(draft, english=True, own=outlook_own(draft))
    parts = [mime.text_part("text/plain", "utf-8", "quoted-printable", text),
             mime.text_part("text/html", "utf-8", "quoted-printable", html)]
    return alternative(outlook_headers(draft, "utf-8", "RE: "), f"_000_{hex_id(draft, 40)}_", parts)


def outlook_word_html(draft: Draft, *, english: bool, own: str) -> str:
    """Outlook desktop's Word HTML: the quote is a div with a top border and a bold header block, no id."""
    own = draft.own_html or "".join(f"<p class=MsoNormal><span lang=EN-US>{escape(line) or '<o:p>&nbsp;</o:p>'}"
                                    "</span></p>" for line in own.splitlines())
    block = outlook_header_block(draft, english).splitlines()
    header = "<br>".join(f"<b>{escape(label)}<span lang=EN-US>:</span></b>{escape(value)}"
                         for label, value in (line.split(":", 1) for line in block))
    original = "".join(f"<p class=MsoNormal>{escape(line) or '<o:p>&nbsp;</o:p>'}</p>"
                       for line in draft.request.text().splitlines())
    return ('<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" '
            'xmlns:w="urn:schemas-microsoft-com:office:word" '
            'xmlns:m="http://schemas.microsoft.com/office/2004/12/omml" '
            'xmlns="http://www.w3.org/TR/REC-html40"><head><meta http-equiv="Content-Type" content="text/html; '
            'charset=utf-8"><meta name="Generator" content="Microsoft Word 15 (filtered medium)"><style><!--\n'
            '@font-face {font-family:等线;}\np.MsoNormal {margin:0cm;font-size:10.5pt;font-family:等线;}\n--></style>'
            '</head><body lang=ZH-CN link="#0563C1" vlink="#954F72" style="text-justify-trim:punctuation">'
            f'<div class=WordSection1>{own}<p class=MsoNormal><span lang=EN-US><o:p>&nbsp;</o:p></span></p>'
            '<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">'
            f'<p class=MsoNormal>{header}<span lang=EN-US><o:p></o:p></span></p></div>'
            f'<p class=MsoNormal><span lang=EN-US><o:p>&nbsp;</o:p></span></p>{original}</div></body></html>')


def outlook_html_body(draft: Draft) -> str:
    """Outlook on the web / new Outlook (appendonsend + divRplyFwdMsg), or Word HTML (variant 3)."""
    english = draft.english
    if draft.variant % 4 == 3:
        return outlook_word_html(draft, english=english, own=draft.own)
    block = outlook_header_block(draft, english).splitlines()
    header = "<br>".join(f"<b>{escape(line.split(':', 1)[0])}:</b>{escape(line.split(':', 1)[1])}" for line in block)
    own = own_html(draft, '<div class="elementToProof" style="font-family: Aptos, Aptos_EmbeddedFont, '
                   'Aptos_MSFontService, Calibri, Helvetica, sans-serif; font-size: 12pt; color: rgb(0, 0, 0);">',
                   "</div>", '<div class="elementToProof"><br></div>')
    return ('<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
            '<style type="text/css" style="display:none;"> P {margin-top:0;margin-bottom:0;} </style></head>'
            f'<body dir="ltr">{own}<div id="appendonsend"></div>'
            '<hr style="display:inline-block;width:98%" tabindex="-1">'
            '<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif" style="font-size:11pt" '
            f'color="#000000">{header}</font><div>&nbsp;</div></div>'
            '<div class="BodyFragment"><font size="2"><span style="font-size:11pt;"><div class="PlainText">'
            f'{draft.request.html()}</div></span></font></div></body></html>')


def outlook_html(draft: Draft) -> bytes:
    """HTML only, as Outlook on the web and some Exchange set-ups send it."""
    english = draft.english
    html = outlook_html_body(draft)
    prefix = "RE: " if english else ("回复: " if draft.variant % 2 else "答复: ")
    return single(outlook_headers(draft, "utf-8", prefix), "text/html", "utf-8", "quoted-printable", html)
