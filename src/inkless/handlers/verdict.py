"""Read a sign-off decision from the first human line of a reply.

Negation comes first: "不同意" contains "同意" and must never read as approval, so the
reject words are tried before the approve words. Chinese keywords match at the start of
the first clause ("同意请修改第三段" approves); English ones must be the whole first
clause ("No problem" is not a "no"). Anything else is unclear and changes nothing.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

REJECT_ZH: tuple[str, ...] = ("不同意", "不予批准", "不予同意", "不予通过", "不批准", "不通过", "不准", "退回", "驳回", "否决", "拒绝",
             "暂缓")
APPROVE_ZH: tuple[str, ...] = ("原则同意", "拟同意", "同意", "批准", "准予", "通过")
REJECT_EN: tuple[str, ...] = ("not approved", "disapproved", "disapprove", "rejected", "reject", "declined", "decline", "denied",
             "deny", "no")
APPROVE_EN: tuple[str, ...] = ("approved", "approve", "agreed", "agree", "yes", "ok", "okay", "lgtm")
# A reader's "seen" before the decision: "已阅，同意".
SEEN: tuple[str, ...] = ("已阅", "阅", "已读", "收到")
# English clauses end at punctuation only: "no problem" is one clause, not a "no".
CLAUSE_END = re.compile(r"[，,。.;；!！?？:：、\-—()（）]")
QUESTION = ("吗", "么", "嘛", "?", "？")
PUNCTUATION = " \t，,。.;；!！:：、-—"


@dataclass(frozen=True)
class Verdict:
    """approve, reject, or None when unclear; comment is the rest of the text."""

    decision: str | None
    comment: str | None
    first_line: str


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def _first_clause(line: str) -> tuple[str, str]:
    match = CLAUSE_END.search(line)
    if match is None:
        return line, ""
    return line[:match.start()], line[match.start():]


def _match(line: str) -> tuple[str, str] | None:
    """(decision, rest of the line) when the line starts with a decision."""
    lowered = line.lower()
    clause, _ = _first_clause(lowered)
    clause = clause.strip()
    for words, decision in ((REJECT_EN, "reject"), (APPROVE_EN, "approve")):
        if clause in words:
            return decision, line[len(clause):]
    for words, decision in ((REJECT_ZH, "reject"), (APPROVE_ZH, "approve")):
        for word in words:
            if line.startswith(word):
                rest = line[len(word):]
                # "同意吗？" asks; it does not decide.
                return None if rest.lstrip().startswith(QUESTION) else (decision, rest)
    return None


def read_verdict(text: str) -> Verdict:
    """The decision in a reply's new text (quotes and signatures already stripped)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return Verdict(None, None, "")
    first = lines[0]
    # Matching reads full-width letters and punctuation as their ASCII forms (NFKC keeps
    # the length of these characters), while the comment keeps what the person wrote.
    line = _normalise(first)
    skipped = 0
    for seen in SEEN:
        if line.startswith(seen) and len(line) > len(seen) and line[len(seen)] in PUNCTUATION:
            skipped = len(line) - len(line[len(seen):].lstrip(PUNCTUATION))
            break
    found = _match(line[skipped:])
    if found is None:
        return Verdict(None, None, first)
    decision, rest = found
    original_rest = first[len(first) - len(rest):] if len(_normalise(first)) == len(first) else rest
    comment = "\n".join([original_rest.lstrip(PUNCTUATION).rstrip()] + lines[1:]).strip()
    return Verdict(decision, comment or None, first)
