"""Reading an attendee's answer from the first line of a reply: negatives before positives."""

from __future__ import annotations

import pytest

from inkless.calendar.rsvp import read_answer


@pytest.mark.parametrize("text, partstat, comment", [
    ("参加", "ACCEPTED", None),
    ("出席。", "ACCEPTED", None),
    ("准时参加，谢谢", "ACCEPTED", "谢谢"),
    ("Accept", "ACCEPTED", None),
    ("yes, see you there", "ACCEPTED", "see you there"),
    ("不参加", "DECLINED", None),
    ("请假，当天下乡检查", "DECLINED", "当天下乡检查"),
    ("无法参加：在市里开会", "DECLINED", "在市里开会"),
    ("decline - on leave", "DECLINED", "on leave"),
    ("待定", "TENTATIVE", None),
    ("可能参加，视工作安排", "TENTATIVE", "视工作安排"),
    ("Tentative", "TENTATIVE", None),
    ("ＡＣＣＥＰＴ", "ACCEPTED", None),
])
def test_answers(text: str, partstat: str, comment: str | None) -> None:
    answer = read_answer(text)
    assert (answer.partstat, answer.comment) == (partstat, comment)
    # Further lines join the comment.
    assert read_answer(text + "\n\n另附说明").comment == ((comment + "\n") if comment else "") + "另附说明"


@pytest.mark.parametrize("text", ["参加吗？", "no problem, I will check", "请问会议室在哪里", "", "收到"])
def test_unclear_answers_change_nothing(text: str) -> None:
    assert read_answer(text).partstat is None
