"""Invitations from calendar apps to unit addresses, in the shapes Outlook, Thunderbird,
Apple Calendar and Gmail send: each ends in the right meeting at the right instant, and the
organiser's later updates and cancellations (same UID, higher SEQUENCE) follow it."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from inkless.bridge.app import Service
from inkless.clock import FixedClock
from tests.calendar import clients
from tests.calendar.test_meetings import FINANCE, NOW, vevent
from tests.conftest import DOMAIN, CaptureRelay, api, next_mail, settled, smtp_send

SHANGHAI = ZoneInfo("Asia/Shanghai")
ORGANIZER = "boss@test.gov"
WALL_START, WALL_END = datetime(2026, 12, 3, 9, 30), datetime(2026, 12, 3, 11, 0)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


async def send_invitation(service: Service, client: str, **options: Any) -> str:
    options.setdefault("uid", f"{secrets.token_hex(8)}@{client}.example")
    options.setdefault("summary", "县政府常务会议")
    options.setdefault("start", WALL_START)
    options.setdefault("end", WALL_END)
    options.setdefault("location", "县政府三楼会议室")
    raw = clients.invitation(client, sender=ORGANIZER, sender_name="李县长", to=[f"finance@{DOMAIN}"], **options)
    assert (await smtp_send(service.smtp_port, ORGANIZER, [f"finance@{DOMAIN}"], raw)).startswith("250")
    return str(options["uid"])


async def events(service: Service) -> list[dict[str, Any]]:
    await settled(service)
    return list((await api(service, "/api/v1/events"))["items"])


@pytest.mark.parametrize("client", clients.CLIENTS)
@pytest.mark.parametrize("tz_style", clients.TZ_STYLES)
async def test_each_client_and_zone_style_gives_the_right_instant(service: Service, relay: CaptureRelay,
                                                                   client: str, tz_style: str) -> None:
    await send_invitation(service, client, tz_style=tz_style)
    [event] = await events(service)
    # Floating times are wall-clock times where the office is (timezone: Asia/Shanghai).
    assert datetime.fromisoformat(event["start"]) == WALL_START.replace(tzinfo=SHANGHAI)
    assert datetime.fromisoformat(event["end"]) == WALL_END.replace(tzinfo=SHANGHAI)
    assert event["title"] == "县政府常务会议" and event["location"] == "县政府三楼会议室"
    assert event["organizer"] == ORGANIZER
    assert sorted(a["email"] for a in event["attendees"]) == sorted(FINANCE)
    # Inkless re-invites under its own UID, as organiser, so answers come back to it.
    invitation = await next_mail(relay, "fin-staff@test.gov")
    item = vevent(invitation)
    assert str(item["UID"]) == event["uid"]
    assert item.decoded("DTSTART").astimezone(timezone.utc) == datetime(2026, 12, 3, 1, 30, tzinfo=timezone.utc)
    assert str(item["ORGANIZER"]).startswith("mailto:reply+")


@pytest.mark.parametrize("client", clients.CLIENTS)
@pytest.mark.parametrize("encoding", ["base64", "quoted-printable"])
@pytest.mark.parametrize("method", ["REQUEST", None])
async def test_with_and_without_method_in_either_encoding(service: Service, relay: CaptureRelay, client: str,
                                                          encoding: str, method: str | None) -> None:
    await send_invitation(service, client, method=method, transfer_encoding=encoding)
    [event] = await events(service)
    assert datetime.fromisoformat(event["start"]) == WALL_START.replace(tzinfo=SHANGHAI)
    assert event["title"] == "县政府常务会议"


@pytest.mark.parametrize("client", clients.CLIENTS)
async def test_organiser_update_and_cancel_from_the_calendar_app(service: Service, relay: CaptureRelay,
                                                                 client: str) -> None:
    uid = await send_invitation(service, client, sequence=0)
    first = await next_mail(relay, "fin-staff@test.gov")
    await send_invitation(service, client, uid=uid, sequence=1, start=WALL_START + timedelta(days=1),
                          end=WALL_END + timedelta(days=1), location="五楼")
    update = await next_mail(relay, "fin-staff@test.gov", 2)
    [event] = await events(service)
    assert event["sequence"] == 1 and event["location"] == "五楼"
    assert event["start"] == "2026-12-04T09:30:00+08:00"
    assert str(vevent(update)["UID"]) == str(vevent(first)["UID"]) == event["uid"]
    assert int(vevent(update)["SEQUENCE"]) == 1

    # A stale copy of the first invitation (lower SEQUENCE) changes nothing.
    await send_invitation(service, client, uid=uid, sequence=0)
    [event] = await events(service)
    assert event["sequence"] == 1 and event["start"] == "2026-12-04T09:30:00+08:00"

    await send_invitation(service, client, uid=uid, sequence=2, method="CANCEL", start=WALL_START + timedelta(days=1),
                          end=WALL_END + timedelta(days=1), location="五楼")
    cancel = await next_mail(relay, "fin-staff@test.gov", 3)
    [part] = [p for p in cancel.walk() if p.get_content_type() == "text/calendar"]
    assert part.get_param("method") == "CANCEL"
    [event] = await events(service)
    assert event["status"] == "CANCELLED" and event["sequence"] == 2


async def test_a_document_with_an_ics_attachment_stays_a_document(service: Service, relay: CaptureRelay) -> None:
    raw = clients.invitation("gmail", sender=ORGANIZER, sender_name="李县长", to=[f"finance@{DOMAIN}"],
                             uid="doc@x", summary="[通知] 关于放假安排的通知", start=WALL_START, end=WALL_END,
                             method=None)
    raw = raw.replace(b"Subject: ", b"Subject: [\xe9\x80\x9a\xe7\x9f\xa5] ", 1)
    assert (await smtp_send(service.smtp_port, ORGANIZER, [f"finance@{DOMAIN}"], raw)).startswith("250")
    await settled(service)
    assert (await api(service, "/api/v1/events"))["items"] == []
    [document] = (await api(service, "/api/v1/documents"))["items"]
    assert document["type"] == "通知"


@pytest.mark.parametrize(("event", "reason"), [
    ("DTSTART:2026-13-45", "calendar event: DTSTART is not a date or time: 2026-13-45"),
    ("DTSTART:20261203T090000\r\nDTSTART:20261204T090000", "calendar event: DTSTART is not a date or time: given more than once"),
    ("DTSTART:20261203T090000\r\nDTEND;VALUE=DATE:20261301", "calendar event: DTEND is not a date or time: 20261301"),
    ("DTSTART:20261203T090000\r\nDURATION:an hour", "calendar event: DURATION is not a duration: an hour"),
])
async def test_an_unreadable_calendar_part_is_quarantined_with_the_reason(service: Service, event: str,
                                                                          reason: str) -> None:
    """The reason names what cannot be read (it was "AttributeError: 'str' object has no attribute 'year'")."""
    raw = (f"From: 李县长 <{ORGANIZER}>\r\nTo: finance@{DOMAIN}\r\nSubject: meeting\r\nMIME-Version: 1.0\r\n"
           "Content-Type: text/calendar; method=REQUEST; charset=utf-8\r\n\r\n"
           f"BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:x\r\n{event}\r\n"
           "END:VEVENT\r\nEND:VCALENDAR\r\n").encode()
    assert (await smtp_send(service.smtp_port, ORGANIZER, [f"finance@{DOMAIN}"], raw)).startswith("250")
    [inbound] = await settled(service)
    assert (inbound.status, inbound.reason) == ("quarantined", reason)
    quarantine = (await api(service, "/api/v1/quarantine"))["items"]
    assert quarantine[0]["reason"] == inbound.reason


@pytest.mark.parametrize("content_type", ["application/ics", "application/x-ics"])
async def test_a_big_nameless_calendar_part_is_still_a_meeting(make_service: Any, relay: CaptureRelay,
                                                                content_type: str) -> None:
    """A calendar part over 256 KB without a file name (an agenda pasted into DESCRIPTION) is
    read as the invitation it is: the parser lets go of big files' text, never of calendars."""
    service = await make_service(relay, clock=FixedClock(NOW), smtp={"max_message_size": 2_000_000})
    agenda = "议程：听取各部门工作汇报。" * 8_000
    ics = "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Test//Big agenda//ZH", "METHOD:REQUEST", "BEGIN:VEVENT",
        "UID:big-agenda@test.example", "DTSTAMP:20261201T000000Z", "SEQUENCE:0",
        "DTSTART;TZID=Asia/Shanghai:20261203T093000", "DTEND;TZID=Asia/Shanghai:20261203T110000",
        "SUMMARY:县政府常务会议", f"ORGANIZER:mailto:{ORGANIZER}", f"DESCRIPTION:{agenda}",
        "END:VEVENT", "END:VCALENDAR", ""]).encode()
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = ORGANIZER, f"finance@{DOMAIN}", "县政府常务会议"
    message.set_content("请参加会议。")
    maintype, subtype = content_type.split("/")
    message.add_attachment(ics, maintype=maintype, subtype=subtype, disposition="inline")
    del message.get_payload()[1]["Content-Disposition"]
    raw = message.as_bytes()
    assert len(raw) > 256 * 1024
    assert (await smtp_send(service.smtp_port, ORGANIZER, [f"finance@{DOMAIN}"], raw)).startswith("250")
    [event] = await events(service)
    assert event["title"] == "县政府常务会议" and event["organizer"] == ORGANIZER
    assert (await api(service, "/api/v1/documents"))["items"] == []
