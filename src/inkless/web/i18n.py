"""Page wording in Chinese (default) and English."""

from __future__ import annotations

PAGES: dict[str, dict[str, str]] = {
    "zh": {
        "lang": "zh-CN", "site": "无纸化办公", "signin": "登录", "signout": "退出",
        "signin_intro": "输入您的邮箱，我们会发送一次性登录链接。", "email": "邮箱",
        "send_link": "发送登录链接", "link_sent": "如果该邮箱属于本单位人员，登录链接已发送，请查收邮件。",
        "confirm_signin": "确认登录", "signin_as": "以 {email} 登录", "link_invalid": "该链接无效、已使用或已过期。",
        "signin_subject": "登录链接", "signin_body": "请在 {minutes} 分钟内打开以下链接登录（仅可使用一次）：\n{url}\n\n"
                                                 "如非本人操作，请忽略本邮件。\n",
        "number": "文号", "type": "文种", "unit": "发文单位", "sender": "发件人", "issued_at": "签发时间",
        "status": "状态", "versions": "版本", "version": "第{n}版", "approvals": "审批记录",
        "approver": "审批人", "decision": "意见", "decided_at": "时间", "comment": "批示", "channel": "途径",
        "recipients": "接收情况", "recipient": "接收人", "sent": "已发送", "delivered": "已送达", "read": "已阅读",
        "acknowledged": "已签收", "failed": "失败", "reason": "原因", "total": "共", "all": "全部",
        "unread": "未阅读", "unacknowledged": "未签收", "attachments": "附件", "pending": "待审批",
        "approve": "同意", "reject": "不同意", "pending_approval": "审批中", "rejected": "已退回", "issued": "已发出",
        "ack_title": "签收确认", "ack_button": "确认签收", "ack_done": "已于 {at} 签收。", "ack_intro": "请确认您已收到以下公文：",
        "public": "政务公开", "public_empty": "暂无公开文件。", "forbidden": "您无权查看该文件。",
        "not_found": "未找到。", "filter": "筛选",
    },
    "en": {
        "lang": "en", "site": "Inkless", "signin": "Sign in", "signout": "Sign out",
        "signin_intro": "Enter your email address and we will send you a one-time sign-in link.", "email": "Email",
        "send_link": "Send sign-in link", "link_sent": "If this address belongs to a member of staff, a sign-in link "
                                                      "is on its way. Please check your mail.",
        "confirm_signin": "Sign in", "signin_as": "Sign in as {email}", "link_invalid":
            "This link is invalid, already used or expired.",
        "signin_subject": "Your sign-in link", "signin_body": "Open this link within {minutes} minutes to sign in "
                                                             "(it works once):\n{url}\n\nIf you did not ask for it, "
                                                             "ignore this mail.\n",
        "number": "Number", "type": "Type", "unit": "Issuing unit", "sender": "Sender", "issued_at": "Issued",
        "status": "Status", "versions": "Versions", "version": "Version {n}", "approvals": "Sign-off trail",
        "approver": "Approver", "decision": "Decision", "decided_at": "At", "comment": "Comment",
        "channel": "Channel", "recipients": "Recipients", "recipient": "Recipient", "sent": "Sent",
        "delivered": "Delivered", "read": "Read", "acknowledged": "Acknowledged", "failed": "Failed",
        "reason": "Reason", "total": "Total", "all": "All", "unread": "Not read", "unacknowledged": "Not acknowledged",
        "attachments": "Attachments", "pending": "Pending", "approve": "Approve", "reject": "Reject",
        "pending_approval": "Awaiting sign-off", "rejected": "Returned", "issued": "Issued",
        "ack_title": "Acknowledge receipt", "ack_button": "Acknowledge", "ack_done": "Acknowledged at {at}.",
        "ack_intro": "Please confirm that you received this document:", "public": "Public disclosure",
        "public_empty": "No public documents yet.", "forbidden": "You may not see this document.",
        "not_found": "Not found.", "filter": "Show",
    },
}
