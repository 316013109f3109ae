"""Phone mail apps: Huawei, Honor, NetEase Mail Master, QQ Mail for iOS, with their "发自我的…" footers."""

from __future__ import annotations

from tests.replies.clients.draft import (
    HEX,
    Draft,
    common_headers,
    domain,
    hex_id,
    single,
)
from tests.replies.clients.tencent import qq_block


def mobile_text(draft: Draft) -> tuple[str, str, str]:
    """(body, X-Mailer, subject prefix) of a phone client: Huawei Email, NetEase Mail Master, QQ Mail for iOS, Honor."""
    request = draft.request
    own = draft.own.strip("\n")
    shape = draft.variant % 4
    if shape == 0:
        quote = (f"-------- 原始邮件 --------\n发件人： {request.from_name} <{request.from_address}>\n"
                 f"日期： 2026年11月27日周五 上午9:30\n收件人： {request.approver.name} <{request.approver.address}>\n"
                 f"主题： {request.subject}\n\n{request.text()}")
        return f"{own}\n\n发自我的华为手机\n\n\n{quote}\n", "HUAWEI Email 13.1.0", "回复："
    if shape == 1:
        quote = (f"---- 回复的原邮件 ----\n| 发件人 | {request.from_name}<{request.from_address}> |\n"
                 f"| 日期 | 2026年11月27日 09:30 |\n| 收件人 | {request.approver.name}<{request.approver.address}> |\n"
                 f"| 主题 | {request.subject} |\n{request.text()}")
        return f"{own}\n\n来自网易邮箱大师\n{quote}\n", "NetEase Mail Master", "回复："
    if shape == 2:
        return f"{own}\n\n发自我的iPhone\n\n\n{qq_block(draft, english=True)}\n", "QQMail iPhone", "回复："
    quote = (f"-------- 原始邮件 --------\n发件人： {request.from_name} <{request.from_address}>\n"
             f"日期： 2026年11月27日周五 上午9:30\n收件人： {request.approver.name} <{request.approver.address}>\n"
             f"主题： {request.subject}\n\n{request.text()}")
    return f"{own}\n\n发自我的荣耀手机\n\n\n{quote}\n", "Honor Email", "答复: "


def mobile(draft: Draft) -> bytes:
    """A phone's mail app: text/plain UTF-8 base64 with the phone's footer above the quote."""
    request = draft.request
    text, mailer, prefix = mobile_text(draft)
    headers = common_headers(draft, name=request.approver.name, subject_prefix=prefix, charset="UTF-8",
                             message_id=f"<{hex_id(draft, 32, HEX)}@{domain(draft)}>")
    headers.append(("X-Mailer", mailer))
    return single(headers, "text/plain", "UTF-8", "base64", text)
