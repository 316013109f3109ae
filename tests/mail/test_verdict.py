"""Reading decisions and stripping quotes: the tables, one case per phrase and client."""

from __future__ import annotations

import pytest

from inkless.mail.reply_text import html_to_text, quote_style, strip_reply
from inkless.mail.verdict import read_verdict


@pytest.mark.parametrize(("text", "decision", "comment"), [
    ("同意", "approve", None),
    ("同意，请修改第三段", "approve", "请修改第三段"),
    ("原则同意。", "approve", None),
    ("拟同意，报县长审定", "approve", "报县长审定"),
    ("已阅，同意", "approve", None),
    ("批准", "approve", None),
    ("Approved, please fix paragraph 3", "approve", "please fix paragraph 3"),
    ("ＯＫ", "approve", None),
    ("yes\nthanks", "approve", "thanks"),
    ("不同意", "reject", None),
    ("不同意，预算过高", "reject", "预算过高"),
    ("不同意。\n理由：超预算", "reject", "理由：超预算"),
    ("不予批准", "reject", None),
    ("退回重写", "reject", "重写"),
    ("驳回：依据不足", "reject", "依据不足"),
    ("Not approved - too costly", "reject", "too costly"),
    ("Reject: over budget", "reject", "over budget"),
    ("no", "reject", None),
    ("我再看看", None, None),
    ("同意吗？", None, None),
    ("No problem", None, None),
    ("可以再讨论", None, None),
    ("", None, None),
    ("李主任：\n经研究，同意。", "approve", None),
    ("意见：同意", "approve", None),
    ("本人原则上同意，请财政局把关", "approve", "请财政局把关"),
    ("可以", "approve", None),
    ("行吧", "approve", None),
    ("无异议", "approve", None),
    ("I approve", "approve", None),
    ("LGTM", "approve", None),
    ("同意。如有问题请联系。", "approve", "如有问题请联系。"),
    ("经研究不同意该方案，请重新拟稿", "reject", "该方案，请重新拟稿"),
    ("我们暂不同意", "reject", None),
    ("恕难同意", "reject", None),
    ("同意不了", "reject", None),
    ("不可以", "reject", None),
    ("不行", "reject", None),
    ("This is not approved, the budget is too high.", "reject", "the budget is too high."),
    ("We do not approve", "reject", None),
    ("We can't approve it as written", "reject", "it as written"),
    ("We are unable to approve", "reject", None),
])
def test_first_human_line_decides(text: str, decision: str | None, comment: str | None) -> None:
    verdict = read_verdict(text)
    assert (verdict.decision, verdict.comment) == (decision, comment)


@pytest.mark.parametrize(("text", "reason"), [
    ("approve?", "question"),
    ("Approve? Let me think", "question"),
    ("同意吗？", "question"),
    ("同意，对吗", "question"),
    ("同意与否请书记定", "question"),
    ("同意还是不同意", "choice"),
    ("同意或退回", "choice"),
    ("Approve or reject", "choice"),
    ("如果县长同意，我也同意", "condition"),
    ("同意，如果财政局没意见的话", "condition"),
    ("等财政局意见再同意", "condition"),
    ("I would approve if the budget is cut", "condition"),
    ("Approved once finance signs off", "condition"),
    ("县长同意了", "someone_else"),
    ("书记已同意", "someone_else"),
    ("the chief approved", "someone_else"),
    ("Approved by the chief", "someone_else"),
    ("I would approve", "someone_else"),
    ("请回复“同意”", "quoted"),
    ("不能不同意", "double_negation"),
    ("I don't not approve", "double_negation"),
    ("不驳回", "negated_rejection"),
    ("同意但不要印发", "negation_after"),
    ("同意退回", "conflict"),
    ("同意。\n不同意第三段。", "conflict"),
    ("收到", "no_word"),
    ("好的", "no_word"),
    ("No problem", "no_word"),
    ("不同意见如下", "no_word"),
    ("请尽快执行", "no_word"),
    ("", "empty"),
])
def test_what_is_not_certain_is_unclear_and_says_why(text: str, reason: str) -> None:
    verdict = read_verdict(text)
    assert (verdict.decision, verdict.reason) == (None, reason)


QUOTED = {
    "Outlook en header block": "不同意\n\nFrom: 县政府办公室 <o@x>\nSent: Friday\nSubject: 同意?\n\n请回复同意",
    "Outlook zh header block": "不同意\n\n发件人: 县政府办公室\n发送时间: 2026年11月27日\n\n同意",
    "Outlook underscore rule": "不同意\n\n________________________________\n同意",
    "Foxmail/QQ original": "不同意\n\n------------------ 原始邮件 ------------------\n同意",
    "Gmail/Apple/Thunderbird en": "不同意\n\nOn Fri, Nov 27, 2026 at 9:30 AM Office <o@x>\nwrote:\n> 同意",
    "Gmail zh": "不同意\n\n王文书 <c@x> 于2026年11月27日周五 09:30写道：\n> 同意",
    "NetEase 163 / Thunderbird zh": "不同意\n\n在 2026-11-27 09:30:00，\"王文书\" <c@x> 写道：\n>同意",
    "Apple Mail zh": "不同意\n\n2026年11月27日 09:30，王文书 <c@x> 写道：\n\n同意",
    "quoted line": "不同意\n> 同意",
}


@pytest.mark.parametrize("style", sorted(QUOTED))
def test_each_quote_style_is_cut(style: str) -> None:
    assert quote_style(QUOTED[style]) == style
    assert strip_reply(QUOTED[style]) == "不同意"


@pytest.mark.parametrize("footer", ["发自我的iPhone", "发自我的华为手机", "Sent from my iPhone", "-- ", "来自网易邮箱大师",
                                    "Get Outlook for Android"])
def test_signatures_are_cut(footer: str) -> None:
    assert strip_reply(f"同意\n\n{footer}\n王文书\n电话 1234") == "同意"


def test_html_quote_containers_are_left_out() -> None:
    outlook = ('<html><body><p>不同意</p><div id="appendonsend"></div><hr>'
               '<div id="divRplyFwdMsg"><b>发件人:</b> x</div><p>同意</p></body></html>')
    gmail = '<div dir="ltr">不同意<br>太贵</div><div class="gmail_quote">On Fri wrote:<blockquote>同意</blockquote></div>'
    apple = '<div>不同意</div><blockquote type="cite"><div>同意</div></blockquote>'
    assert html_to_text(outlook) == "不同意"
    assert html_to_text(gmail) == "不同意\n太贵"
    assert html_to_text(apple) == "不同意"


def test_bottom_posted_text_is_read() -> None:
    thunderbird = ("在 2026/11/27 9:30, 王文书 写道:\n> 请直接回复“同意”即批准。\n> 关于预算的请示\n\n"
                   "我们暂不同意，预算过高。\n\n-- \n李县长\n同意是美德\n")
    assert strip_reply(thunderbird) == "我们暂不同意，预算过高。"
    assert read_verdict(strip_reply(thunderbird)).decision == "reject"


def test_text_between_quoted_parts_is_read() -> None:
    interleaved = "On Fri, Nov 27, 2026 Office <o@x> wrote:\n> 第一段\n\n同意\n\n> 第二段\n\n请修改第二段\n"
    assert strip_reply(interleaved) == "同意\n\n请修改第二段"


def test_an_attribution_followed_by_an_unmarked_original_ends_the_text() -> None:
    assert strip_reply("不同意\n\nOn Fri, Nov 27, 2026 Office <o@x> wrote:\n\n同意\n") == "不同意"


def test_only_the_start_of_a_long_reply_is_read_and_it_decides_nothing() -> None:
    comment = "请修改第三段。" * 3_000
    for decision in ("同意。", "不同意。"):
        verdict = read_verdict(decision + comment + "\n其余同意。")
        assert (verdict.decision, verdict.reason) == (None, "too_long")
    assert read_verdict("同意，" * 1_000_000).decision is None
    # The cut falls at a sentence end: a word is never read half (不准确 as 不准).
    cut_word = read_verdict("谢谢。" * 3332 + "好。" + "不准确的地方已改。" + "说明。" * 10)
    assert (cut_word.decision, cut_word.reason) == (None, "no_word")
