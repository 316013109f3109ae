"""Classification marks (SPEC §2.9) as people write them, and the SMTP edge's cheap reading
of a message's opening: it never costs much, never raises, and leaves hard cases to the
pipeline, which reads the whole message."""

from __future__ import annotations

import time
from email.message import EmailMessage

import pytest

from inkless.mail.classified import marking, opening_text


@pytest.mark.parametrize(("subject", "body", "level"), [
    ("[机密] 关于X", "", "机密"),
    ("【绝密】关于X", "", "绝密"),
    ("关于X［秘密］", "", "秘密"),
    ("【機密】関於X", "", "機密"),
    ("关于X", "秘密★1年\n正文", "秘密"),
    ("关于X", "\n\n  机密 ★ 10年\n正文", "机密"),
    ("关于X", "秘\u200b密★1年\n正文", "秘密"),
    ("关于X", "〔机密〕\n正文", "机密"),
    ("关于X", "000123\n绝密★长期\n正文", "绝密"),
    ("关于X", "密级：机密\n正文", "机密"),
    ("关于X", "联合发文: edu\n机密★10年\n正文", "机密"),
    ("关于保守工作秘密的通知", "秘密文件管理办法如下：\n……", None),
    ("关于X", "各单位：\n本件不属于机密★事项", None),
    ("关于X", "各单位：\n\n机密★1年", None),  # below the head it is text, not a marking
])
def test_markings_in_the_subject_and_the_head_of_the_body(subject: str, body: str, level: str | None) -> None:
    assert marking(subject, body) == level


def test_an_html_only_body_is_read_for_its_first_visible_lines() -> None:
    page = "<html><head><title>通知</title><style>p{}</style></head><body><p>&nbsp;</p><p>机密★1年</p></body></html>"
    assert marking("关于X", "", page) == "机密"


def test_the_edge_reads_a_gbk_base64_body() -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@test.gov", "b@test.gov", "关于X"
    message.set_content("机密★5年\n正文\n", charset="gbk", cte="base64")
    assert marking(*opening_text(message.as_bytes())) == "机密"


def test_a_deeply_nested_message_costs_the_edge_little_and_never_raises() -> None:
    head = b"From: a@test.gov\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n"
    nested = b"".join(f"--b{n}\r\nContent-Type: multipart/mixed; boundary=b{n + 1}\r\n\r\n".encode()
                      for n in range(1500))
    started = time.perf_counter()
    subject, text, html = opening_text(head + nested)
    elapsed = time.perf_counter() - started
    assert (subject, text, html) == ("x", "", None)
    print(f"nested message read in {elapsed * 1000:.1f} ms")
    assert opening_text(b"\xff\xfe\x00 not a message") is not None
