"""Self-checks of the client-shaped iMIP builders in tests/calendar/clients.py.

These test the test data, not the service: every message must parse, carry a well-formed
calendar (CRLF, folded at 75 octets on character boundaries) and mean the same instant in
every time-zone style, encoding and client.
"""

from __future__ import annotations

import binascii
import email
import re
from datetime import datetime, timedelta, timezone
from email.header import decode_header, make_header
from email.message import Message
from email.utils import parseaddr

import icalendar
import pytest

from tests.calendar import clients
from tests.calendar.clients import CLIENTS, TZ_STYLES, fold, invitation, reply

SENDER = "zhangsan@xian.gov.cn"
SENDER_NAME = "张三"
TO = ["lisi@xian.gov.cn", "wangwu@xian.gov.cn"]
UID = "040000008200E00074C5B7101A82E00800000000C0FFEE@xian.gov.cn"
SUMMARY = "县政府常务会议"
START = datetime(2026, 12, 3, 9, 30)
END = datetime(2026, 12, 3, 11, 30)
START_UTC = datetime(2026, 12, 3, 1, 30, tzinfo=timezone.utc)
END_UTC = datetime(2026, 12, 3, 3, 30, tzinfo=timezone.utc)
CALENDAR_TYPES = ("text/calendar", "application/ics")


def build(client: str, **overrides: object) -> bytes:
    args: dict[str, object] = dict(sender=SENDER, sender_name=SENDER_NAME, to=TO, uid=UID, summary=SUMMARY,
                                   start=START, end=END, location="三楼第一会议室",
                                   description="议题：审议二〇二七年度预算草案，讨论“十五五”规划；\n请准时参加。")
    args.update(overrides)
    return invitation(client, **args)  # type: ignore[arg-type]


def subparts(message: Message) -> list[Message]:
    """The direct children of a multipart message."""
    payload = message.get_payload()
    assert isinstance(payload, list)
    return [part for part in payload if isinstance(part, Message)]


def calendar_parts(message: Message) -> list[Message]:
    return [part for part in message.walk() if part.get_content_type() in CALENDAR_TYPES]


def text_calendar_parts(message: Message) -> list[Message]:
    return [part for part in message.walk() if part.get_content_type() == "text/calendar"]


def raw_calendar(part: Message) -> bytes:
    """The decoded calendar octets of a part."""
    data = part.get_payload(decode=True)
    assert isinstance(data, bytes)
    return data


def header(message: Message, name: str) -> str:
    return str(make_header(decode_header(message[name])))


def assert_crlf(data: bytes) -> None:
    assert b"\n" in data
    assert re.search(rb"(?<!\r)\n", data) is None, "bare LF"
    assert re.search(rb"\r(?!\n)", data) is None, "bare CR"


def assert_well_folded(text: bytes) -> None:
    assert_crlf(text)
    assert text.endswith(b"END:VCALENDAR\r\n") or text.endswith(b"END:VCALENDAR\r\n\r\n")
    for line in text.split(b"\r\n"):
        assert len(line) <= 75, line
        line.decode("utf-8")  # a fold never splits a UTF-8 sequence


def the_event(data: bytes) -> icalendar.cal.Component:
    calendar = icalendar.Calendar.from_ical(data)
    events = list(calendar.walk("VEVENT"))
    assert len(events) == 1
    return events[0]


def instant(event: icalendar.cal.Component, name: str) -> datetime:
    value = event.decoded(name)
    assert isinstance(value, datetime)
    return value


def addresses(event: icalendar.cal.Component, name: str) -> list[str]:
    values = event.get(name, [])
    if not isinstance(values, list):
        values = [values]
    return [str(value).lower().removeprefix("mailto:") for value in values]


@pytest.mark.parametrize("encoding", ["base64", "quoted-printable"])
@pytest.mark.parametrize("method", ["REQUEST", None, "CANCEL"])
@pytest.mark.parametrize("tz_style", TZ_STYLES)
@pytest.mark.parametrize("client", CLIENTS)
def test_every_shape_carries_the_same_event(client: str, tz_style: str, method: str | None,
                                            encoding: str) -> None:
    raw = build(client, tz_style=tz_style, method=method, transfer_encoding=encoding, sequence=2)
    assert_crlf(raw)
    message = email.message_from_bytes(raw)
    assert not message.defects
    assert parseaddr(header(message, "From")) == (SENDER_NAME, SENDER)
    assert SUMMARY in header(message, "Subject")

    parts = text_calendar_parts(message)
    assert parts, "no text/calendar part"
    for part in calendar_parts(message):
        if part.get_content_type() == "text/calendar":
            assert part["Content-Transfer-Encoding"].strip().lower() == encoding
            assert part.get_param("method") == method
        data = raw_calendar(part)
        assert_well_folded(data)
        calendar = icalendar.Calendar.from_ical(data)
        assert calendar.get("METHOD") == method
        event = the_event(data)
        assert str(event["UID"]) == UID
        assert str(event["SUMMARY"]) == SUMMARY
        assert event.decoded("SEQUENCE") == 2
        start, end = instant(event, "DTSTART"), instant(event, "DTEND")
        if tz_style == "floating":
            assert start.tzinfo is None and end.tzinfo is None
            assert (start, end) == (START, END)
        else:
            assert start.astimezone(timezone.utc) == START_UTC == START.replace(tzinfo=timezone.utc) - timedelta(hours=8)
            assert end.astimezone(timezone.utc) == END_UTC
        assert set(TO) <= set(addresses(event, "ATTENDEE"))
        assert addresses(event, "ORGANIZER") == [SENDER]
        assert event["ORGANIZER"].params["CN"] == SENDER_NAME
        if method == "CANCEL":
            assert str(event["STATUS"]) == "CANCELLED"
        if tz_style in ("windows", "olson"):
            tzid = "China Standard Time" if tz_style == "windows" else "Asia/Shanghai"
            assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == [tzid]
            assert event["DTSTART"].params["TZID"] == tzid
        else:
            assert not calendar.walk("VTIMEZONE")
            assert "TZID" not in event["DTSTART"].params


@pytest.mark.parametrize("encoding", ["7bit", "8bit"])
@pytest.mark.parametrize("client", CLIENTS)
def test_unencoded_calendar_parts_keep_raw_utf8(client: str, encoding: str) -> None:
    message = email.message_from_bytes(build(client, transfer_encoding=encoding))
    (part,) = text_calendar_parts(message)
    assert part["Content-Transfer-Encoding"].strip().lower() == encoding
    data = raw_calendar(part)
    assert SUMMARY.encode("utf-8") in data
    assert_well_folded(data)
    assert str(the_event(data)["SUMMARY"]) == SUMMARY


def test_outlook_request_is_an_exchange_meeting_request() -> None:
    raw = build("outlook")
    message = email.message_from_bytes(raw)
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in subparts(message)] == ["text/plain", "text/html", "text/calendar"]
    assert message["X-Mailer"] == "Microsoft Outlook 16.0"
    assert header(message, "Thread-Topic") == SUMMARY
    for name in ("Thread-Index", "X-MS-Has-Attach", "X-MS-TNEF-Correlator"):
        assert name in message
    assert header(message, "Subject") == SUMMARY
    (part,) = text_calendar_parts(message)
    assert part["Content-Transfer-Encoding"] == "base64"
    assert part.get_param("charset") == "utf-8"
    text = raw_calendar(part).decode("utf-8")
    unfolded = text.replace("\r\n ", "")
    assert unfolded.startswith("BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nPRODID:Microsoft Exchange Server 2010\r\n")
    assert "DTSTART;TZID=China Standard Time:20261203T093000\r\n" in unfolded
    assert ("BEGIN:STANDARD\r\nDTSTART:16010101T000000\r\nTZOFFSETFROM:+0800\r\nTZOFFSETTO:+0800\r\n"
            "END:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:16010101T000000\r\nTZOFFSETFROM:+0800\r\n"
            "TZOFFSETTO:+0800\r\nEND:DAYLIGHT") in unfolded
    for line in ("ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=lisi@xian.gov.cn:"
                 "mailto:lisi@xian.gov.cn", f"ORGANIZER;CN={SENDER_NAME}:mailto:{SENDER}", "CLASS:PUBLIC",
                 "PRIORITY:5", "TRANSP:OPAQUE", "X-MICROSOFT-CDO-BUSYSTATUS:TENTATIVE",
                 "X-MICROSOFT-CDO-IMPORTANCE:1", "X-MICROSOFT-DISALLOW-COUNTER:FALSE",
                 "X-MICROSOFT-CDO-APPT-SEQUENCE:0", f"SUMMARY;LANGUAGE=zh-CN:{SUMMARY}"):
        assert line + "\r\n" in unfolded


def test_outlook_cancel_subject_and_free_busy() -> None:
    message = email.message_from_bytes(build("outlook", method="CANCEL", sequence=1))
    assert header(message, "Subject") == f"已取消: {SUMMARY}"
    assert header(build_message("outlook", method="CANCEL", summary="Budget review"), "Subject") == \
        "Canceled: Budget review"
    text = raw_calendar(text_calendar_parts(message)[0]).decode("utf-8").replace("\r\n ", "")
    assert "METHOD:CANCEL\r\n" in text and "STATUS:CANCELLED\r\n" in text
    assert "X-MICROSOFT-CDO-BUSYSTATUS:FREE\r\n" in text and "BEGIN:VALARM" not in text


def build_message(client: str, **overrides: object) -> Message:
    return email.message_from_bytes(build(client, **overrides))


def test_thunderbird_request_is_mixed_with_invite_ics() -> None:
    raw = build("thunderbird")
    assert b'Content-type: multipart/mixed; boundary="Boundary_(ID_qyG4ZdjoAsiZ+Jo19dCbWQ)"' in raw
    message = email.message_from_bytes(raw)
    assert message["User-Agent"].endswith("Thunderbird/115.6.0")
    alternative, attachment = subparts(message)
    assert [p.get_content_type() for p in subparts(alternative)] == ["text/plain", "text/calendar"]
    assert attachment.get_content_type() == "application/ics"
    assert attachment.get_filename() == "invite.ics"
    (part,) = text_calendar_parts(message)
    assert part["Content-transfer-encoding"] == "8BIT"
    assert part.get_param("method") == "REQUEST"
    text = raw_calendar(part).decode("utf-8").replace("\r\n ", "")
    assert "PRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\n" in text
    assert ("BEGIN:STANDARD\r\nTZOFFSETFROM:+0800\r\nTZOFFSETTO:+0800\r\nTZNAME:CST\r\n"
            "DTSTART:19700101T000000\r\nEND:STANDARD") in text
    assert header(message, "Subject") == f"Invitation: {SUMMARY}"
    assert header(build_message("thunderbird", sequence=1), "Subject") == f"Updated: {SUMMARY}"


def test_apple_request_is_quoted_printable_with_apple_properties() -> None:
    message = build_message("apple")
    assert message["X-Mailer"].startswith("iPhone Mail")
    assert message["Mime-Version"] == "1.0 (1.0)"
    (part,) = text_calendar_parts(message)
    assert part["Content-Transfer-Encoding"] == "quoted-printable"
    assert re.fullmatch(r"iCal-\d{8}-\d{6}\.ics", part.get_filename() or "")
    payload = part.get_payload(decode=False)
    assert isinstance(payload, str)
    assert max(len(line) for line in payload.split("\r\n")) <= 76
    assert "=\r\n" in payload  # long encoded lines are soft-broken
    text = raw_calendar(part).decode("utf-8").replace("\r\n ", "")
    for line in ("X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC", "X-LIC-LOCATION:Asia/Shanghai",
                 'ATTENDEE;CN="lisi@xian.gov.cn";CUTYPE=INDIVIDUAL;EMAIL="lisi@xian.gov.cn";'
                 "PARTSTAT=NEEDS-ACTION;ROLE=REQ-PARTICIPANT;RSVP=TRUE:mailto:lisi@xian.gov.cn"):
        assert line + "\r\n" in text
    # Hard line breaks are CRLF; a plain RFC 2045 decoder gives the same octets.
    assert binascii.a2b_qp(payload.encode("ascii")) == raw_calendar(part)
    assert raw_calendar(part).endswith(b"END:VCALENDAR\r\n")


def test_gmail_request_is_utc_with_base64_invite_ics() -> None:
    message = build_message("gmail")
    assert "X-Mailer" not in message and "User-Agent" not in message
    assert message["Message-ID"].startswith("<calendar-") and message["Message-ID"].endswith("@google.com>")
    subject = header(message, "Subject")
    assert subject == f"Invitation: {SUMMARY} @ Thu Dec 3, 2026 9:30am - 11:30am (GMT+8) (lisi@xian.gov.cn)"
    alternative, attachment = subparts(message)
    assert [p.get_content_type() for p in subparts(alternative)] == ["text/plain", "text/html", "text/calendar"]
    assert attachment.get_content_type() == "application/ics"
    assert attachment.get_filename() == "invite.ics"
    assert attachment["Content-Transfer-Encoding"] == "base64"
    (part,) = text_calendar_parts(message)
    assert part["Content-Type"] == 'text/calendar; charset="UTF-8"; method=REQUEST'
    assert part["Content-Transfer-Encoding"] == "base64"
    text = raw_calendar(part).decode("utf-8")
    assert "DTSTART:20261203T013000Z\r\n" in text and "BEGIN:VTIMEZONE" not in text
    assert raw_calendar(part) == raw_calendar(attachment)


@pytest.mark.parametrize("client", CLIENTS)
def test_exported_event_has_no_method_anywhere(client: str) -> None:
    raw = build(client, method=None)
    message = email.message_from_bytes(raw)
    (part,) = text_calendar_parts(message)
    assert part.get_param("method") is None
    assert part.get_content_disposition() == "attachment"
    # Outlook and Gmail write RFC 2047 words into the parameter, the others RFC 2231.
    assert str(make_header(decode_header(part.get_filename() or ""))) == f"{SUMMARY}.ics"
    assert b"METHOD:" not in raw_calendar(part)
    assert not [p for p in message.walk() if p.get_content_type() == "application/ics"]


@pytest.mark.parametrize("client", CLIENTS)
def test_attendees_override_to(client: str) -> None:
    event = the_event(raw_calendar(text_calendar_parts(build_message(
        client, attendees=["zhaoliu@xian.gov.cn"]))[0]))
    attendees = set(addresses(event, "ATTENDEE"))
    assert "zhaoliu@xian.gov.cn" in attendees
    assert not attendees & set(TO)


def test_long_chinese_text_folds_on_character_boundaries() -> None:
    summary = "县政府常务会议：关于二〇二七年度财政预算草案、重点项目清单及乡村振兴专项资金安排的审议（第十二次）"
    for client in CLIENTS:
        message = build_message(client, summary=summary)
        assert summary in header(message, "Subject")
        for part in calendar_parts(message):
            data = raw_calendar(part)
            assert_well_folded(data)
            assert str(the_event(data)["SUMMARY"]) == summary
    line = "SUMMARY:" + summary
    folded = fold(line)
    pieces = folded.encode("utf-8").split(b"\r\n")
    assert len(pieces) > 2 and all(len(piece) <= 75 for piece in pieces)
    assert all(piece.startswith(b" ") for piece in pieces[1:])
    assert folded.replace("\r\n ", "") == line


PARTSTATS = ("ACCEPTED", "DECLINED", "TENTATIVE")
REPLY_SUBJECTS = {
    ("outlook", "ACCEPTED"): f"已接受: {SUMMARY}", ("outlook", "DECLINED"): f"已拒绝: {SUMMARY}",
    ("outlook", "TENTATIVE"): f"暂定: {SUMMARY}",
    ("thunderbird", "ACCEPTED"): f"Accepted: {SUMMARY}",
    ("thunderbird", "DECLINED"): f"Invitation Declined: {SUMMARY}",
    ("thunderbird", "TENTATIVE"): f"Tentative: {SUMMARY}",
    ("apple", "ACCEPTED"): f"Invitation Accepted: {SUMMARY}",
    ("apple", "DECLINED"): f"Invitation Declined: {SUMMARY}",
    ("apple", "TENTATIVE"): f"Invitation Maybe: {SUMMARY}",
    ("gmail", "ACCEPTED"): f"Accepted: {SUMMARY} @ Thu Dec 3, 2026 9:30am - 11:30am (GMT+8) ({SENDER})",
    ("gmail", "DECLINED"): f"Declined: {SUMMARY} @ Thu Dec 3, 2026 9:30am - 11:30am (GMT+8) ({SENDER})",
    ("gmail", "TENTATIVE"):
        f"Tentatively Accepted: {SUMMARY} @ Thu Dec 3, 2026 9:30am - 11:30am (GMT+8) ({SENDER})",
}


@pytest.mark.parametrize("partstat", PARTSTATS)
@pytest.mark.parametrize("client", CLIENTS)
def test_reply_shapes(client: str, partstat: str) -> None:
    raw = reply(client, sender="lisi@xian.gov.cn", sender_name="李四", to=SENDER, uid=UID, summary=SUMMARY,
                start=START, end=END, partstat=partstat, organizer=SENDER, sequence=2,
                comment="我会准时参加，请预留投影仪。", in_reply_to="<invite-1@xian.gov.cn>",
                auto_submitted="auto-replied")
    assert_crlf(raw)
    message = email.message_from_bytes(raw)
    assert parseaddr(header(message, "From")) == ("李四", "lisi@xian.gov.cn")
    assert message["To"] == SENDER
    assert header(message, "Subject") == REPLY_SUBJECTS[client, partstat]
    assert message["In-Reply-To"] == message["References"] == "<invite-1@xian.gov.cn>"
    assert message["Auto-Submitted"] == "auto-replied"
    parts = text_calendar_parts(message)
    assert parts
    for part in calendar_parts(message):
        if part.get_content_type() == "text/calendar":
            assert part.get_param("method") == "REPLY"
        data = raw_calendar(part)
        assert_well_folded(data)
        assert icalendar.Calendar.from_ical(data)["METHOD"] == "REPLY"
        event = the_event(data)
        assert str(event["UID"]) == UID
        assert event.decoded("SEQUENCE") == 2
        assert instant(event, "DTSTART").astimezone(timezone.utc) == START_UTC
        assert addresses(event, "ORGANIZER") == [SENDER]
        attendee = event["ATTENDEE"]
        assert not isinstance(attendee, list), "exactly one ATTENDEE"
        assert str(attendee).lower() == "mailto:lisi@xian.gov.cn"
        assert attendee.params["PARTSTAT"] == partstat
        assert attendee.params["CN"] == "李四"
        if client == "outlook":
            assert "COMMENT" not in event
            assert str(event["SUMMARY"]).endswith(SUMMARY)
        else:
            assert str(event["COMMENT"]) == "我会准时参加，请预留投影仪。"
            assert str(event["SUMMARY"]) == SUMMARY
    if client == "outlook":
        plain = next(p for p in message.walk() if p.get_content_type() == "text/plain")
        body = plain.get_payload(decode=True)
        assert isinstance(body, bytes)
        assert "我会准时参加".encode(plain.get_content_charset() or "utf-8") in body


def test_reply_without_optional_headers() -> None:
    for client in CLIENTS:
        message = email.message_from_bytes(reply(
            client, sender="lisi@xian.gov.cn", sender_name="李四", to=SENDER, uid=UID, summary=SUMMARY,
            start=START, end=END, partstat="ACCEPTED", organizer=SENDER))
        for name in ("In-Reply-To", "References", "Auto-Submitted"):
            assert name not in message


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        build("foxmail")
    with pytest.raises(ValueError):
        build("outlook", tz_style="zulu")
    with pytest.raises(ValueError):
        build("outlook", transfer_encoding="uuencode")
    with pytest.raises(ValueError):
        build("outlook", start=START.replace(tzinfo=timezone.utc))


def test_messages_are_stamped_in_sending_order() -> None:
    stamps = [the_event(raw_calendar(text_calendar_parts(build_message("gmail"))[0])).decoded("DTSTAMP")
              for _ in range(3)]
    assert stamps == sorted(stamps) and len(set(stamps)) == 3
    assert clients.DEFAULT_TZ_STYLE == {"outlook": "windows", "thunderbird": "olson", "apple": "olson",
                                        "gmail": "utc"}
