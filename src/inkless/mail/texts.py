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
        "reply_hint": "回复本邮件“收到”即为签收，也可打开下面的链接确认签收。",
        "ack_link": "确认签收：{url}",
        "attachments": "附件",
        "issued_subject": "已发出：{title}（{number}）",
        "issued_body": "您的公文《{title}》已于 {issued_at} 发出，文号 {number}，共 {count} 位接收人。\n\n"
                       "接收、阅读和签收情况：{url}\n",
        "no_number": "无文号",
        "signoff_subject": "[待签发] {title}（第{version}版）",
        "signoff_remind_subject": "[催办] 待签发：{title}（第{version}版）",
        "signoff_intro": "{sender}提交的公文请您签发（第{step}/{steps}位审批人）。\n"
                         "请直接回复本邮件：第一行写“同意”或“不同意”，其后可写意见。\n"
                         "例如：“同意，请修改第三段”或“不同意，预算过高”。",
        "signoff_escalate_subject": "[督促] {approver}尚未签发：{title}",
        "signoff_escalate_body": "{approver}自 {asked_at} 收到签发请求，至今未处理。\n\n公文：{title}（第{version}版）\n"
                                 "发文单位：{unit}\n办理情况：{url}\n",
        "unclear_subject": "请明确签发意见：{title}",
        "unclear_body": "未能从您的回复中读出签发意见（您的第一行：“{line}”）。\n\n"
                        "请回复本邮件，第一行写下列之一：\n  同意 / 批准 / 原则同意（可在其后写意见）\n"
                        "  不同意 / 不予批准 / 退回 / 驳回（可在其后写理由）\n",
        "decided_subject": "已处理：{title}",
        "decided_body": "该公文（第{version}版）已由{who}于 {at} 处理（{decision}），您的回复未改变结果。\n",
        "decision_approve": "同意",
        "decision_reject": "不同意",
        "rejected_subject": "[退回] {title}（第{version}版）",
        "rejected_body": "您的公文《{title}》（第{version}版）被{approver}退回。\n\n意见：{comment}\n\n"
                         "修改后请直接回复本邮件，把修改后的全文写在回复中（可附新附件），即作为第{next}版重新送审。\n",
        "revision_empty_subject": "未收到修改稿：{title}",
        "revision_empty_body": "您的回复中没有修改后的正文或附件。请把修改后的全文写在回复中再发送。\n",
        "no_comment": "（无）",
        "ack_remind_subject": "[催签收] {title}（{number}）",
        "ack_remind_body": "您尚未签收公文《{title}》（{number}）。\n请回复本邮件“收到”，或打开链接确认签收：{url}\n",
        "silent_digest_subject": "尚有 {count} 人未签收：{title}",
        "silent_digest_body": "公文《{title}》（{number}）尚有 {count} 人未签收，已向他们发送提醒：\n{names}\n\n"
                              "办理情况：{url}\n",
    },
    "en": {
        "copy_intro": "Issued by {unit}",
        "number": "Number",
        "type": "Type",
        "unit": "Issuing unit",
        "sender": "Sender",
        "issued_at": "Issued",
        "tracking": "Tracking",
        "reply_hint": "Reply \"received\" to acknowledge this document, or confirm at the link below.",
        "ack_link": "Acknowledge: {url}",
        "attachments": "Attachments",
        "issued_subject": "Issued: {title} ({number})",
        "issued_body": "Your document \"{title}\" was issued at {issued_at} as {number} to {count} recipients.\n\n"
                       "Who received, read and acknowledged it: {url}\n",
        "no_number": "no number",
        "signoff_subject": "[Sign-off] {title} (version {version})",
        "signoff_remind_subject": "[Reminder] Sign-off: {title} (version {version})",
        "signoff_intro": "{sender} asks you to sign off this document (approver {step} of {steps}).\n"
                         "Reply to this mail: write \"approve\" or \"reject\" on the first line, then any comment.\n"
                         "For example: \"Approve, please fix paragraph 3\" or \"Reject, over budget\".",
        "signoff_escalate_subject": "[Overdue] {approver} has not signed off: {title}",
        "signoff_escalate_body": "{approver} was asked to sign off at {asked_at} and has not answered.\n\n"
                                 "Document: {title} (version {version})\nIssuing unit: {unit}\nTracking: {url}\n",
        "unclear_subject": "Please state your decision: {title}",
        "unclear_body": "Your reply did not say whether you approve (your first line: \"{line}\").\n\n"
                        "Please reply with one of these on the first line:\n  approve / approved / yes (then any comment)\n"
                        "  reject / not approved / no (then the reason)\n",
        "decided_subject": "Already decided: {title}",
        "decided_body": "Version {version} of this document was already decided by {who} at {at} ({decision}); "
                        "your reply changed nothing.\n",
        "decision_approve": "approved",
        "decision_reject": "rejected",
        "rejected_subject": "[Returned] {title} (version {version})",
        "rejected_body": "Your document \"{title}\" (version {version}) was returned by {approver}.\n\n"
                         "Comment: {comment}\n\nReply to this mail with the revised text (and any new attachments): "
                         "it becomes version {next} and goes through sign-off again.\n",
        "revision_empty_subject": "No revised text received: {title}",
        "revision_empty_body": "Your reply had no revised text or attachments. Please reply with the full revised text.\n",
        "no_comment": "(none)",
        "ack_remind_subject": "[Reminder] Please acknowledge: {title} ({number})",
        "ack_remind_body": "You have not acknowledged \"{title}\" ({number}) yet.\n"
                           "Reply \"received\" to this mail, or confirm at: {url}\n",
        "silent_digest_subject": "{count} recipients have not acknowledged: {title}",
        "silent_digest_body": "{count} recipients of \"{title}\" ({number}) have not acknowledged it; each got a "
                              "reminder:\n{names}\n\nTracking: {url}\n",
    },
}


def text(language: str, key: str, **values: object) -> str:
    """The wording for key in language, with values filled in."""
    return TEXTS.get(language, TEXTS["zh"])[key].format(**values)
