"""Header fields of outbound mail: what a mail reader shows is what Inkless meant to say."""

from __future__ import annotations

from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default

import pytest

from inkless.mail.compose import POLICY, body_entity, header_block, text_part


def shown(block: bytes, name: str) -> str:
    return str(message_from_bytes(block + b"\r\nbody\r\n", policy=default)[name])


def longest_line(block: bytes) -> int:
    return max(len(line) for line in block.split(b"\r\n"))


@pytest.mark.parametrize("subject", [
    "[通知] 关于做好冬季防火工作的通知",
    "[通知] =?utf-8?B?wg==?=",  # a title that holds what looks like an encoded word
    "=?u tf-8?B?W+mAmuefpV0=?=",
    "关于" * 60,
    "Notice on winter fire prevention in every village and every office of the county",
])
def test_subject_reads_back_as_written(subject: str) -> None:
    block = header_block([("Subject", subject)])
    assert shown(block, "Subject") == subject
    assert longest_line(block) <= 78


def test_controls_and_folds_in_a_title_become_spaces() -> None:
    assert shown(header_block([("Subject", "a\tb\r\n c")]), "Subject") == "a b c"


def test_undecodable_text_is_replaced_not_fatal() -> None:
    block = header_block([("Subject", "来文 \udcd6\udcd0")])
    assert shown(block, "Subject") == "来文 ??"


def test_a_word_longer_than_a_line_is_encoded_to_fit() -> None:
    block = header_block([("Subject", "x" * 1200)])
    assert shown(block, "Subject") == "x" * 1200
    assert longest_line(block) <= 78


def test_plain_fields_are_written_as_they_are() -> None:
    block = header_block([("Message-ID", "<1.abc@oa.test.gov>"), ("To", "=?utf-8?b?546L?= <a@test.gov>")])
    assert block == b"Message-ID: <1.abc@oa.test.gov>\r\nTo: =?utf-8?b?546L?= <a@test.gov>\r\n"
    assert shown(block, "To") == "王 <a@test.gov>"


@pytest.mark.parametrize("body", ["县政府办公室发来公文。\n\n" + "请各单位认真贯彻落实。" * 40 + "\n", "Hello,\nplain text.\n",
                                  "混合 text \udcd6 with a bad byte\n"])
def test_text_part_reads_back_as_written(body: str) -> None:
    part = text_part(body)
    content = message_from_bytes(part, policy=default).get_content()
    assert content.replace("\r\n", "\n") == body.replace("\udcd6", "?")
    assert longest_line(part) <= 78


@pytest.mark.parametrize("body", ["县政府办公室：《关于做好年终工作的通知》已发出。\n" * 6, "Hello,\nplain text.\n",
                                  "x" * 200 + "\n", "", "a\n.\nb\n", "混合 text 和中文 " * 30])
def test_a_notice_without_files_is_the_entity_the_email_package_writes(body: str) -> None:
    message = EmailMessage(policy=POLICY)
    message.set_content(body, subtype="plain", charset="utf-8",
                        cte="base64" if sum(ord(ch) > 127 for ch in body) > len(body) // 4 else None)
    assert body_entity(body) == message.as_bytes(policy=POLICY)
