"""Read a sign-off decision from a reply's own text, by an explicit analysis of its clauses.

The own text (quotes and signatures already removed, see mail/reply_text.py) is split into
sentences (。!?; and line ends) and clauses (,、:). The deciding sentence is the first one
that holds a decision word, and its first such clause is the deciding clause. There:

- The words before the decision word must each be known to change nothing (本人, 我们,
  意见, 已阅, 经研究, 原则上, I, we, hereby …) or be negations. One negation turns an
  approval into a rejection (暂不同意, 恕难同意, can't approve); two, or a negated
  rejection (不驳回), are unclear. Any other word may name someone else (县长同意, the
  chief approved) and is unclear.
- Short words (可以, 行, 通过, OK, yes, LGTM) decide only as the whole clause: "可以再讨论"
  decides nothing.
- A negation after the approving word in the same clause (同意不了, 同意但不印发) does not
  approve; a question, a choice or a condition anywhere in the sentence (吗, ?, 是否, 还是,
  或, 如果, 若, 等…再, whether, or, if) is unclear; so is the word in quotation marks (a
  quoted instruction, 请回复“同意”).
- An approval must be certain: a later sentence that rejects or negates makes it unclear.

The rest of the text after the decision word is the comment. Every reading names the
rule that decided, for the answer mail and `inkless reply explain`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from inkless.mail import texts
from inkless.mail.parse import parse_message
from inkless.mail.reply_text import reply_text
from inkless.mail.reply_words import (
    APPROVE_WHOLE,
    CHOICE,
    CLAUSE_END,
    COMMENT_CONDITION,
    CONDITION,
    CONTRACTIONS,
    LOOKALIKES,
    MODALS_EN,
    NEGATIONS_EN,
    NEGATIONS_ZH,
    NEUTRAL_EN,
    NEUTRAL_ZH,
    PARTICLES,
    POLARITY,
    PUNCTUATION,
    QUESTION,
    QUOTES,
    READ_LIMIT,
    REJECT_WHOLE,
    SENTENCE_END,
    VERBS,
)


@dataclass(frozen=True)
class Verdict:
    """approve, reject, or None when unclear; comment is the rest of the text.

    `first_line` is the line read, `clause` the deciding clause, `rule` why (in English, for
    the audit log and `inkless reply explain`); when unclear, `reason` names the rule for the
    answer mail (texts.py "reading_<reason>") with `word` the word it is about. `text` is the
    own text that was read.
    """

    decision: str | None
    comment: str | None
    first_line: str
    clause: str = ""
    rule: str = ""
    reason: str | None = None
    word: str = ""
    text: str = field(default="", compare=False)


@dataclass(frozen=True)
class _Found:
    """A decision word in a clause: where, which, and its polarity before analysis."""

    start: int
    end: int
    word: str
    polarity: str


def _fold(text: str) -> tuple[str, list[int]]:
    """The text as matched, with the original position of each of its characters.

    NFKC (full-width letters and punctuation as ASCII), lower case, one apostrophe, Latin
    letters for their Cyrillic and Greek look-alikes ("Nоt approved" is not approved).
    Spaces between Chinese characters go ("不 同 意"), and so does a line break right after
    a negation, where a client wrapped the line ("我们不\n同意").
    """
    chars: list[tuple[str, int]] = []
    for position, char in enumerate(text):
        if char in "\u200b\u200c\u200d\u2060\ufeff":
            continue
        folded = unicodedata.normalize("NFKC", char).lower().translate(LOOKALIKES)
        chars.extend((piece, position) for piece in folded)
    kept: list[tuple[str, int]] = []
    index = 0
    while index < len(chars):
        char = chars[index][0]
        if char.isspace():
            end = index
            while end < len(chars) and chars[end][0].isspace():
                end += 1
            before = "".join(c for c, _ in kept[-4:])
            after = chars[end][0] if end < len(chars) else ""
            if _is_cjk(before[-1:]) and _is_cjk(after) and ("\n" not in "".join(c for c, _ in chars[index:end])
                                                           or before.endswith(NEGATIONS_ZH)):
                index = end
                continue
            if "\n" in "".join(c for c, _ in chars[index:end]) and re.search(r"(\bnot|n't|\bnever|\bcannot)$", before):
                kept.append((" ", chars[index][1]))
                index = end
                continue
        kept.append(chars[index])
        index += 1
    return "".join(c for c, _ in kept), [position for _, position in kept]


def _is_cjk(char: str) -> bool:
    return bool(char) and "\u4e00" <= char <= "\u9fff"


def _spans(text: str, separator: re.Pattern[str], start: int, end: int) -> list[tuple[int, int]]:
    """(start, end) of the parts of text[start:end] between separators; a part keeps its separator."""
    spans, begin = [], start
    for match in separator.finditer(text, start, end):
        if text[begin:match.end()].strip():
            spans.append((begin, match.end()))
        begin = match.end()
    if text[begin:end].strip():
        spans.append((begin, end))
    return spans


def _english_words(text: str) -> list[str] | None:
    """The English words of a prefix, contractions opened; None when it holds other letters."""
    for short, long in CONTRACTIONS:
        text = text.replace(short, long)
    if re.search(r"[^\sa-z'.,]", text):
        return None
    return [word for word in re.findall(r"[a-z']+", text)]


def _prefix(text: str) -> tuple[int, str | None]:
    """How many negations stand before a decision word, or (0, word) naming an unknown word."""
    text = text.strip(" \t'\".,:;")
    if not text:
        return 0, None
    words = _english_words(text)
    if words is not None:
        negations = 0
        for index, word in enumerate(words):
            following = words[index + 1] if index + 1 < len(words) else ""
            if word in NEGATIONS_EN:
                negations += 1
            elif word in MODALS_EN and following in NEGATIONS_EN:
                continue
            elif word not in NEUTRAL_EN:
                return 0, word
        return negations, None
    negations, position = 0, 0
    compact = re.sub(r"\s+", "", text)
    while position < len(compact):
        negation = next((w for w in NEGATIONS_ZH if compact.startswith(w, position)), None)
        neutral = next((w for w in NEUTRAL_ZH if compact.startswith(w, position)), None)
        if negation is not None and (neutral is None or len(negation) >= len(neutral)):
            negations += 1
            position += len(negation)
        elif neutral is not None:
            position += len(neutral)
        else:
            unknown = re.match(r"[a-z]+|.{1,6}", compact[position:])
            return 0, unknown.group(0) if unknown else compact[position:]
    return negations, None


def _find(clause: str) -> _Found | None:
    """The first decision word of a clause (verbs anywhere, short words as the whole clause)."""
    match = VERBS.search(clause)
    if match is not None:
        return _Found(match.start(), match.end(), match.group(0), POLARITY[match.group(0)])
    # A short word counts only when what stands before it is known (执行 is no 行).
    core = clause.rstrip(PARTICLES + " \t\n.,!?;:。，、-—–")
    for words, polarity in ((APPROVE_WHOLE, "approve"), (REJECT_WHOLE, "reject")):
        for word in words:
            before = core[:-len(word)]
            if core.endswith(word) and not (word.isascii() and before[-1:].isalpha()) and _prefix(before)[1] is None:
                return _Found(len(core) - len(word), len(core), word, polarity)
    return None


@dataclass(frozen=True)
class _Reading:
    """One clause read: the decision (None: unclear) and why."""

    decision: str | None
    rule: str
    reason: str | None = None
    word: str = ""
    consumed: int = 0


def _read_clause(clause: str, found: _Found) -> _Reading:
    """The decision of the clause holding `found`, by what stands before and after the word."""
    before, after, word = clause[:found.start], clause[found.end:], found.word
    if before.rstrip()[-1:] and before.rstrip()[-1] in QUOTES or after.lstrip()[:1] and after.lstrip()[0] in QUOTES:
        return _Reading(None, f'"{word}" is quoted, not said', "quoted", word)
    negations, unknown = _prefix(before)
    if unknown is not None:
        return _Reading(None, f'"{unknown}" before "{word}": the decision may be someone else\'s, or hedged',
                        "someone_else", unknown)
    tail = after.lstrip()
    opposite = _find(tail)
    if opposite is not None and opposite.polarity != found.polarity:
        return _Reading(None, f'"{word}" and "{opposite.word}" in one clause', "conflict", opposite.word)
    if found.polarity == "approve" and re.match(r"^(不了|不得|不来|不成)", tail):
        return _Reading("reject", f'"{word}{tail[:2]}": cannot {word}', consumed=len(after) - len(tail) + 2)
    if re.search(r"不|没|未|\bnot\b|n't|\bnever\b|\bno\b", tail):
        negation = re.search(r"不|没|未|\bnot\b|n't|\bnever\b|\bno\b", tail)
        assert negation is not None
        return _Reading(None, f'a negation ("{negation.group(0)}") after "{word}"', "negation_after", negation.group(0))
    if found.polarity == "approve" and re.match(r"^by\b(?!\s+me\b|\s+myself\b)", tail):
        return _Reading(None, f'"{word} by" someone else', "someone_else", tail[:20])
    if negations >= 2:
        return _Reading(None, f'double negation before "{word}"', "double_negation", word)
    if negations == 1 and found.polarity == "reject":
        return _Reading(None, f'negated rejection ("{before.strip()}{word}")', "negated_rejection", word)
    if negations == 1:
        return _Reading("reject", f'negation "{before.strip()}" before "{word}"')
    shown = f' after "{before.strip()}"' if before.strip() else ""
    return _Reading(found.polarity, f'"{word}"{shown}')


def _open_marker(sentence: str, clause_start: int, word_start: int, word_end: int,
                 scope_end: int) -> tuple[str, str] | None:
    """A question, choice or condition in sentence[:scope_end]: (reason, word), or None.

    Positions are within the sentence. "如有问题请联系" after the decision word is a comment,
    not a condition on it; "还是" just before the word is "still" (还是不同意), not a choice.
    """
    for reason, pattern in (("question", QUESTION), ("choice", CHOICE), ("condition", CONDITION)):
        for match in pattern.finditer(sentence, 0, scope_end):
            if reason == "condition" and match.start() >= word_end and COMMENT_CONDITION.match(
                    sentence[match.start():]):
                continue
            if match.group(0) == "还是" and clause_start <= match.start() < word_start:
                continue
            return reason, match.group(0)
    return None


def read_verdict(text: str) -> Verdict:
    """The decision in a reply's own text (quotes and signatures already removed).

    Only the first READ_LIMIT characters are read (up to the last sentence end among them), so
    a long reply costs what a short one does; and since what was left unread may say otherwise
    (其余同意, 以上意见作废), a longer reply decides nothing: the approver is asked again.
    """
    original = text.strip()
    if len(original) <= READ_LIMIT:
        return _read(original)
    cut = max(original.rfind(end, 0, READ_LIMIT) for end in "。！？!?；;\n") + 1
    verdict = _read(original[:cut if cut > READ_LIMIT // 2 else READ_LIMIT])
    if verdict.decision is None:
        return verdict
    return _unclear(verdict, f"the reply's own text is longer than {READ_LIMIT} characters: the rest was not read",
                    "too_long", str(READ_LIMIT))


def _read(original: str) -> Verdict:
    if not original:
        return Verdict(None, None, "", rule="no text of the reply's own (only quoted text or a signature)",
                       reason="empty", text=original)
    folded, origin = _fold(original)

    def source(start: int, end: int) -> str:
        if start >= len(origin):
            return ""
        last = origin[end - 1] + 1 if end > start else origin[start]
        return original[origin[start]:last]

    def line_at(position: int) -> str:
        at = origin[min(position, len(origin) - 1)]
        begin = original.rfind("\n", 0, at) + 1
        finish = original.find("\n", at)
        return original[begin:finish if finish >= 0 else len(original)].strip()

    sentences = _spans(folded, SENTENCE_END, 0, len(folded))
    for number, (start, end) in enumerate(sentences):
        for clause_start, clause_end in _spans(folded, CLAUSE_END, start, end):
            clause = folded[clause_start:clause_end]
            found = _find(clause)
            if found is None:
                continue
            word_start, word_end = clause_start + found.start, clause_start + found.end
            shown_clause = source(clause_start, clause_end).strip()
            line = line_at(word_start)
            reading = _read_clause(clause, found)
            # An approval must hold for the whole sentence; a rejection for its own clause
            # ("暂不同意，待审计后再议" still rejects).
            scope_end = (clause_end if reading.decision == "reject" else end) - start
            marker = _open_marker(folded[start:end], clause_start - start, word_start - start, word_end - start,
                                  scope_end)
            if marker is not None:
                reason, word = marker
                return Verdict(None, None, line, clause=shown_clause, reason=reason, word=word, text=original,
                               rule=f'{reason} ("{word}") in the deciding sentence')
            verdict = Verdict(reading.decision, None, line, clause=shown_clause, rule=reading.rule,
                              reason=reading.reason, word=reading.word, text=original)
            if reading.decision is None:
                return verdict
            word_end += reading.consumed
            contrary = _contrary(folded, sentences, number, clause_end, reading.decision)
            if contrary is not None:
                shown = source(*contrary).strip()
                return _unclear(verdict, f'"{shown}" says otherwise', "conflict", shown[:40])
            comment = source(word_end, len(folded)).lstrip(PARTICLES + PUNCTUATION + "-—").strip() if \
                word_end < len(folded) else ""
            return Verdict(reading.decision, comment or None, line, clause=shown_clause,
                           rule=f"{reading.decision}: {reading.rule}", text=original)
    first = original.splitlines()[0].strip()
    return Verdict(None, None, first, rule="no decision word (同意 / 不同意 / approve / reject …)", reason="no_word",
                   text=original)


def _unclear(verdict: Verdict, rule: str, reason: str, word: str) -> Verdict:
    return Verdict(None, None, verdict.first_line, clause=verdict.clause, rule=rule, reason=reason, word=word,
                   text=verdict.text)


def _contrary(folded: str, sentences: list[tuple[int, int]], number: int, after: int,
              decision: str) -> tuple[int, int] | None:
    """A later clause that says otherwise: after an approval, one that rejects, negates or
    questions a decision word; after a rejection, one that approves (不同意。其余同意。)."""
    for start, end in sentences[number:]:
        for clause_start, clause_end in _spans(folded, CLAUSE_END, max(start, after), end):
            clause = folded[clause_start:clause_end]
            found = _find(clause)
            if found is None:
                continue
            reading = _read_clause(clause, found)
            if decision == "reject":
                if reading.decision == "approve":
                    return clause_start, clause_end
                continue
            if reading.decision != "approve" and reading.reason != "someone_else":
                return clause_start, clause_end
            if reading.reason == "someone_else" and found.polarity == "reject":
                return clause_start, clause_end
            if re.search(r"不|没|未|\bnot\b|\bno\b", clause[:found.start]):
                return clause_start, clause_end
    return None


def read_reply(raw: bytes) -> Verdict:
    """How a whole reply message (RFC 5322 bytes) reads: its own text, then the decision."""
    message = parse_message(raw)
    return read_verdict(reply_text(message.text, message.html))


def why_unclear(language: str, verdict: Verdict) -> str:
    """Why a reply was unclear, in the reader's language, for the answer that asks again."""
    return texts.text(language, f"reading_{verdict.reason or 'no_word'}", word=verdict.word)
