"""Reading decisions and stripping quotes: the tables, one case per phrase and client."""

from __future__ import annotations

import pytest

from inkless.handlers.verdict import read_verdict
from inkless.mail.reply_text import html_to_text, quote_style, strip_reply


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
])
def test_first_human_line_decides(text: str, decision: str | None, comment: str | None) -> None:
    verdict = read_verdict(text)
    assert (verdict.decision, verdict.comment) == (decision, comment)


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
