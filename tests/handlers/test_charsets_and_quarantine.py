"""Any charset in, UTF-8 out; what cannot be read goes to quarantine with its reason."""

from __future__ import annotations

import base64
import hashlib
from email.header import Header
from urllib.parse import quote

import aiohttp
import pytest
from sqlalchemy import select

from inkless.bridge.app import Service
from inkless.storage.models import Attachment, Document, DocumentVersion, InboundMessage
from tests.conftest import DOMAIN, CaptureRelay, smtp_send, wait_for

SENDER = "fin-clerk@test.gov"
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 20


def b64(data: bytes) -> str:
    return base64.encodebytes(data).decode()


def multipart(subject: str, body: bytes, charset: str, disposition: str, content_type: str = "application/pdf") -> bytes:
    """A message shaped like Foxmail/Outlook write Chinese mail (raw, CRLF)."""
    return (
        f"From: {SENDER}\r\nTo: edu@{DOMAIN}\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        f"--b1\r\nContent-Type: text/plain; charset={charset}\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        f"{b64(body)}\r\n"
        f"--b1\r\nContent-Type: {content_type}\r\nContent-Transfer-Encoding: base64\r\n{disposition}\r\n\r\n"
        f"{b64(PDF)}\r\n--b1--\r\n"
    ).encode("ascii")


# 喆 and 镕 are in GBK but not in GB2312: clients label such text gb2312 all the same.
GBK_TITLE = "关于张喆、朱镕同志任职的通知"
GBK_BODY = "各科室：经研究，决定任命张喆同志为办公室主任。"
GBK_FILE = "任职文件（喆）.pdf"
# 㐀 needs GB18030's four-byte sequences.
GB18030_TITLE = "关于㐀字库建设的报告"
BIG5_TITLE = "關於臺灣同胞來訪的函"
BIG5_FILE = "來訪名單.pdf"

CASES = {
    "gbk-labelled-gb2312": (
        multipart(f"=?gb2312?B?{base64.b64encode(('[通知] ' + GBK_TITLE).encode('gbk')).decode()}?=",
                  GBK_BODY.encode("gbk"), "gb2312",
                  f"Content-Disposition: attachment; filename*=gb2312''{quote(GBK_FILE.encode('gbk'))}"),
        "通知", GBK_TITLE, GBK_BODY, GBK_FILE),
    "gb18030": (
        multipart(Header("[报告] " + GB18030_TITLE, "gb18030").encode(), "正文㐀".encode("gb18030"), "gb18030",
                  'Content-Disposition: attachment; filename="=?gb18030?B?'
                  + base64.b64encode("㐀.pdf".encode("gb18030")).decode() + '?="'),
        "报告", GB18030_TITLE, "正文㐀", "㐀.pdf"),
    "big5-outlook-filename": (
        multipart(f"=?big5?B?{base64.b64encode(('[函] ' + BIG5_TITLE).encode('big5')).decode()}?=",
                  "歡迎來訪。".encode("big5"), "big5",
                  f'Content-Disposition: attachment; filename="=?big5?B?{base64.b64encode(BIG5_FILE.encode("big5")).decode()}?="'),
        "函", BIG5_TITLE, "歡迎來訪。", BIG5_FILE),
    "utf8-rfc2231-continuation": (
        multipart("=?utf-8?B?" + base64.b64encode("[通知] 长文件名".encode()).decode() + "?=", "内容".encode(), "utf-8",
                  "Content-Disposition: attachment;\r\n filename*0*=utf-8''" + quote("二〇二六年度".encode())
                  + ";\r\n filename*1*=" + quote("工作要点.pdf".encode())),
        "通知", "长文件名", "内容", "二〇二六年度工作要点.pdf"),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_chinese_charsets_and_encoded_filenames(service: Service, relay: CaptureRelay, case: str) -> None:
    raw, doc_type, title, body, filename = CASES[case]
    assert (await smtp_send(service.smtp_port, SENDER, [f"edu@{DOMAIN}"], raw)).startswith("250")
    await wait_for(lambda: len(relay.messages) == 4, what="copies")
    assert service.sessions is not None
    async with service.sessions() as session:
        document = await session.scalar(select(Document))
        version = await session.scalar(select(DocumentVersion))
        attachment = await session.scalar(select(Attachment))
    assert document is not None and version is not None and attachment is not None
    assert (document.type, document.title) == (doc_type, title)
    assert version.body.strip() == body
    assert (attachment.filename, attachment.sha256, attachment.size) == (
        filename, hashlib.sha256(PDF).hexdigest(), len(PDF))
    # The copies carry the file under the same name, and the text readable as UTF-8.
    copy = relay.to("edu-staff@test.gov")[0].message
    [part] = list(copy.iter_attachments())
    assert part.get_filename() == filename and part.get_content() == PDF
    assert body in copy.get_body(("plain",)).get_content()


BAD = {
    "no-boundary": (
        b"From: fin-clerk@test.gov\r\nTo: edu@oa.test.gov\r\nSubject: broken\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhello\r\n--x--\r\n",
        "malformed MIME"),
    "nul-bytes": (
        b"From: fin-clerk@test.gov\r\nTo: edu@oa.test.gov\r\nSubject: nul\r\n\r\nbad\x00byte\r\n",
        "NUL bytes"),
    "200kb-header-line": (
        b"From: fin-clerk@test.gov\r\nTo: edu@oa.test.gov\r\nSubject: long\r\nX-Long: " + b"a" * 200_000
        + b"\r\n\r\nbody\r\n",
        "header line of"),
    "broken-base64-attachment": (
        b"From: fin-clerk@test.gov\r\nTo: edu@oa.test.gov\r\nSubject: b64\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="q"\r\n\r\n--q\r\nContent-Type: text/plain\r\n\r\nsee file\r\n'
        b"--q\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="a.pdf"\r\n\r\n!!!!notbase64@@@@\r\n--q--\r\n',
        "attachment a.pdf"),
}


async def test_unreadable_mail_is_quarantined_with_reason(make_service, relay: CaptureRelay) -> None:  # type: ignore[no-untyped-def]
    service = await make_service(relay, smtp={"max_message_size": 1_000_000})
    for raw, _ in BAD.values():
        assert (await smtp_send(service.smtp_port, SENDER, [f"edu@{DOMAIN}"], raw)).startswith("250")
    assert service.sessions is not None

    async def all_quarantined() -> bool:
        async with service.sessions() as session:  # type: ignore[misc]
            statuses = (await session.scalars(select(InboundMessage.status))).all()
        return list(statuses) == ["quarantined"] * len(BAD)

    await wait_for(all_quarantined, what="quarantine")
    async with aiohttp.ClientSession() as http:
        response = await http.get(f"http://127.0.0.1:{service.web_port}/api/v1/quarantine",
                                  headers={"Authorization": "Bearer static-test-token"})
        assert response.status == 200
        items = (await response.json())["items"]
    reasons = [item["reason"] for item in reversed(items)]
    for reason, (_, expected) in zip(reasons, BAD.values(), strict=True):
        assert expected in reason
    assert all(item["mail_from"] == SENDER and item["rcpt_to"] == [f"edu@{DOMAIN}"] for item in items)
    assert relay.messages == []
    async with service.sessions() as session:
        assert await session.scalar(select(Document)) is None


async def test_a_subject_of_ten_thousand_encoded_words_is_one_decoded_capped_title(
        service: Service, relay: CaptureRelay) -> None:
    """Raw UTF-8 with encoded words among it (190 KB of folded subject) is decoded as a whole, kept to
    500 characters, and costs each copy no more than that title does."""
    words = "\r\n ".join([f"=?utf-8?B?{base64.b64encode('长'.encode()).decode()}?="] * 10_000)
    raw = (f"From: {SENDER}\r\nTo: edu@{DOMAIN}\r\nSubject: [通知] 关于 {words}\r\n\r\n正文\r\n").encode()
    assert len(raw) > 180_000
    assert (await smtp_send(service.smtp_port, SENDER, [f"edu@{DOMAIN}"], raw)).startswith("250")
    await wait_for(lambda: len(relay.messages) == 4, what="copies")
    assert service.sessions is not None
    async with service.sessions() as session:
        document = await session.scalar(select(Document))
    assert document is not None
    assert document.title.startswith("关于 长长长")
    assert "=?" not in document.title and set(document.title[3:]) == {"长"}
    assert len("[通知] " + document.title) == 500
    for copy in relay.messages:
        assert document.title in str(copy.message["Subject"])
        head = copy.data[:copy.data.index(b"\r\n\r\n")]
        assert len(head) < 8_000, f"a copy's header section is {len(head)} bytes"


async def test_a_large_attachment_reaches_every_member_byte_for_byte(make_service, relay: CaptureRelay) -> None:  # type: ignore[no-untyped-def]
    """A file of several megabytes (read a piece at a time, decoded and re-encoded without the
    email package's copies, sent one big copy at a time) arrives intact, name and bytes."""
    service = await make_service(relay, smtp={"max_message_size": 20_000_000})
    data = hashlib.sha512(b"seed").digest() * 100_000 + b"\x00\xff tail"  # 6.4 MB, not a multiple of 3
    raw = multipart(Header("[通知] 大文件", "utf-8").encode(), "见附件。".encode(), "utf-8",
                    f"Content-Disposition: attachment; filename*=utf-8''{quote('汇编.pdf'.encode())}")
    raw = raw.replace(b64(PDF).encode(), b64(data).encode())
    assert (await smtp_send(service.smtp_port, SENDER, [f"edu@{DOMAIN}"], raw)).startswith("250")
    await wait_for(lambda: len(relay.messages) == 4, timeout=60, what="three copies and the sender's notice")
    copies = [copy for copy in relay.messages if copy.rcpt != SENDER]
    assert len(copies) == 3
    for copy in copies:
        files = [part for part in copy.message.walk() if part.get_filename()]
        assert [(part.get_filename(), part.get_content()) for part in files] == [("汇编.pdf", data)]
