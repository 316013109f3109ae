"""Generated replies (issue 14): an approval spoiled by a negation, a question, a choice, a condition or
another person's name never approves, and text only in the quote or the signature never decides.

Approving replies are built from approve phrasings (with the prefixes that change nothing, with or
without a comment); then the deciding clause is changed in one of those ways, in Chinese or English,
at varied positions. Each reply is put into a client's shape (clients/: the quote of a real
approval request, which itself says "同意", above or below the text) and read as the bridge reads
it: reply_text → read_verdict.

The phrasings are enumerated once into lists and Hypothesis picks from them (a kind of change,
then one phrasing of it, then a client shape): a few draws per example keep 2,000 examples quick.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import product

from hypothesis import given, note, settings
from hypothesis import strategies as st

from inkless.mail.reply_text import reply_text
from inkless.mail.verdict import read_verdict
from tests.replies.clients import HTML_BODIES, TEXT_BODIES, Draft
from tests.replies.originals import DOCUMENTS, PEOPLE, Document, make_request

# Chinese: prefix + (lead, verb) + comment. The lead belongs to the verb's phrase (原则上同意, 拟同意).
ZH_PREFIXES = ("", "本人", "我", "我们", "我局", "意见：", "已阅，", "经研究，", "经研究", "完全", "基本")
ZH_VERBS = (("", "同意"), ("", "批准"), ("原则上", "同意"), ("原则", "同意"), ("拟", "同意"), ("", "准予"))
ZH_WHOLE = ("可以", "行", "无异议", "没意见")
ZH_COMMENTS = ("", "。", "！", "，请修改第三段。", "。如有问题请联系办公室。", "，请按程序办理。", "，报县长审定。",
               "印发。", "上报县政府。", "，附件二的数据请再核对。")
# Comments that stay in the deciding sentence (no sentence end inside).
ZH_CLAUSE_COMMENTS = ("", "，请修改第三段", "，请按程序办理", "，报县长审定", "印发", "上报县政府", "，附件二的数据请再核对")
# Comments that start a new clause or sentence (for forms that end in a word of their own).
ZH_TAILS = tuple(comment for comment in ZH_COMMENTS if comment[:1] in ("", "，", "。", "！"))
ZH_NEGATIONS = ("不", "不能", "无法", "难以", "暂不", "恕难", "不太", "先不", "不予", "没法", "不会", "决不", "不宜", "未能",
                "碍难", "并不", "还不", "绝不")
ZH_FILLERS = ("", "目前", "对此", "这个方案", "认为现阶段", "此件")
ZH_QUESTIONS = ("吗？", "吗?", "么？", "吗", "？", "?", "嘛？", "不？", "吧？")
ZH_CONDITIONS = ("预算不超", "财政局无异议", "补齐材料", "审计没有问题", "县长点头", "司法局审核通过")
ZH_CONDITION_FORMS = ("如果{c}，我就{w}", "若{c}则{w}", "等财政局意见再{w}", "{p}{w}的话请告知", "{c}后{w}", "{p}{w}，前提是{c}",
                      "只要{c}就{w}", "假如{c}，{w}", "在{c}的前提下{w}", "如无异议，{w}", "{c}的情况下{w}", "待{c}后再{w}",
                      "{p}{w}，但要等{c}")
ZH_CHOICE_FORMS = ("{w}还是不{v}", "{w}或退回", "{w}或者驳回", "{w}与否请书记定", "{w}还是退回", "{v}不{v}", "{w}，或者退回重写",
                   "可以不可以", "行不行", "{w}或不{v}都行", "{w}与否，你们定")
ZH_OTHERS = ("县长", "书记", "李局长", "王主任", "他", "她", "财政局", "分管副县长", "局党组", "张县长")

EN_APPROVALS = ("Approved", "I approve", "Approve", "OK", "Agreed", "I agree", "Yes", "LGTM", "I hereby approve this",
                "We approve", "Fully approved")
EN_COMMENTS = ("", ".", ", please fix paragraph 3.", ". Please send it out today.", " - thanks.", "!")
EN_NEGATED = ("I do not approve", "I don't approve", "I cannot approve", "I can't approve", "I won't approve",
              "I will not approve", "I would not approve", "I will never approve", "We can't approve",
              "We do not approve",
              "I could not approve", "Not approved", "This is not approved", "We won't approve", "I do not agree",
              "I don't agree", "Not OK", "Not agreed", "It is not approved", "I never approve", "I am not approving")
EN_OBJECTS = ("", " this", " it as written", " the draft", " this version")
EN_QUESTIONS = ("{w}?", "{w}?? ", "Do you approve?", "Should I approve this?", "Can I approve it?", "{w}, right?",
                "{w} - is that what you need?", "Why should I approve this?", "Is it {l}?")
EN_CHOICES = ("Approve or reject", "Approve or not", "Approved or rejected - your call", "Either approve or return it",
              "{w} or reject", "Yes or no", "{w}, or return it")
EN_CONDITIONS = ("{w} if the budget is cut", "{w} once legal signs off", "{w} pending the audit",
                 "{w} unless finance objects", "I'll approve if the figures are fixed", "{w} as long as section 3 goes",
                 "{w}, provided that the director agrees", "If the director agrees, {l}", "{w} when the budget is cut",
                 "{w} on condition that the budget is cut", "{w} only if legal agrees")
EN_OTHERS = ("The chief approved", "Mr Li agrees", "Finance approved it", "The director has approved",
             "Director Wang approved", "They approved", "She agrees", "The county head approved")


def lower(word: str) -> str:
    return word if word.startswith("I ") else word[0].lower() + word[1:]


def spoiled_chinese() -> dict[str, list[str]]:
    """Every Chinese approval changed so it must not approve, by the kind of change."""
    verbs = [lead + verb for lead, verb in ZH_VERBS]
    return {
        "zh negation before the verb": [f"{p}{f}{lead}{n}{verb}{c}" for p, f, (lead, verb), n, c in product(
            ZH_PREFIXES, ZH_FILLERS, ZH_VERBS, ZH_NEGATIONS, ZH_COMMENTS)],
        "zh negated whole-clause word": [f"{p}{w}{c}" for p, w, c in product(
            ZH_PREFIXES, ("不可以", "不行", "有异议", "有意见", "不能同意", "不大行"), ZH_COMMENTS)],
        "zh negation after the verb": [f"{p}{w}{after}{c}" for p, w, after, c in product(
            ZH_PREFIXES, verbs, ("不了", "不得", "不同意", "不了吧"), ZH_COMMENTS)],
        "zh question": [f"{p}{w}{q}{c[1:] if c[:1] in '，。！' else ''}" for p, w, q, c in product(
            ZH_PREFIXES, verbs + list(ZH_WHOLE), ZH_QUESTIONS, ZH_COMMENTS)],
        "zh question at the sentence end": [f"{p}{w}{c or '，'}{q}" for p, w, c, q in product(
            ZH_PREFIXES, verbs, ZH_CLAUSE_COMMENTS, ("对吗？", "，对吗？", "是吗？", "可否？", "好吗？", "，是不是？"))],
        "zh question word": [f"{p}{q}{verb}{end}" for p, q, (_, verb), end in product(
            ("", "请问", "我们"), ("是否", "能否", "可否", "要不要", "为什么要", "需要我", "该不该"), ZH_VERBS, ("？", "?", "吗？"))],
        "zh choice": [p + form.format(w=lead + verb, v=verb) + c for p, form, (lead, verb), c in product(
            ZH_PREFIXES, ZH_CHOICE_FORMS, ZH_VERBS, ZH_TAILS)],
        "zh condition": [form.format(p=p, w=w, c=cond) + c for p, form, w, cond, c in product(
            ("", "我们", "意见："), ZH_CONDITION_FORMS, verbs + ["可以"], ZH_CONDITIONS, ZH_COMMENTS)],
        "zh someone else": [f"{who}{how}{w}{end}{c.lstrip('，。！')}" for who, how, w, end, c in product(
            ZH_OTHERS, ("", "已", "说", "已经", "也"), verbs, ("了", "了。", "。", ""), ZH_TAILS)],
    }


def spoiled_english() -> dict[str, list[str]]:
    """Every English approval changed so it must not approve, by the kind of change."""
    return {
        "en negation": [f"{n}{o}{c}" for n, o, c in product(EN_NEGATED, EN_OBJECTS, EN_COMMENTS)],
        "en question": [form.format(w=w, l=lower(w)) + tail for form, w, tail in product(
            EN_QUESTIONS, EN_APPROVALS, ("", " Please send more details."))],
        "en choice": [form.format(w=w) + tail for form, w, tail in product(
            EN_CHOICES, EN_APPROVALS, ("", "?", ".", " - your call."))],
        "en condition": [form.format(w=w, l=lower(w)) + tail for form, w, tail in product(
            EN_CONDITIONS, EN_APPROVALS, ("", ".", ". Thanks."))],
        "en someone else": [who + tail for who, tail in product(EN_OTHERS, ("", ".", " today.", ", see below."))],
    }


SPOILED = {**spoiled_chinese(), **spoiled_english()}
# One entry per way of writing a reply: a client's text or HTML body, its layout variant, the request number.
Shape = tuple[str, str, int, int]
SHAPES: list[Shape] = [(kind, name, variant, index) for kind, bodies in (("text", TEXT_BODIES), ("html", HTML_BODIES))
                       for name, variant, index in product(sorted(bodies), range(12), range(16))]


def spoiled() -> st.SearchStrategy[tuple[str, str]]:
    """(kind of change, reply text): the kind first, so every kind is tried as often."""
    return st.one_of([st.tuples(st.just(kind), st.sampled_from(texts)) for kind, texts in SPOILED.items()])


def written(shape: Shape, own: str, *, english: bool, signature: str = "",
            document: Document | None = None) -> str:
    """`own` written in one client shape; returns the text reply_text extracts from it."""
    kind, name, variant, index = shape
    request = make_request(index, PEOPLE[index % len(PEOPLE)], english=english, document=document)
    draft = Draft(request=request, own=own, signature=signature, english=english, variant=variant)
    if name == "interleaved":
        draft = replace(draft, own="", parts=(own, "") if variant % 2 else ("", own))
    body = (TEXT_BODIES if kind == "text" else HTML_BODIES)[name](draft)
    note(f"{name} {kind} (variant {variant}):\n{body}")
    extracted: str = reply_text(body, None) if kind == "text" else reply_text("", body)
    return extracted


def decision(text: str) -> str | None:
    verdict = read_verdict(text)
    note(f"extracted {text!r} → {verdict.decision} ({getattr(verdict, 'rule', '')})")
    found: str | None = verdict.decision
    return found


@settings(max_examples=2000, deadline=None, database=None)
@given(spoiled(), st.sampled_from(SHAPES), st.booleans())
def test_a_spoiled_approval_never_approves(change: tuple[str, str], shape: Shape, bare: bool) -> None:
    kind, own = change
    note(f"{kind}: {own!r}")
    if bare:
        # The text alone, as the reader sees it once the quote is gone.
        assert decision(own) != "approve"
    assert decision(written(shape, own, english=kind.startswith("en"))) != "approve"


DECISIONS = ("同意", "同意，请修改第三段。", "批准", "原则同意。", "可以。", "不同意", "退回。", "Approved.", "I approve.", "OK",
             "Yes", "LGTM", "Rejected.", "No.")
SILENT = ("", "收到", "好的", "已阅", "我再看看。", "Thanks, will read.", "Got it.")
SIGNATURES = ("张建国\n{d}", "{d}\n张建国\n县财政局", "David Li\nFinance Bureau\n{d}")
SIGNING = [shape for shape in SHAPES if shape[1] in ("gmail_top", "gmail_bottom", "thunderbird", "interleaved")]


@settings(max_examples=2000, deadline=None, database=None)
@given(st.sampled_from(SILENT), st.sampled_from(DECISIONS), st.sampled_from(DOCUMENTS),
       st.one_of(st.tuples(st.just("quote"), st.sampled_from(SHAPES), st.just("")),
                 st.tuples(st.just("signature"), st.sampled_from(SIGNING), st.sampled_from(SIGNATURES))))
def test_text_only_in_the_quote_or_the_signature_never_decides(
        own: str, words: str, document: Document, where: tuple[str, Shape, str]) -> None:
    place, shape, signature = where
    english = own.isascii() and shape[2] % 2 == 1
    note(f"own {own!r}, {words!r} in the {place}")
    if place == "quote":
        # A line of the quoted request says it (an earlier approver's answer, a line of the body).
        text = written(shape, own, english=english, document=replace(document, body=f"{words}\n{document.body}"))
    else:
        text = written(shape, own, english=english, signature=signature.format(d=words))
    assert decision(text) is None
