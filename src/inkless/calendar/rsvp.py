"""Read an attendee's answer (参加 / 请假 / 待定) from the first human line of a reply.

As with sign-off, negative words come first: "不参加" contains "参加" and "可能参加" is
not a yes. Chinese words match at the start of the line ("请假，下乡检查" declines with a
reason); English ones must be the whole first clause ("no problem" is not a "no").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# English answers end at punctuation only: "no problem" is one clause, not a "no".
CLAUSE_END = re.compile(r"[，,。.;；!！?？:：、\-—()（）]")
QUESTION = ("吗", "么", "嘛", "?", "？")
PUNCTUATION = " \t，,。.;；!！:：、-—"

DECLINE_ZH: tuple[str, ...] = ("不参加", "不能参加", "无法参加", "不出席", "不能出席", "无法出席", "不参会", "请假", "缺席", "拒绝",
              "婉拒", "不去")
TENTATIVE_ZH: tuple[str, ...] = ("待定", "暂定", "可能参加", "尚不确定", "不确定", "未定")
ACCEPT_ZH: tuple[str, ...] = ("参加", "出席", "参会", "接受", "准时参加", "准时出席", "按时参加", "可以参加", "能参加", "确认参加",
             "同意参加", "本人参加", "我参加", "好的")
DECLINE_EN: tuple[str, ...] = ("decline", "declined", "no", "cannot attend", "can't attend", "can not attend", "unable to attend",
              "not attending", "absent", "regrets")
TENTATIVE_EN: tuple[str, ...] = ("tentative", "tentatively", "maybe", "not sure", "perhaps")
ACCEPT_EN: tuple[str, ...] = ("accept", "accepted", "yes", "attend", "will attend", "i will attend", "attending", "i'll be there",
             "ok", "okay")


@dataclass(frozen=True)
class Answer:
    """ACCEPTED, DECLINED, TENTATIVE, or None when unclear; comment is the rest of the text."""

    partstat: str | None
    comment: str | None
    first_line: str


def _match(line: str) -> tuple[str, str] | None:
    clause = CLAUSE_END.split(line.lower(), maxsplit=1)[0].strip()
    for words, partstat in ((DECLINE_EN, "DECLINED"), (TENTATIVE_EN, "TENTATIVE"), (ACCEPT_EN, "ACCEPTED")):
        if clause in words:
            return partstat, line[len(clause):]
    for words, partstat in ((DECLINE_ZH, "DECLINED"), (TENTATIVE_ZH, "TENTATIVE"), (ACCEPT_ZH, "ACCEPTED")):
        for word in sorted(words, key=len, reverse=True):
            if line.startswith(word):
                rest = line[len(word):]
                return None if rest.lstrip().startswith(QUESTION) else (partstat, rest)
    return None


def read_answer(text: str) -> Answer:
    """The answer in a reply's new text (quotes and signatures already stripped)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return Answer(None, None, "")
    first = lines[0]
    found = _match(unicodedata.normalize("NFKC", first))
    if found is None:
        return Answer(None, None, first)
    partstat, rest = found
    comment = "\n".join([rest.lstrip(PUNCTUATION).rstrip()] + lines[1:]).strip()
    return Answer(partstat, comment or None, first)
