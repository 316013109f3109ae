"""Wording of generated mail, in Chinese (default) and English."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "zh": {
        "copy_intro": "{unit}发文",
        "number": "文号",
        "type": "文种",
        "unit": "发文单位",
        "sender": "发件人",
        "issued_at": "签发时间",
        "tracking": "办理情况",
        "reply_hint": "回复本邮件“收到”即为签收。",
        "attachments": "附件",
        "issued_subject": "已发出：{title}（{number}）",
        "issued_body": "您的公文《{title}》已于 {issued_at} 发出，文号 {number}，共 {count} 位接收人。\n\n"
                       "接收、阅读和签收情况：{url}\n",
        "no_number": "无文号",
    },
    "en": {
        "copy_intro": "Issued by {unit}",
        "number": "Number",
        "type": "Type",
        "unit": "Issuing unit",
        "sender": "Sender",
        "issued_at": "Issued",
        "tracking": "Tracking",
        "reply_hint": "Reply \"received\" to acknowledge this document.",
        "attachments": "Attachments",
        "issued_subject": "Issued: {title} ({number})",
        "issued_body": "Your document \"{title}\" was issued at {issued_at} as {number} to {count} recipients.\n\n"
                       "Who received, read and acknowledged it: {url}\n",
        "no_number": "no number",
    },
}


def text(language: str, key: str, **values: object) -> str:
    """The wording for key in language, with values filled in."""
    return TEXTS.get(language, TEXTS["zh"])[key].format(**values)
