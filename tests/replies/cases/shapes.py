"""Cases that need a shape of reply: a signature, an earlier approval in the quote, HTML, interleaving."""

from __future__ import annotations

from tests.replies.cases.case import APPROVE, REJECT, UNCLEAR, Case

DISCLAIMER = "本邮件含保密信息，未经发件人同意不得转发。"
SIGNATURES = [
    Case("收到，我再看看。", UNCLEAR, True, "同意 only in the signature's disclaimer", signature=f"张建国\n县财政局\n{DISCLAIMER}"),
    Case("", UNCLEAR, True, "empty reply; 同意 only in the signature", signature=f"张建国\n县财政局\n{DISCLAIMER}"),
    Case("不同意，请补充依据。", REJECT, True, "refusal; 同意 in the signature", signature=f"张建国\n县财政局\n{DISCLAIMER}"),
    Case("同意。", APPROVE, True, "approve; the disclaimer's 同意 does not count", signature=f"周海波\n{DISCLAIMER}"),
    Case("Thanks, will read tonight.", UNCLEAR, True, "yes only in the signature motto",
         english=True, signature="David Li\nDeputy Director\n\"Yes we can.\""),
    Case("Not approved.", REJECT, True, "refusal; OK in the signature", english=True,
         signature="David Li\nOK Finance Team"),
    Case("Approved.", APPROVE, True, "'No.' only in the signature", english=True,
         signature="David Li\nFinance Bureau, Office No. 3"),
    Case("驳回。", REJECT, True, "同意 in the signature", signature="赵志强\n同心同意 共建共享"),
]

# The quoted request also shows that an earlier approver wrote 同意.
EARLIER = [
    Case("", UNCLEAR, True, "empty; an earlier approver's 同意 only in the quote", earlier=True),
    Case("收到", UNCLEAR, True, "收到; 同意 only in the quote", earlier=True),
    Case("不同意，与李主任意见相左。", REJECT, True, "refusal under a quoted 同意", earlier=True),
    Case("我也同意。", APPROVE, True, "我也同意 is the approver's own", earlier=True),
    Case("同上。", UNCLEAR, True, "同上 refers to the quote: no decision word of one's own", earlier=True),
    Case("+1", UNCLEAR, True, "+1 is no decision word", earlier=True),
    Case("Same as above.", UNCLEAR, True, "refers to the quote", english=True, earlier=True),
    Case("退回。", REJECT, True, "退回 under a quoted 同意", earlier=True),
    Case("已阅", UNCLEAR, True, "已阅; 同意 only in the quote", earlier=True),
    Case("同意李主任意见。", APPROVE, True, "own 同意 that names another's opinion as its object", earlier=True),
]

# Formatting an HTML editor keeps: what a reader sees is what counts.
HTML_ONLY = ("outlook_html", "qq_html")
FORMATTED = [
    Case("不同意", REJECT, True, "不 in red, 同意 in black: still 不同意",
         own_html='<div><span style="color:#ff0000">不</span>同意</div>', clients=HTML_ONLY),
    Case("同意，请修改第三段。", APPROVE, True, "同意 split by an empty bold tag",
         own_html="<div>同<b></b>意，请修改第三段。</div>", clients=HTML_ONLY),
    Case("不同意，预算过高。", REJECT, True, "the refusal in bold",
         own_html="<div><b>不同意</b>，预算过高。</div>", clients=HTML_ONLY),
    Case("同意。", APPROVE, False, "approve with &nbsp; padding",
         own_html="<div>&nbsp;同意。&nbsp;</div>", clients=HTML_ONLY),
    Case("收到", UNCLEAR, True, "收到 in a paragraph; the quote below says 同意",
         own_html="<p>收到</p><p><br></p>", clients=HTML_ONLY),
    Case("暂不同意，\n等审计报告。", REJECT, True, "a line break inside the sentence",
         own_html="<div>暂不同意，<br>等审计报告。</div>", clients=HTML_ONLY),
]

INTERLEAVED = [Case("", label, adversarial, note, english=english, parts=parts, clients=("interleaved",))
               for parts, label, adversarial, note, english in (
    (("同意。", "第三段的数字请再核对。"), APPROVE, False, "decision between the quoted parts", False),
    (("这段表述不准确，建议改为“按季度”。", "其余同意。"), APPROVE, False, "comment, then 其余同意", False),
    (("这一条我不同意。", "其余没意见。"), UNCLEAR, True, "mixed polarity across the parts", False),
    (("请核实这个数字。", "同意。"), APPROVE, False, "decision under the second quoted part", False),
    (("预算偏高。", "不同意，请压缩后重报。"), REJECT, True, "refusal under the quote that says 同意", False),
    (("收到", ""), UNCLEAR, True, "收到 between quotes", False),
    (("", ""), UNCLEAR, True, "nothing typed", False),
    (("如果县长同意，这里可以保留。", "我这里原则同意。"), UNCLEAR, True, "first deciding sentence is a condition", False),
    (("Agreed, this wording is better.", "Approved overall."), APPROVE, False, "agreed, then approved", True),
    (("Wrong figure here.", "Not approved, the total is wrong."), REJECT, True, "not approved under the quote", True),
    (("", "不同意。"), REJECT, True, "only under the second quoted part", False),
    (("不同意。", ""), REJECT, True, "between the quoted parts", False),
    (("这里要改。", "同意吗？我再想想。"), UNCLEAR, True, "question", False),
    (("这个数对吗？", "核实后再说。"), UNCLEAR, False, "no decision word", False),
    (("同意这一段。", "第二段不同意。"), UNCLEAR, True, "mixed polarity", False),
    (("批准。", ""), APPROVE, False, "批准 between quotes", False),
    (("", "同意，请按程序发文。"), APPROVE, False, "decision at the bottom", False),
    (("No.", "Sorry, the budget is too high."), REJECT, True, "no, then the reason", True),
    (("Is this number right?", "If so, approved."), UNCLEAR, True, "condition", True),
    (("Fine wording.", "Approved, go ahead."), APPROVE, False, "approved at the bottom", True),
    (("王文书：这里的时间写错了。", "改正后可以。"), UNCLEAR, True, "condition 改正后", False),
    (("这部分删去。", "退回修改。"), REJECT, True, "退回 at the bottom", False),
    (("同意。", "同意。"), APPROVE, False, "the same decision twice", False),
    (("好。", "就这样吧。"), UNCLEAR, False, "no decision word", False),
    (("这一段写得好。", "县长同意了。"), UNCLEAR, True, "third party", False),
    (("第一段没问题。", "不予批准，其余部分依据不足。"), REJECT, True, "refusal after praise", False),
)]
