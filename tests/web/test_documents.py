"""The workspace's documents over real HTTP on both backends (SPEC §3): search that finds
Chinese without spaces (body, attachment text, number, part of a title) and never what the
searcher may not see; the boxes; attachments downloaded byte for byte, 404 to others."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import datetime, timezone
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote

import docx
import pytest

from inkless.bridge.app import Service
from inkless.clock import FixedClock
from tests.conftest import DOMAIN, CaptureRelay, api, settled, smtp_send
from tests.handlers.test_charsets_and_quarantine import CASES, PDF
from tests.web.test_pages import base, browser, confirm, sign_in

NOW = datetime(2026, 12, 2, 2, 0, tzinfo=timezone.utc)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


def word_file(*paragraphs: str) -> bytes:
    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


async def send(service: Service, sender: str, unit: str, subject: str, body: str,
               files: tuple[tuple[str, str, bytes], ...] = ()) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, f"{unit}@{DOMAIN}", subject
    message.set_content(body)
    for filename, kind, data in files:
        major, minor = kind.split("/")
        message.add_attachment(data, maintype=major, subtype=minor, filename=filename)
    assert (await smtp_send(service.smtp_port, sender, [f"{unit}@{DOMAIN}"], message.as_bytes())).startswith("250")


async def county_documents(service: Service) -> dict[str, int]:
    await send(service, "fin-clerk@test.gov", "edu", "[通知] 关于做好年度工作总结的通知",
               "各单位：\n请同时报送年终财务决算说明。\n")
    await send(service, "fin-clerk@test.gov", "edu", "[通知] 关于报送有关材料的通知", "见附件。\n",
               (("材料说明.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                 word_file("部门预算绩效自评工作方案", "请于月底前完成。")),))
    # A draft awaiting sign-off in another unit: only its sender and approvers may find it.
    await send(service, "signed-clerk@test.gov", "edu", "[请示] 关于决算审计的请示", "决算草稿，请审阅。\n",
               (("草稿.txt", "text/plain", "决算审计底稿".encode()),))
    await settled(service)
    listed = (await api(service, "/api/v1/documents"))["items"]
    return {item["title"]: item["id"] for item in listed}


async def search_as(service: Service, token_owner: str | None, words: str, **more: str) -> list[str]:
    from tests.web.test_api_tokens import call, make_token
    token = await make_token(service, token_owner, "read") if token_owner else "static-test-token"
    query = "&".join(f"{k}={v}" for k, v in {"q": words, **more}.items())
    status, found = await call(service, "GET", f"/api/v1/documents?{query}", token)
    assert status == 200, found
    return sorted(item["title"] for item in found["items"])


async def test_search_finds_chinese_in_the_body_an_attachment_a_number_and_part_of_a_title(
        service: Service) -> None:
    ids = await county_documents(service)
    summary, materials = "关于做好年度工作总结的通知", "关于报送有关材料的通知"
    assert await search_as(service, "edu-staff@test.gov", "决算") == [summary]  # not the draft
    assert await search_as(service, "edu-staff@test.gov", "绩效自评") == [materials]  # inside the .docx
    assert await search_as(service, "edu-staff@test.gov", "材料说明") == [materials]  # the file's name
    assert await search_as(service, "edu-staff@test.gov", "延财发〔2026〕2号") == [materials]
    assert await search_as(service, "edu-staff@test.gov", "年度工作") == [summary]
    assert await search_as(service, "edu-staff@test.gov", "100%_") == []  # LIKE's own characters are text
    # The draft's sender and its approver find it; the operator's token finds everything.
    assert await search_as(service, "signed-clerk@test.gov", "决算") == sorted(["关于决算审计的请示", summary])
    assert await search_as(service, "signer@test.gov", "审计底稿") == ["关于决算审计的请示"]
    assert await search_as(service, None, "决算") == sorted(["关于决算审计的请示", summary])
    # Boxes: what edu-staff received, what finance sent, what the approver must decide.
    assert await search_as(service, "edu-staff@test.gov", "", box="received") == sorted([materials, summary])
    assert await search_as(service, "fin-staff@test.gov", "", box="sent") == sorted([materials, summary])
    assert await search_as(service, "signer@test.gov", "", box="pending") == ["关于决算审计的请示"]
    assert await search_as(service, None, "", box="received", **{"as": "edu-staff@test.gov"}) == sorted([materials, summary])
    assert ids[summary] < ids[materials]


async def test_the_documents_page_lists_searches_and_shows_signing(service: Service, relay: CaptureRelay) -> None:
    await county_documents(service)
    async with browser() as http:
        await confirm(service, http, await sign_in(service, relay, http, "edu-staff@test.gov"))
        page = await (await http.get(f"{base(service)}/documents?box=received")).text()
        assert page.count('class="item"') == 2 and "关于决算审计的请示" not in page
        found = await (await http.get(f"{base(service)}/documents?q=决算")).text()
        assert "关于做好年度工作总结的通知" in found and "关于报送有关材料的通知" not in found
        assert "未签收" in found  # their own copy, not acknowledged yet
        nothing = await (await http.get(f"{base(service)}/documents?q=不存在的词")).text()
        assert 'id="no-documents"' in nothing
        # The desk links a received document's files.
        desk = await (await http.get(f"{base(service)}/desk")).text()
        link = re.search(r'href="(/documents/\d+/attachments/1)">材料说明.docx</a>', desk)
        assert link and (await http.get(base(service) + link.group(1))).status == 200
    async with browser() as http:
        response = await http.get(f"{base(service)}/documents", allow_redirects=False)
        assert response.status == 303 and response.headers["Location"].startswith("/signin?next=")


@pytest.mark.parametrize("case", ["gbk-labelled-gb2312", "big5-outlook-filename", "utf8-rfc2231-continuation"])
async def test_an_attachment_downloads_byte_for_byte_with_its_name(service: Service, relay: CaptureRelay,
                                                                   case: str) -> None:
    raw, _, _, _, filename = CASES[case]
    assert (await smtp_send(service.smtp_port, "fin-clerk@test.gov", [f"edu@{DOMAIN}"], raw)).startswith("250")
    await settled(service)
    [item] = (await api(service, "/api/v1/documents"))["items"]
    async with browser() as http:
        await confirm(service, http, await sign_in(service, relay, http, "edu-staff@test.gov"))
        response = await http.get(f"{base(service)}/documents/{item['id']}/attachments/1")
        assert response.status == 200
        data = await response.read()
        assert data == PDF and hashlib.sha256(data).hexdigest() == item["versions"][0]["attachments"][0]["sha256"]
        assert response.headers["Content-Type"] == "application/pdf"
        disposition = response.headers["Content-Disposition"]
        encoded = re.search(r"filename\*=UTF-8''(\S+)", disposition)
        assert encoded and unquote(encoded.group(1)) == filename and disposition.isascii()
        assert (await http.get(f"{base(service)}/documents/{item['id']}/attachments/2")).status == 404


async def test_a_drafts_attachment_is_a_404_to_another_units_member(service: Service, relay: CaptureRelay) -> None:
    ids = await county_documents(service)
    draft = ids["关于决算审计的请示"]
    for email, status in (("edu-staff@test.gov", 404), ("fin-clerk@test.gov", 404), ("signed-clerk@test.gov", 200),
                          ("signer@test.gov", 200)):
        async with browser() as http:
            await confirm(service, http, await sign_in(service, relay, http, email))
            response = await http.get(f"{base(service)}/documents/{draft}/attachments/1")
            assert response.status == status, email
            if status == 200:
                assert await response.read() == "决算审计底稿".encode()
    missing: Any = None
    async with browser() as http:
        await confirm(service, http, await sign_in(service, relay, http, "edu-staff@test.gov"))
        missing = await http.get(f"{base(service)}/documents/999999/attachments/1")
    assert missing.status == 404


async def issued_request(service: Service, relay: CaptureRelay) -> int:
    """A 请示 from 审批局, signed off by both its approvers (一把手 last: the 签发人)."""
    from tests.handlers.test_hierarchy import answer
    await send(service, "signed-clerk@test.gov", "office", "[请示] 关于追加冬季供暖补贴资金的请示",
               "县政府：\n为保障困难群众温暖过冬，拟追加补贴资金120万元。\n妥否，请批示。\n",
               (("资金测算表.txt", "text/plain", "测算".encode()),))
    await settled(service)
    for approver in ("signer@test.gov", "chief@test.gov"):
        request = [m.message for m in relay.to(approver) if "待签发" in str(m.message["Subject"])][-1]
        await answer(service, request, approver, "同意")
        await settled(service)
    [item] = (await api(service, "/api/v1/documents?q=冬季供暖补贴"))["items"]
    assert item["status"] == "issued"
    return int(item["id"])


async def test_the_print_view_has_the_gbt9704_elements_and_a_pdf_of_them(service: Service,
                                                                         relay: CaptureRelay) -> None:
    from pypdf import PdfReader
    document_id = await issued_request(service, relay)
    shown = await api(service, f"/api/v1/documents/{document_id}")
    async with browser() as http:
        await confirm(service, http, await sign_in(service, relay, http, "boss@test.gov"))
        page = await (await http.get(f"{base(service)}/documents/{document_id}/print")).text()
        for element in (shown["number"], "关于追加冬季供暖补贴资金的请示", "签发人：一把手", "2026年12月2日",
                        "审批局文件", "县政府办公室：", "资金测算表.txt", 'id="copy-number">00000'):
            assert element in page, element
        response = await http.get(f"{base(service)}/documents/{document_id}/print?format=pdf")
        assert response.status == 200 and response.headers["Content-Type"] == "application/pdf"
        pdf = await response.read()
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    for element in (shown["number"], "关于追加冬季供暖补贴资金的请示", "签发人", "一把手", "2026年12月2日"):
        assert element in text.replace(" ", ""), (element, text[:500])


async def test_without_weasyprint_the_pdf_answers_503_and_the_page_still_prints(
        service: Service, relay: CaptureRelay, monkeypatch: pytest.MonkeyPatch) -> None:
    from inkless.web import documents

    def missing(html: str) -> bytes:
        raise documents.PdfUnavailable("cannot load library 'libpango-1.0-0'")

    monkeypatch.setattr(documents, "_pdf", missing)
    document_id = await issued_request(service, relay)
    async with browser() as http:
        await confirm(service, http, await sign_in(service, relay, http, "boss@test.gov"))
        response = await http.get(f"{base(service)}/documents/{document_id}/print?format=pdf")
        assert response.status == 503 and "apt-get install libpango-1.0-0" in await response.text()
        assert (await http.get(f"{base(service)}/documents/{document_id}/print")).status == 200


async def test_an_attachment_with_nul_bytes_is_issued_and_found_by_its_name(service: Service) -> None:
    await send(service, "fin-clerk@test.gov", "edu", "[通知] 关于数据报送的通知", "见附件。\n",
               (("报送数据.txt", "text/plain", "表头\x00数据\x00".encode()),))
    inbound = await settled(service)
    assert [m.status for m in inbound] == ["done"]
    assert await search_as(service, None, "报送数据") == ["关于数据报送的通知"]


async def test_a_delegate_finds_what_waits_for_their_principal(make_service: Any, relay: CaptureRelay) -> None:
    from tests.handlers.test_elements import ORG
    service: Service = await make_service(relay, clock=FixedClock(NOW), org=ORG)
    await send(service, "clerk@test.gov", "finance", "[通知] 关于值班安排的通知", "正文\n")
    await settled(service)
    assert await search_as(service, "secretary@test.gov", "", box="pending") == ["关于值班安排的通知"]
    assert await search_as(service, "staff@test.gov", "", box="pending") == []
    assert await search_as(service, "staff@test.gov", "值班") == []  # a draft: not theirs to see


def test_a_word_file_that_inflates_past_the_limit_gives_no_text() -> None:
    import zipfile

    from inkless.mail.extract import attachment_text
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"<w:t>" + b"0" * 30_000_000 + b"</w:t>")
    assert len(buffer.getvalue()) < 100_000
    assert attachment_text("炸弹.docx", "application/octet-stream", buffer.getvalue()) == ""
