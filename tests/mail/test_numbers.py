"""Document numbers in mail from outside (来文字号): found in the subject or the first lines,
written back the standard way, taken off the title only where they stand apart."""

from __future__ import annotations

import pytest

from inkless.mail.numbers import find_number


@pytest.mark.parametrize(("subject", "body", "number", "title"), [
    ("京政发〔2026〕12号 关于做好冬季供暖保障工作的通知", "", "京政发〔2026〕12号", "关于做好冬季供暖保障工作的通知"),
    ("关于做好冬季供暖保障工作的通知（京政发[2026]12号）", "", "京政发〔2026〕12号", "关于做好冬季供暖保障工作的通知"),
    ("京政办发(2026)3号：关于开展检查的通知", "", "京政办发〔2026〕3号", "关于开展检查的通知"),
    ("京教函【2026】007号 关于X", "", "京教函〔2026〕7号", "关于X"),
    ("京政发（2026）12号", "", "京政发〔2026〕12号", "京政发（2026）12号"),
    # In the middle of the title it is read, and the title is left as written.
    ("关于转发京政发〔2026〕12号文件的通知", "", "京政发〔2026〕12号", "关于转发京政发〔2026〕12号文件的通知"),
    ("关于开展检查的通知", "各区县人民政府：\n\n京政办发(2026)3号\n", "京政办发〔2026〕3号", "关于开展检查的通知"),
    # Only the first lines are read; a year alone is no number.
    ("关于X", "\n" * 12 + "京政发〔2026〕12号", None, "关于X"),
    ("关于2026年预算的通知", "经费〔2026〕年度", None, "关于2026年预算的通知"),
])
def test_a_document_number_is_found_and_written_the_standard_way(subject: str, body: str, number: str | None,
                                                                 title: str) -> None:
    assert find_number(subject, body) == (number, title)
