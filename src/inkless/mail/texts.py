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
        "unclear_body": "未能从您的回复中确定签发意见，结果未作改变。\n读到的一行：“{line}”\n原因：{why}\n\n"
                        "请回复本邮件，明确写下列之一（写在引文上方或下方均可）：\n"
                        "  同意 / 批准 / 原则同意（其后可写意见）\n"
                        "  不同意 / 不予批准 / 退回 / 驳回（其后可写理由）\n"
                        "为防误读，带疑问、选择、条件或转述他人意见的回复不作为签发意见。\n",
        "reading_empty": "回复中没有您自己写的内容（只有引文或签名）",
        "reading_no_word": "没有找到“同意”“不同意”等签发用语",
        "reading_quoted": "“{word}”写在引号中，像是引用而不是您的意见",
        "reading_someone_else": "签发用语前有“{word}”，可能是转述他人的意见或有保留",
        "reading_negation_after": "签发用语之后有否定（“{word}”）",
        "reading_double_negation": "双重否定，意思不明确",
        "reading_negated_rejection": "否定了否决用语（“{word}”），意思不明确",
        "reading_question": "这句话是疑问（“{word}”）",
        "reading_choice": "这句话给出了选择（“{word}”）",
        "reading_condition": "这句话带有条件（“{word}”）",
        "reading_conflict": "回复中还有相反的意见（“{word}”）",
        "reading_too_long": "回复过长（超过 {word} 字），其余部分未读",
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
                              "{units}办理情况：{url}\n",
        "silent_units": "尚未签收的单位：\n{units}\n\n",
        "copy_number": "份号",
        "read_online": "在线阅读、下载附件和打印：\n{url}",
        "publish_subject": "[待确认公开] {title}",
        "publish_body": "公文《{title}》（{number}）标注了[公开]，本单位未设审批人，须经领导确认后才在政务公开栏目发布。\n"
                        "回复本邮件“同意”即发布；回复“不同意”则不予公开。也可在我的办公桌上确认。\n\n办理情况：{url}\n",
        "publish_unclear": "未能从您的回复中确定是否同意公开（{why}）。请回复“同意”或“不同意”。\n",
        "publish_nobody": "公文《{title}》标注了[公开]，但本单位和上级单位没有您以外的领导可以确认公开，"
                          "因此暂不在政务公开栏目发布。请由其他领导审核后重新发送，或请管理员在组织文件中设置审批人。\n",
        "on_behalf": "{delegate}（代{member}）",
        "joint_refused_subject": "未能发出：{title}",
        "joint_refused_body": "“联合发文”一行中的以下单位不存在，或没有可以签发的领导：{names}\n"
                              "请写单位的代号或全称（如：联合发文: finance, 教育局），修改后重新发送。本邮件未作任何处理。\n",
        "signoff_joint": "本件为{units}联合发文，各单位分别签发；您签发的是{unit}的部分。",
        "signoff_delegate_intro": "您是{member}的签发代理人：您的回复将以代{member}签发的名义记录，并告知{member}本人。",
        "delegate_told_subject": "{delegate}已代您{decision}：{title}",
        "delegate_told_body": "{delegate}于 {at} 代您对《{title}》（第{version}版）作出签发意见：{decision}。\n"
                              "意见：{comment}\n\n办理情况：{url}\n",
        "urgency": "紧急程度",
        "signer": "签发人",
        "issue_date": "成文日期",
        "classified_subject": "涉密公文不得通过邮件发送：{title}",
        "classified_body": "您发送的《{title}》标有密级（{level}），系统已拒收，未作任何分发。\n\n"
                           "按照《党政机关公文处理工作条例》和保密规定，涉密公文应当通过机要交通、机要通信或者"
                           "符合国家保密规定的涉密信息系统传递，不得通过普通邮件或本系统发送。"
                           "请将该文件交本单位机要（保密）部门办理。\n",
        "ack_remind_units": "您是{units}的收文人员，本单位尚未签收此件。\n",
        "copy_only_line": "【抄送】本件抄送贵单位，供知悉。",
        "forward_hint": "本单位收文人员如需转发下级单位（{units}），请回复“转发”，下一行可写转发要求；"
                        "只转发部分单位请回复“转发：单位甲, 单位乙”。",
        "incoming_intro": "{unit}收文（请签收；需转发下级单位的，回复“转发”）",
        "source_organ": "来文机关",
        "source_number": "来文字号",
        "incoming_number": "收文编号",
        "received_at": "收文时间",
        "main_units": "主送",
        "copy_units": "抄送",
        "forward_title": "关于转发《{title}》的通知",
        "forward_body": "{units}：\n\n现将{organ}《{title}》（{number}）转发给你们，{instructions}\n\n{unit}\n",
        "forward_default_instructions": "请结合实际认真贯彻落实。",
        "forward_original_name": "{title}.txt",
        "forward_refused_subject": "未能转发：{title}",
        "forward_refused_body": "您回复“转发”的公文《{title}》未能转发：{reason}\n\n"
                                "回复“转发”转发给本单位全部下级单位，或“转发：单位甲, 单位乙”转发给指定的下级单位。\n",
        "forward_not_receiver": "只有本单位的收文人员（未设收文人员的单位为办公室文书和领导）可以转发",
        "forward_unknown_units": "以下单位不是{unit}的下级单位：{names}",
        "forward_no_units": "{unit}没有下级单位",
        "forward_twice": "{unit}已于 {at} 转发过本件（{child}）",
        "meeting_request_subject": "会议通知：{title}（{when}）",
        "meeting_update_subject": "会议变更：{title}（{when}）",
        "meeting_cancel_subject": "会议取消：{title}（原定{when}）",
        "meeting_heading": "会议通知",
        "meeting_update_heading": "会议变更通知（以本通知为准）",
        "meeting_cancel_heading": "会议取消通知：下列会议已取消。",
        "meeting": "会议",
        "time": "时间",
        "location": "地点",
        "requirements": "要求",
        "organizer": "组织者",
        "rsvp_hint": "请直接回复本邮件告知能否参加：第一行写“参加”、“请假”（其后写原因）或“待定”；"
                     "也可以在日历程序里点“接受”或“拒绝”。",
        "meeting_sent_subject": "已发出会议通知：{title}（{when}）",
        "meeting_sent_body": "您的会议通知《{title}》已发给 {count} 位参会人。\n\n时间：{when}\n地点：{location}\n\n"
                             "如需变更，请回复本邮件，写上新的“时间：”或“地点：”行；如需取消，第一行写“取消”。\n"
                             "参会回复情况：inkless event show {id}\n",
        "schedule_sent_subject": "已加入日程：{title}（{when}）",
        "schedule_sent_body": "《{title}》已加入{whose}的日程。\n\n时间：{when}\n地点：{location}\n\n"
                              "如需变更，请回复本邮件，写上新的“时间：”或“地点：”行；如需取消，第一行写“取消”。\n",
        "event_unreadable_subject": "未能读取时间：{title}",
        "event_unreadable_body": "未能读出会议或日程的时间，因此没有发出通知。\n\n无法读取的内容：{line}\n原因：{reason}\n\n"
                                 "请改正后重新发送，时间行的写法例如：\n  时间：2026-12-03 09:30-11:00\n"
                                 "  时间：2026年12月3日 9:30-11:00\n  时间：12月3日上午9:30-11:00\n",
        "event_refused_subject": "未能加入日程：{title}",
        "event_refused_body": "{reason}\n",
        "event_missing_time": "（邮件中没有“时间：”行）",
        "schedule_for_stranger": "人员“{who}”不是本单位体系内的人员。",
        "schedule_not_allowed": "只有本人，或其所在单位的文书、领导和管理员，可以安排{who}的日程。",
        "rsvp_unclear_subject": "请明确是否参加：{title}",
        "rsvp_unclear_body": "未能从您的回复中读出是否参加（您的第一行：“{line}”）。\n\n"
                             "请回复本邮件，第一行写下列之一：\n  参加 / 出席\n  请假 / 不参加（其后写原因）\n  待定\n",
        "event_cancelled_subject": "会议已取消：{title}",
        "event_cancelled_body": "该会议已于 {at} 取消，您的回复未作记录。\n",
        "rsvp_digest_subject": "参会回复情况：{title}（{when}）",
        "rsvp_digest_body": "会议《{title}》（{when}）共邀请 {total} 人。\n\n"
                            "尚未答复（{pending_count}）：{pending}\n参加（{accepted_count}）：{accepted}\n"
                            "请假（{declined_count}）：{declined}\n待定（{tentative_count}）：{tentative}\n",
        "calendar_name_person": "{name}的日程",
        "calendar_name_unit": "{name}日程",
        "busy": "忙碌",
        "weekdays": "一二三四五六日",
        "none": "无",
        "bot_unlinked": "您好！本机器人为{domain}办公系统服务。请先绑定：向管理员或在“我的办公桌”获取绑定码，然后发送\n/start 绑定码",
        "bot_linked": "已绑定：{name}。今后新公文、待签发、会议通知、督办提醒和短消息会发到这里。发送 /help 查看命令。",
        "bot_bad_code": "绑定码无效、已使用或已过期，请重新获取。",
        "bot_unlinked_done": "已解除绑定，本聊天不再接收通知。",
        "bot_help": "可用命令：\n/desk 我的办公桌\n/pending 待我签发\n/today 今日日程\n/send 单位 内容 发送短消息（文书、领导）\n/unlink 解除绑定",
        "bot_document": "【新公文】{title}\n文号：{number}\n发文单位：{unit}\n\n{excerpt}",
        "bot_ack_button": "收到",
        "bot_acknowledged": "已签收：{title}",
        "bot_approval": "【待签发】{title}（第{version}版）\n提交人：{sender}\n\n{excerpt}",
        "bot_approve_button": "同意",
        "bot_reject_button": "不同意",
        "bot_confirm_approve": "确认同意签发《{title}》（第{version}版）？",
        "bot_confirm_button": "确认同意",
        "bot_cancel_button": "取消",
        "bot_ask_reason": "请发送不同意的理由（下一条消息）。发送“取消”放弃。",
        "bot_cancelled": "已取消，未作处理。",
        "bot_decided": "《{title}》（第{version}版）已由{who}于 {at} 处理：{decision}",
        "bot_not_yours": "此按钮不属于您绑定的账号。",
        "bot_not_your_turn": "尚未轮到您审批：请等待前一位审批人。",
        "bot_invitation": "【会议通知】{title}\n时间：{when}\n地点：{location}",
        "bot_accept_button": "参加",
        "bot_decline_button": "请假",
        "rsvp_tentative": "待定",
        "bot_answered": "已答复：{answer}（{title}）",
        "bot_event_cancelled": "【会议取消】{title}（原定{when}）",
        "bot_short_message": "【短消息】{sender}：\n{text}",
        "bot_read": "已读",
        "bot_sent_short": "短消息已发出：{count} 人（其中 {bot} 人经聊天，{mail} 人经邮件）。",
        "bot_send_usage": "用法：/send 单位代号 内容，例如 /send finance 下午三点开会",
        "bot_send_refused": "只有该单位（或上级单位）的文书和领导可以发送短消息。",
        "bot_desk": "我的办公桌：\n待我签发：{approvals}\n未签收公文：{documents}\n今日日程：{events}\n{top}",
        "bot_pending_none": "没有待您签发的公文。",
        "bot_today_none": "今天没有日程。",
        "short_too_long": "短消息最多 500 字，这条有 {count} 字，未发送。",
        "short_empty": "短消息没有内容，未发送。",
        "short_mail_subject": "[短消息] {sender}：{head}",
        "short_refused_subject": "短消息未发送：{head}",
        "task_subject": "[督办] {title}（期限：{deadline}）",
        "task_body": "{owner}交办督办事项，请{unit}办理：\n\n{title}\n期限：{deadline}\n要求：{requirements}\n\n{body}"
                     "--\n请直接回复本邮件汇报，第一行写：\n  进展：……（汇报进展）\n  办结：……（事项已办结，也可写“完成”）\n"
                     "  申请延期 2026-12-30 原因……\n",
        "task_created_subject": "已交办：{title}（{count} 个单位）",
        "task_created_body": "督办事项《{title}》已交办给：{units}。期限 {deadline}。\n办理情况：inkless task list，或网页 {url}\n",
        "task_done_subject": "[已办结] {title}（{unit}）",
        "task_done_body": "{who} 于 {at} 报告督办事项《{title}》已办结。\n\n{text}\n",
        "task_extension_subject": "[申请延期] {title}（{unit}）",
        "task_extension_body": "{who} 申请将督办事项《{title}》的期限从 {old} 延至 {new}。\n原因：{reason}\n\n"
                               "请直接回复本邮件：第一行写“同意”或“不同意”（其后可写意见）。\n",
        "task_extension_granted_subject": "[同意延期] {title}",
        "task_extension_granted_body": "{owner}同意延期：督办事项《{title}》的期限改为 {new}。{comment}\n",
        "task_extension_refused_subject": "[不同意延期] {title}",
        "task_extension_refused_body": "{owner}不同意延期：督办事项《{title}》的期限仍为 {old}。{comment}\n",
        "task_remind_subject": "[督办提醒] {title}（{days} 个工作日后到期：{deadline}）",
        "task_remind_body": "督办事项《{title}》将于 {deadline} 到期，尚未办结。\n请回复本邮件汇报“进展：……”或“办结”。\n",
        "task_overdue_subject": "[督办超期] {title}（期限 {deadline}）",
        "task_overdue_body": "督办事项《{title}》已于 {deadline} 到期，尚未办结（已超期 {days} 个工作日）。\n"
                             "请回复本邮件汇报“进展：……”或“办结”，或“申请延期 日期 原因”。\n",
        "task_escalate_subject": "[督办升级] {unit}：{title} 已超期",
        "task_escalate_body": "督办事项《{title}》交{unit}办理，期限 {deadline}，已超期 {days} 个工作日仍未办结。\n"
                              "交办人：{owner}\n最近进展：{latest}\n",
        "task_unclear_subject": "请写明进展或办结：{title}",
        "task_unclear_body": "未能从您的回复中读出进展（您的第一行：“{line}”）。\n\n请回复本邮件，第一行写下列之一：\n"
                             "  进展：……\n  办结：……（或“完成”）\n  申请延期 2026-12-30 原因……\n",
        "task_closed_subject": "已办结：{title}",
        "task_closed_body": "督办事项《{title}》已于 {at} 办结，您的回复已记录为备注。\n",
        "task_unreadable_subject": "未能读取期限：{title}",
        "task_unreadable_body": "未能读出督办事项的期限，因此没有交办。\n\n无法读取的内容：{line}\n原因：{reason}\n\n"
                                "请改正后重新发送，例如：\n  期限：2026-12-20\n  期限：2026年12月20日\n",
        "task_missing_deadline": "（邮件中没有“期限：”行）",
        "task_feed_summary": "督办到期：{title}",
        "task_feed_done": "（已办结）",
        "bot_task_reminder": "【督办】{title}\n期限：{deadline}\n{state}",
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
        "unclear_body": "Your reply did not say for certain whether you approve, so nothing changed.\n"
                        "The line read: \"{line}\"\nWhy: {why}\n\n"
                        "Please reply with one of these (above or below the quoted text):\n"
                        "  approve / approved / yes (then any comment)\n  reject / not approved / no (then the reason)\n"
                        "A reply with a question, a choice, a condition or someone else's decision is never read as "
                        "a decision.\n",
        "reading_empty": "the reply has no text of your own (only quoted text or a signature)",
        "reading_no_word": "no decision word such as approve or reject was found",
        "reading_quoted": "\"{word}\" is in quotation marks, as if quoted rather than said",
        "reading_someone_else": "\"{word}\" before the decision word: it may be someone else's decision, or hedged",
        "reading_negation_after": "a negation (\"{word}\") follows the decision word",
        "reading_double_negation": "a double negation",
        "reading_negated_rejection": "a negated rejection (\"{word}\")",
        "reading_question": "the sentence asks a question (\"{word}\")",
        "reading_choice": "the sentence offers a choice (\"{word}\")",
        "reading_condition": "the sentence sets a condition (\"{word}\")",
        "reading_conflict": "another part of the reply says otherwise (\"{word}\")",
        "reading_too_long": "the reply is longer than {word} characters, and the rest was not read",
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
                              "reminder:\n{names}\n\n{units}Tracking: {url}\n",
        "silent_units": "Units that have not signed for it:\n{units}\n\n",
        "copy_number": "Copy number",
        "read_online": "Read online, download the attachments and print:\n{url}",
        "publish_subject": "[Confirm publication] {title}",
        "publish_body": "\"{title}\" ({number}) is marked [公开] and your unit has no approvers: it is published on "
                        "the public disclosure page only once a leader confirms.\nReply \"approve\" to publish it, "
                        "\"reject\" to keep it from the public, or confirm on your desk.\n\nTracking: {url}\n",
        "publish_unclear": "Your reply did not say whether to publish ({why}). Please reply \"approve\" or \"reject\".\n",
        "publish_nobody": "\"{title}\" is marked [公开], but no leader other than you (in your unit or above it) can "
                          "confirm its publication, so it is not published. Have another leader review it and send it "
                          "again, or ask the administrator to give your unit approvers.\n",
        "on_behalf": "{delegate} (for {member})",
        "joint_refused_subject": "Not sent: {title}",
        "joint_refused_body": "These units on the \"联合发文\" line do not exist or have no one to sign off: {names}\n"
                              "Write unit ids or full names "
                              "(e.g. 联合发文: finance, 教育局) and send it again. Nothing was done with this mail.\n",
        "signoff_joint": "This document is issued jointly by {units}; each unit signs it off. You sign off for {unit}.",
        "signoff_delegate_intro": "You are {member}'s delegate for sign-off: your reply is recorded as decided by you "
                                  "on behalf of {member}, who is told.",
        "delegate_told_subject": "{delegate} decided for you ({decision}): {title}",
        "delegate_told_body": "{delegate} decided \"{title}\" (version {version}) on your behalf at {at}: {decision}.\n"
                              "Comment: {comment}\n\nTracking: {url}\n",
        "urgency": "Urgency",
        "signer": "Signed off by",
        "issue_date": "Date of issue",
        "classified_subject": "Classified documents may not be sent by mail: {title}",
        "classified_body": "\"{title}\" is marked {level} (classified). It was refused and sent to no one.\n\n"
                           "Classified documents travel only through the confidential courier and post (机要) or an "
                           "approved classified network, never by ordinary mail or through this system. Please "
                           "hand it to your unit's confidential-documents office.\n",
        "ack_remind_units": "You sign for {units}, which has not signed for this document yet.\n",
        "copy_only_line": "[Copy] This document is copied to your unit for information.",
        "forward_hint": "Receivers: to forward this document to the units below ({units}), reply \"forward\" "
                        "(instructions on the next line); \"forward: unit-a, unit-b\" forwards to some of them.",
        "incoming_intro": "Received by {unit} (please acknowledge; reply \"forward\" to pass it down)",
        "source_organ": "From",
        "source_number": "Source number",
        "incoming_number": "Incoming number",
        "received_at": "Received at",
        "main_units": "To",
        "copy_units": "Copy to",
        "forward_title": "Forwarding \"{title}\"",
        "forward_body": "{units}:\n\nWe forward {organ}'s \"{title}\" ({number}) to you. {instructions}\n\n{unit}\n",
        "forward_default_instructions": "Please act on it.",
        "forward_original_name": "{title}.txt",
        "forward_refused_subject": "Not forwarded: {title}",
        "forward_refused_body": "The document \"{title}\" you replied \"forward\" to was not forwarded: {reason}\n\n"
                                "Reply \"forward\" to pass it to all units below yours, or \"forward: unit-a, unit-b\".\n",
        "forward_not_receiver": "only your unit's receivers (clerks and leaders where it has none) can forward",
        "forward_unknown_units": "these are not units below {unit}: {names}",
        "forward_no_units": "{unit} has no units below it",
        "forward_twice": "{unit} already forwarded it at {at} ({child})",
        "meeting_request_subject": "Meeting: {title} ({when})",
        "meeting_update_subject": "Meeting changed: {title} ({when})",
        "meeting_cancel_subject": "Meeting cancelled: {title} (was {when})",
        "meeting_heading": "Meeting notice",
        "meeting_update_heading": "The meeting has changed; this notice replaces the earlier one.",
        "meeting_cancel_heading": "This meeting has been cancelled.",
        "meeting": "Meeting",
        "time": "Time",
        "location": "Place",
        "requirements": "Requirements",
        "organizer": "Organiser",
        "rsvp_hint": "Reply to this mail to say whether you come: \"accept\", \"decline\" (then the reason) or "
                     "\"tentative\" on the first line; or press Accept or Decline in your calendar app.",
        "meeting_sent_subject": "Meeting notice sent: {title} ({when})",
        "meeting_sent_body": "Your meeting notice \"{title}\" went to {count} attendees.\n\nTime: {when}\n"
                             "Place: {location}\n\nTo change it, reply to this mail with new \"Time:\" or \"Place:\" "
                             "lines; to cancel it, write \"cancel\" on the first line.\n"
                             "Answers so far: inkless event show {id}\n",
        "schedule_sent_subject": "Added to the schedule: {title} ({when})",
        "schedule_sent_body": "\"{title}\" is on {whose} schedule.\n\nTime: {when}\nPlace: {location}\n\n"
                              "To change it, reply to this mail with new \"Time:\" or \"Place:\" lines; to cancel "
                              "it, write \"cancel\" on the first line.\n",
        "event_unreadable_subject": "Could not read the time: {title}",
        "event_unreadable_body": "The time of this meeting or schedule entry could not be read, so nothing was sent."
                                 "\n\nWhat could not be read: {line}\nWhy: {reason}\n\nPlease correct it and send "
                                 "again; time lines look like:\n  Time: 2026-12-03 09:30-11:00\n",
        "event_refused_subject": "Not added to the schedule: {title}",
        "event_refused_body": "{reason}\n",
        "event_missing_time": "(the mail has no \"Time:\" line)",
        "schedule_for_stranger": "\"{who}\" is not a member of the organisation.",
        "schedule_not_allowed": "Only {who} or a clerk, leader or admin of their unit may change their schedule.",
        "rsvp_unclear_subject": "Will you attend? {title}",
        "rsvp_unclear_body": "Your reply did not say whether you will attend (your first line: \"{line}\").\n\n"
                             "Please reply with one of these on the first line:\n  accept\n  decline (then the "
                             "reason)\n  tentative\n",
        "event_cancelled_subject": "Meeting cancelled: {title}",
        "event_cancelled_body": "This meeting was cancelled at {at}; your answer was not recorded.\n",
        "rsvp_digest_subject": "Who is coming: {title} ({when})",
        "rsvp_digest_body": "\"{title}\" ({when}) has {total} invited.\n\nNo answer yet ({pending_count}): "
                            "{pending}\nAccepted ({accepted_count}): {accepted}\nDeclined ({declined_count}): "
                            "{declined}\nTentative ({tentative_count}): {tentative}\n",
        "calendar_name_person": "Schedule of {name}",
        "calendar_name_unit": "{name} schedule",
        "busy": "Busy",
        "weekdays": "Mon Tue Wed Thu Fri Sat Sun",
        "none": "none",
        "bot_unlinked": "Hello! This bot serves the {domain} office system. Link it first: get a link code from your admin or your desk, then send\n/start CODE",
        "bot_linked": "Linked to {name}. New documents, sign-off requests, meetings, task reminders and short messages will come here. /help lists the commands.",
        "bot_bad_code": "That link code is unknown, used or expired; please get a new one.",
        "bot_unlinked_done": "Unlinked: this chat gets no more notifications.",
        "bot_help": "Commands:\n/desk my desk\n/pending awaiting my sign-off\n/today today's schedule\n/send UNIT TEXT short message (clerks, leaders)\n/unlink stop notifications",
        "bot_document": "[Document] {title}\nNumber: {number}\nIssued by: {unit}\n\n{excerpt}",
        "bot_ack_button": "Received",
        "bot_acknowledged": "Acknowledged: {title}",
        "bot_approval": "[Sign-off] {title} (version {version})\nFrom: {sender}\n\n{excerpt}",
        "bot_approve_button": "Approve",
        "bot_reject_button": "Reject",
        "bot_confirm_approve": "Approve \"{title}\" (version {version})?",
        "bot_confirm_button": "Yes, approve",
        "bot_cancel_button": "Cancel",
        "bot_ask_reason": "Send the reason for rejecting as your next message, or \"cancel\".",
        "bot_cancelled": "Cancelled; nothing was decided.",
        "bot_decided": "\"{title}\" (version {version}) was decided by {who} at {at}: {decision}",
        "bot_not_yours": "This button belongs to someone else's account.",
        "bot_not_your_turn": "It is not your turn to sign off yet: the approver before you decides first.",
        "bot_invitation": "[Meeting] {title}\nTime: {when}\nPlace: {location}",
        "bot_accept_button": "Accept",
        "bot_decline_button": "Decline",
        "rsvp_tentative": "Tentative",
        "bot_answered": "Answered: {answer} ({title})",
        "bot_event_cancelled": "[Meeting cancelled] {title} (was {when})",
        "bot_short_message": "[Short message] {sender}:\n{text}",
        "bot_read": "Read",
        "bot_sent_short": "Short message sent to {count} people ({bot} by chat, {mail} by mail).",
        "bot_send_usage": "Usage: /send UNIT TEXT, e.g. /send finance meeting at 3 pm",
        "bot_send_refused": "Only clerks and leaders of that unit (or a unit above it) may send short messages.",
        "bot_desk": "My desk:\nAwaiting my sign-off: {approvals}\nNot yet acknowledged: {documents}\nToday: {events}\n{top}",
        "bot_pending_none": "Nothing awaits your sign-off.",
        "bot_today_none": "Nothing on your schedule today.",
        "short_too_long": "A short message has at most 500 characters; this one has {count}, so it was not sent.",
        "short_empty": "The short message is empty, so it was not sent.",
        "short_mail_subject": "[Short message] {sender}: {head}",
        "short_refused_subject": "Short message not sent: {head}",
        "task_subject": "[Task] {title} (due {deadline})",
        "task_body": "{owner} assigns this supervision task to {unit}:\n\n{title}\nDeadline: {deadline}\n"
                     "Requirements: {requirements}\n\n{body}--\nReply to this mail; on the first line write:\n"
                     "  progress: ... (a progress report)\n  done: ... (the task is done)\n"
                     "  extend 2026-12-30 reason ... (ask for a later deadline)\n",
        "task_created_subject": "Assigned: {title} ({count} units)",
        "task_created_body": "\"{title}\" was assigned to: {units}. Deadline {deadline}.\nProgress: inkless task list, or {url}\n",
        "task_done_subject": "[Done] {title} ({unit})",
        "task_done_body": "{who} reported \"{title}\" done at {at}.\n\n{text}\n",
        "task_extension_subject": "[Extension asked] {title} ({unit})",
        "task_extension_body": "{who} asks to move the deadline of \"{title}\" from {old} to {new}.\nReason: {reason}\n\n"
                               "Reply to this mail with \"approve\" or \"reject\" on the first line (then any comment).\n",
        "task_extension_granted_subject": "[Extension granted] {title}",
        "task_extension_granted_body": "{owner} granted the extension: \"{title}\" is now due {new}. {comment}\n",
        "task_extension_refused_subject": "[Extension refused] {title}",
        "task_extension_refused_body": "{owner} refused the extension: \"{title}\" is still due {old}. {comment}\n",
        "task_remind_subject": "[Task reminder] {title} (due in {days} working days: {deadline})",
        "task_remind_body": "\"{title}\" is due {deadline} and not done yet.\nReply \"progress: ...\" or \"done\".\n",
        "task_overdue_subject": "[Task overdue] {title} (due {deadline})",
        "task_overdue_body": "\"{title}\" was due {deadline} and is not done ({days} working days overdue).\n"
                             "Reply \"progress: ...\", \"done\", or \"extend DATE reason\".\n",
        "task_escalate_subject": "[Task escalated] {unit}: {title} is overdue",
        "task_escalate_body": "\"{title}\", assigned to {unit}, was due {deadline} and is {days} working days overdue.\n"
                              "Owner: {owner}\nLatest progress: {latest}\n",
        "task_unclear_subject": "Progress or done? {title}",
        "task_unclear_body": "Your reply did not say what it reports (your first line: \"{line}\").\n\nPlease reply with "
                             "one of these on the first line:\n  progress: ...\n  done: ...\n  extend 2026-12-30 reason ...\n",
        "task_closed_subject": "Already done: {title}",
        "task_closed_body": "\"{title}\" was done at {at}; your reply was kept as a note.\n",
        "task_unreadable_subject": "Could not read the deadline: {title}",
        "task_unreadable_body": "The deadline could not be read, so the task was not assigned.\n\nWhat could not be read: "
                                "{line}\nWhy: {reason}\n\nPlease correct it and send again, e.g.\n  Deadline: 2026-12-20\n",
        "task_missing_deadline": "(the mail has no \"期限:\" / \"Deadline:\" line)",
        "task_feed_summary": "Task due: {title}",
        "task_feed_done": " (done)",
        "bot_task_reminder": "[Task] {title}\nDue: {deadline}\n{state}",
    },
}


def text(language: str, key: str, **values: object) -> str:
    """The wording for key in language, with values filled in."""
    return TEXTS.get(language, TEXTS["zh"])[key].format(**values)
