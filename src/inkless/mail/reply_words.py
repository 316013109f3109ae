"""The words and patterns a reply's decision is read by (mail/verdict.py reads with them)."""

from __future__ import annotations

import re

# Verbs that decide and may take an object or a comment in the same clause ("同意该方案",
# "approve it as written"). Longest first where one contains another.
APPROVE_VERBS_ZH: tuple[str, ...] = ("同意", "批准", "准予", "核准", "赞成")
REJECT_VERBS_ZH: tuple[str, ...] = ("驳回", "退回", "否决", "拒绝", "暂缓", "反对", "不妥", "不准")
APPROVE_VERBS_EN: tuple[str, ...] = ("approved", "approves", "approve", "agreed", "agrees", "agree")
REJECT_VERBS_EN: tuple[str, ...] = ("disapproved", "disapprove", "disagreed", "disagree", "rejected", "reject",
                                    "declined", "decline", "denied", "deny", "vetoed", "veto")
# Words that, followed by these, are something else: 不同意见 "dissenting views", 同意书 a consent
# form, 批准文号 an approval number, 不准确 "inaccurate".
NOT_DECISIONS: dict[str, tuple[str, ...]] = {"同意": ("见", "书"), "批准": ("文号", "书", "号"), "不准": ("确", "时")}
# Every verb in one pattern, read once per clause: at one position the earlier list wins, as
# listed (Chinese approve, Chinese reject, English approve, English reject).
VERB_LISTS = ((APPROVE_VERBS_ZH, "approve"), (REJECT_VERBS_ZH, "reject"), (APPROVE_VERBS_EN, "approve"),
               (REJECT_VERBS_EN, "reject"))
POLARITY = {word: polarity for words, polarity in VERB_LISTS for word in words}


def verb_pattern(word: str) -> str:
    if word.isascii():
        return rf"\b{word}\b"
    exceptions = NOT_DECISIONS.get(word)
    return re.escape(word) + (f"(?!{'|'.join(map(re.escape, exceptions))})" if exceptions else "")


# At each position the alternatives are tried in order, an exception (同意见) failing only its own word.
VERBS = re.compile("|".join(verb_pattern(word) for words, _ in VERB_LISTS for word in words))
# Words that decide only as the whole clause (with first-person words, negations and particles).
APPROVE_WHOLE: tuple[str, ...] = ("没有异议", "没有意见", "审核通过", "审批通过", "无异议", "没异议", "没意见", "无意见",
                                  "可以", "通过", "行", "okay", "ok", "yes", "yep", "lgtm")
REJECT_WHOLE: tuple[str, ...] = ("nope", "no")

# Words before the decision word that do not change it: who decides (the writer), that it was
# read or studied, degree and softeners.
NEUTRAL_ZH: tuple[str, ...] = (
    "本人", "我们", "我局", "我办", "我委", "我部", "我单位", "本单位", "本局", "我", "意见", "批示", "已阅", "已审阅", "阅",
    "经研究", "经审核", "经审阅", "研究", "审核", "原则上", "原则", "基本上", "基本", "完全", "表示", "予以", "拟", "也", "都",
    "均", "就", "是", "仍", "还", "特此", "现", "对此", "此件", "该件", "本件", "此事", "可以", "已经",
    "已", "同样", "非常", "十分", "很", "坚决", "实在", "确实", "仍然", "依然", "还是", "认为", "目前", "现阶段", "经过",
    "认真", "个人", "其余", "其他", "其它", "对于", "对", "这个", "这次", "此次", "本次", "这", "该", "此", "本", "方案",
    "请示", "文件", "报告", "事项", "申请", "经",
)
NEGATIONS_ZH: tuple[str, ...] = (
    "没办法", "暂时不", "没有", "没法", "无法", "难以", "不能", "不太", "暂不", "先不", "恕难", "恕不", "碍难", "不予",
    "不便", "不宜", "不会", "不可", "尚不", "还不", "仍不", "并不", "决不", "绝不", "从不", "不再", "不得", "未能", "不敢", "并非", "不好", "不", "没", "未",
    "无", "难", "别", "勿", "非",
)
NEUTRAL_EN = frozenset({
    "i", "we", "hereby", "fully", "totally", "completely", "also", "formally", "officially", "indeed", "do", "does",
    "am", "are", "is", "be", "been", "has", "have", "it", "this", "that", "so", "then", "all", "the", "request",
    "document", "proposal", "draft", "version", "to", "able", "longer", "yet", "as", "written", "well", "ok", "yes",
    "unfortunately", "sorry", "regretfully", "afraid", "however", "but", "still", "really", "currently", "at",
    "time", "point", "moment", "stage", "present",
})
NEGATIONS_EN = frozenset({"not", "no", "never", "cannot", "unable", "nor"})
# Modal verbs count only with their negation ("can't approve"); alone ("I would approve")
# they leave the decision open.
MODALS_EN = frozenset({"can", "could", "will", "would", "shall", "should", "may", "might", "must", "did", "do", "does",
                       "is", "are", "was", "were", "am", "has", "have"})
CONTRACTIONS = (("can't", "can not"), ("won't", "will not"), ("n't", " not"), ("i'm", "i am"), ("we're", "we are"),
                ("it's", "it is"), ("that's", "that is"), ("i've", "i have"), ("we've", "we have"))
PARTICLES = "了吧啊呀的哈啦嘛哦嗯 "
# Cyrillic and Greek letters that look like Latin ones, and the typographic apostrophes.
LOOKALIKES = str.maketrans({"а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i",
                             "ј": "j", "ѕ": "s", "ԁ": "d", "ο": "o", "α": "a", "ε": "e", "ν": "v", "κ": "k",
                             "τ": "t", "ι": "i", "’": "'", "‘": "'", "`": "'"})

# Sentence-wide markers that leave any decision open.
QUESTION = re.compile(r"[?？吗么呢啥哪]|请问|为何|何必|是否|能否|可否|与否|要不要|是不是|行不行|可不可以|同不同意|"
                      r"批不批|好不好|对不对|怎么样|如何|\bwhether\b")
CHOICE = re.compile(r"还是|或者|或|抑或|要么|\bor\b|\beither\b")
CONDITION = re.compile(r"如果|如若|假如|假若|倘若|要是|只要|除非|一旦|的话|前提|(?<!若)若(?!干)|"
                       r"(?<![例比假])如(?![期实下上此今何果若同])|"
                       r"等[^,.;!?。]{0,20}?(?:再|之后|以后)|(?:要|需|须|得|先|还)等|等到|等待|条件|"
                       r"待[^,.;!?。]{0,20}?(?:后|再)|视[^,.;!?。]{0,20}?(?:而定|情况)|"
                       r"\b(?:if|unless|once|provided|pending|assuming|until|when)\b|subject to|as long as|"
                       r"on condition|conditional")
# "如有问题请联系" after the decision is a comment, not a condition on it.
COMMENT_CONDITION = re.compile(r"^如(?:有|需)")
QUOTES = "\"'“”‘’「」『』《》"
SENTENCE_END = re.compile(r"[。!?;\n]+|\.(?!\d)\s*")
CLAUSE_END = re.compile(r"[,、:()\[\]~…—–]|\s-\s|\s-$")
# How much of a reply's own text is read: decisions stand at its start, and the cost of a
# reading stays bounded whatever a client sends.
READ_LIMIT = 10_000
# Stripped from the start of a comment.
PUNCTUATION = " \t，,。.;；!！:：、-—"
