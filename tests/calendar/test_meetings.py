"""Meetings by plain `[会议]` mail: the event, personal iMIP invitations, RSVP by text and by
iTIP REPLY, organiser changes and cancellation, and the digest of who has not answered."""

from __future__ import annotations

import asyncio
import sys
from datetime import date, datetime, timedelta, timezone
from email.message import Message
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
from sqlalchemy import select

from inkless.bridge.app import Service
from inkless.clock import FixedClock
from inkless.storage.models import AuditEntry
from tests.calendar import clients
from tests.conftest import (
    DOMAIN,
    CaptureRelay,
    api,
    next_mail,
    settled,
    simple_mail,
    smtp_send,
)
from tests.handlers.replies import reply

SHANGHAI = ZoneInfo("Asia/Shanghai")
CLERK = "clerk@test.gov"
# Members of finance: the meeting's attendees when it is sent to finance@.
FINANCE = ["fin-clerk@test.gov", "fin-staff@test.gov", "shared@test.gov"]
NOW = datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc)  # Friday 10:00 in Shanghai


def calendar_of(message: Message) -> icalendar.Calendar:
    """The text/calendar part of an invitation, parsed."""
    [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    return icalendar.Calendar.from_ical(part.get_payload(decode=True))


def vevent(message: Message) -> icalendar.cal.Event:
    [event] = calendar_of(message).walk("VEVENT")
    return event


async def call_meeting(service: Service, body: str, *, to: str = "finance", subject: str = "[会议] 年终预算协调会",
                       sender: str = CLERK) -> None:
    raw = simple_mail(sender, f"{to}@{DOMAIN}", subject, body)
    assert (await smtp_send(service.smtp_port, sender, [f"{to}@{DOMAIN}"], raw)).startswith("250")


async def the_event(service: Service) -> dict[str, Any]:
    [item] = (await api(service, "/api/v1/events"))["items"]
    return item  # type: ignore[no-any-return]


async def answer_by_text(service: Service, invitation: Message, author: str, text: str, **options: Any) -> None:
    raw = reply(invitation, author, text, **options)
    assert (await smtp_send(service.smtp_port, author, [str(invitation["Reply-To"])], raw)).startswith("250")


async def inkless_cli(*args: str) -> str:
    """Run the real `inkless` command; return its output, failing on a non-zero exit."""
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "inkless", *args,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await process.communicate()
    assert process.returncode == 0, output.decode()
    return output.decode()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


async def test_meeting_mail_invites_every_member_once_with_a_personal_imip_request(
        service: Service, relay: CaptureRelay) -> None:
    await call_meeting(service, "各位：\n时间：2026年12月3日（星期四）上午9:30-11:00\n地点：县政府三楼会议室\n"
                                        "要求：请带上本单位预算草案。\n")
    invitations = [await next_mail(relay, rcpt) for rcpt in FINANCE]
    await settled(service)
    assert sorted(m.rcpt for m in relay.messages if m.message["X-Inkless-Event"]) == sorted(FINANCE)

    event = await the_event(service)
    assert event["title"] == "年终预算协调会"
    assert event["start"] == "2026-12-03T09:30:00+08:00" and event["end"] == "2026-12-03T11:00:00+08:00"
    assert event["location"] == "县政府三楼会议室" and event["requirements"] == "请带上本单位预算草案。"
    assert event["organizer"] == CLERK and event["status"] == "CONFIRMED" and event["sequence"] == 0
    assert sorted(a["email"] for a in event["attendees"]) == sorted(FINANCE)
    assert {a["partstat"] for a in event["attendees"]} == {"NEEDS-ACTION"}

    reply_addresses = set()
    for rcpt, invitation in zip(FINANCE, invitations, strict=True):
        assert invitation["Subject"].startswith("会议通知：年终预算协调会")
        [calendar_part] = [p for p in invitation.walk() if p.get_content_type() == "text/calendar"]
        assert calendar_part.get_param("method") == "REQUEST"
        assert "请直接回复本邮件" in invitation.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        cal = calendar_of(invitation)
        assert str(cal["METHOD"]) == "REQUEST"
        item = vevent(invitation)
        assert str(item["UID"]) == event["uid"]
        assert item.decoded("DTSTART") == datetime(2026, 12, 3, 9, 30, tzinfo=SHANGHAI)
        assert item.decoded("DTEND").astimezone(timezone.utc) == datetime(2026, 12, 3, 3, 0, tzinfo=timezone.utc)
        organizer = item["ORGANIZER"]
        assert organizer.params["CN"] == "王文书"
        # RSVPs come back to Inkless, on an address made for this attendee.
        assert str(organizer).lower().startswith("mailto:reply+")
        assert str(organizer)[7:] == str(invitation["Reply-To"])
        reply_addresses.add(str(invitation["Reply-To"]))
        [attendee] = [item["ATTENDEE"]] if not isinstance(item["ATTENDEE"], list) else item["ATTENDEE"]
        assert str(attendee) == f"mailto:{rcpt}" and attendee.params["RSVP"] == "TRUE"
    assert len(reply_addresses) == len(FINANCE)
    # The organiser gets a confirmation they can reply to.
    confirmation = await next_mail(relay, CLERK)
    assert confirmation["Subject"].startswith("已发出会议通知：年终预算协调会")


@pytest.mark.parametrize("line, start, end", [
    ("2026-12-03 09:30-11:00", datetime(2026, 12, 3, 9, 30), datetime(2026, 12, 3, 11, 0)),
    ("2026年12月3日 9:30-11:00", datetime(2026, 12, 3, 9, 30), datetime(2026, 12, 3, 11, 0)),
    ("12月3日上午9:30-11:00", datetime(2026, 12, 3, 9, 30), datetime(2026, 12, 3, 11, 0)),
    ("11月2日下午2:30-4:00", datetime(2027, 11, 2, 14, 30), datetime(2027, 11, 2, 16, 0)),
    ("２０２６年１２月３日　９：３０－１１：００", datetime(2026, 12, 3, 9, 30), datetime(2026, 12, 3, 11, 0)),
    ("2026-12-03 14:00 - 2026-12-04 11:30", datetime(2026, 12, 3, 14, 0), datetime(2026, 12, 4, 11, 30)),
])
async def test_every_time_format_ends_in_the_right_instant(service: Service, relay: CaptureRelay,
                                                           line: str, start: datetime, end: datetime) -> None:
    await call_meeting(service, f"时间：{line}\n地点：二楼\n")
    await next_mail(relay, "fin-staff@test.gov")
    event = await the_event(service)
    assert datetime.fromisoformat(event["start"]) == start.replace(tzinfo=SHANGHAI)
    assert datetime.fromisoformat(event["end"]) == end.replace(tzinfo=SHANGHAI)


async def test_full_width_colon_on_the_time_line(service: Service, relay: CaptureRelay) -> None:
    await call_meeting(service, "时间： 2026年12月3日 9:30-11:00\n地点：二楼\n")
    await next_mail(relay, "fin-staff@test.gov")
    assert (await the_event(service))["start"] == "2026-12-03T09:30:00+08:00"


@pytest.mark.parametrize("body, named", [
    ("时间：下周三上午\n地点：二楼\n", "下周三上午"),
    ("时间：2026年2月30日 9:00-10:00\n", "2026年2月30日 9:00-10:00"),
    ("地点：二楼\n请准时参加。\n", "时间"),
])
async def test_an_unreadable_time_is_answered_naming_the_line_and_nothing_is_sent(
        service: Service, relay: CaptureRelay, body: str, named: str) -> None:
    await call_meeting(service, body)
    answer = await next_mail(relay, CLERK)
    await settled(service)
    assert answer["Subject"] == "未能读取时间：年终预算协调会"
    assert named in answer.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert answer["Auto-Submitted"] == "auto-replied"
    assert (await api(service, "/api/v1/events"))["items"] == []
    assert not [m for m in relay.messages if m.rcpt in FINANCE]


async def test_text_replies_record_answers_and_reasons(service: Service, relay: CaptureRelay) -> None:
    await call_meeting(service, "时间：2026-12-03 09:30-11:00\n")
    invitations = {rcpt: await next_mail(relay, rcpt) for rcpt in FINANCE}
    await answer_by_text(service, invitations["fin-clerk@test.gov"], "fin-clerk@test.gov", "参加")
    await answer_by_text(service, invitations["fin-staff@test.gov"], "fin-staff@test.gov",
                         "请假，当天下乡检查。", style="foxmail")
    await answer_by_text(service, invitations["shared@test.gov"], "shared@test.gov", "不参加")
    await settled(service)
    answers = {a["email"]: a for a in (await the_event(service))["attendees"]}
    assert answers["fin-clerk@test.gov"]["partstat"] == "ACCEPTED"
    assert answers["fin-clerk@test.gov"]["channel"] == "mail"
    assert answers["fin-staff@test.gov"]["partstat"] == "DECLINED"
    assert answers["fin-staff@test.gov"]["comment"] == "当天下乡检查。"
    # "不参加" contains "参加": it must never read as a yes.
    assert answers["shared@test.gov"]["partstat"] == "DECLINED"
    assert answers["fin-clerk@test.gov"]["responded_at"] is not None

    # A changed answer replaces the earlier one.
    await answer_by_text(service, invitations["shared@test.gov"], "shared@test.gov", "待定")
    await settled(service)
    answers = {a["email"]: a for a in (await the_event(service))["attendees"]}
    assert answers["shared@test.gov"]["partstat"] == "TENTATIVE"


async def test_unclear_answer_is_asked_again_and_changes_nothing(service: Service, relay: CaptureRelay) -> None:
    await call_meeting(service, "时间：2026-12-03 09:30-11:00\n")
    invitation = await next_mail(relay, "fin-staff@test.gov")
    await answer_by_text(service, invitation, "fin-staff@test.gov", "参加吗？几点开始？")
    question = await next_mail(relay, "fin-staff@test.gov", 2)
    assert question["Subject"] == "请明确是否参加：年终预算协调会"
    assert "参加吗？几点开始？" in question.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    answers = {a["email"]: a for a in (await the_event(service))["attendees"]}
    assert answers["fin-staff@test.gov"]["partstat"] == "NEEDS-ACTION"
    # The question can itself be answered.
    await answer_by_text(service, question, "fin-staff@test.gov", "参加")
    await settled(service)
    answers = {a["email"]: a for a in (await the_event(service))["attendees"]}
    assert answers["fin-staff@test.gov"]["partstat"] == "ACCEPTED"


async def test_wrong_person_and_auto_replies_never_count(service: Service, relay: CaptureRelay) -> None:
    await call_meeting(service, "时间：2026-12-03 09:30-11:00\n")
    invitation = await next_mail(relay, "fin-staff@test.gov")
    # Someone else answers on fin-staff's address (forwarded mail): audited, nothing changes.
    await answer_by_text(service, invitation, "fin-clerk@test.gov", "参加")
    # An out-of-office reply that happens to start with a yes word.
    await answer_by_text(service, invitation, "fin-staff@test.gov", "参加会议请联系我的同事，我出差中。",
                         headers={"Auto-Submitted": "auto-replied"})
    inbound = await settled(service)
    assert [m.status for m in inbound[1:]] == ["discarded", "discarded"]
    answers = {a["email"]: a for a in (await the_event(service))["attendees"]}
    assert answers["fin-staff@test.gov"]["partstat"] == "NEEDS-ACTION"
    assert answers["fin-clerk@test.gov"]["partstat"] == "NEEDS-ACTION"
    # Nothing was sent back to either (no loops).
    assert len(relay.to("fin-staff@test.gov")) == 1


@pytest.mark.parametrize(("envelope", "header_from", "to_reply_address"), [
    ("fin-clerk@test.gov", "fin-staff@test.gov", True),  # a colleague's envelope, the attendee's From
    ("fin-staff@test.gov", "fin-staff@test.gov", True),  # the attendee's own answer counts
    ("fin-staff@test.gov", "fin-staff@test.gov", False),  # the token only in References (a forwarded copy)
])
async def test_an_answer_counts_only_from_the_attendee_s_own_envelope_and_from(
        service: Service, relay: CaptureRelay, envelope: str, header_from: str, to_reply_address: bool) -> None:
    await call_meeting(service, "时间：2026-12-03 09:30-11:00\n")
    invitation = await next_mail(relay, "fin-staff@test.gov")
    rcpt = str(invitation["Reply-To"]) if to_reply_address else f"reply@{DOMAIN}"
    raw = reply(invitation, header_from, "参加", to=rcpt)
    assert (await smtp_send(service.smtp_port, envelope, [rcpt], raw)).startswith("250")
    inbound = await settled(service)
    answers = {a["email"]: a for a in (await the_event(service))["attendees"]}
    if envelope == header_from and to_reply_address:
        assert answers["fin-staff@test.gov"]["partstat"] == "ACCEPTED"
        return
    assert inbound[-1].status == "discarded" and (inbound[-1].reason or "").startswith("reply to invitation ")
    assert answers["fin-staff@test.gov"]["partstat"] == "NEEDS-ACTION"


@pytest.mark.parametrize("client", clients.CLIENTS)
@pytest.mark.parametrize("partstat", ["ACCEPTED", "DECLINED", "TENTATIVE"])
async def test_itip_reply_from_any_client_records_the_answer(service: Service, relay: CaptureRelay,
                                                             client: str, partstat: str) -> None:
    await call_meeting(service, "时间：2026-12-03 09:30-11:00\n地点：二楼\n")
    invitation = await next_mail(relay, "fin-staff@test.gov")
    item = vevent(invitation)
    organizer = str(item["ORGANIZER"])[7:]
    raw = clients.reply(client, sender="fin-staff@test.gov", sender_name="吴科员", to=organizer,
                        uid=str(item["UID"]), summary=str(item["SUMMARY"]), start=datetime(2026, 12, 3, 9, 30),
                        end=datetime(2026, 12, 3, 11, 0), partstat=partstat, organizer=organizer,
                        comment="临时有会" if partstat == "DECLINED" else None,
                        in_reply_to=str(invitation["Message-ID"]))
    assert (await smtp_send(service.smtp_port, "fin-staff@test.gov", [organizer], raw)).startswith("250")
    await settled(service)
    answers = {a["email"]: a for a in (await the_event(service))["attendees"]}
    assert answers["fin-staff@test.gov"]["partstat"] == partstat
    assert answers["fin-staff@test.gov"]["channel"] == "itip"
    if partstat == "DECLINED":
        assert "临时有会" in (answers["fin-staff@test.gov"]["comment"] or "")


async def test_itip_reply_from_the_wrong_person_or_for_another_uid_changes_nothing(
        service: Service, relay: CaptureRelay) -> None:
    await call_meeting(service, "时间：2026-12-03 09:30-11:00\n")
    invitation = await next_mail(relay, "fin-staff@test.gov")
    item = vevent(invitation)
    organizer = str(item["ORGANIZER"])[7:]
    common: dict[str, Any] = dict(to=organizer, summary="x", start=datetime(2026, 12, 3, 9, 30),
                                  end=datetime(2026, 12, 3, 11, 0), partstat="ACCEPTED", organizer=organizer)
    wrong_person = clients.reply("outlook", sender="fin-clerk@test.gov", sender_name="陈会计", uid=str(item["UID"]),
                                 **common)
    other_uid = clients.reply("gmail", sender="fin-staff@test.gov", sender_name="吴科员", uid="other@x", **common)
    auto = clients.reply("thunderbird", sender="fin-staff@test.gov", sender_name="吴科员", uid=str(item["UID"]),
                         auto_submitted="auto-replied", **common)
    for sender, raw in (("fin-clerk@test.gov", wrong_person), ("fin-staff@test.gov", other_uid),
                        ("fin-staff@test.gov", auto)):
        assert (await smtp_send(service.smtp_port, sender, [organizer], raw)).startswith("250")
    inbound = await settled(service)
    assert [m.status for m in inbound[1:]] == ["discarded"] * 3
    answers = {a["email"]: a for a in (await the_event(service))["attendees"]}
    assert answers["fin-staff@test.gov"]["partstat"] == "NEEDS-ACTION"
    assert answers["fin-clerk@test.gov"]["partstat"] == "NEEDS-ACTION"
    async with service.sessions() as session:  # type: ignore[misc]
        actions = (await session.scalars(select(AuditEntry.action))).all()
    assert not [a for a in actions if a.startswith("rsvp.")]


async def test_organiser_reply_moves_the_meeting_then_cancels_it(service: Service,
                                                                 relay: CaptureRelay) -> None:
    await call_meeting(service, "时间：2026-12-03 09:30-11:00\n地点：二楼\n")
    first = await next_mail(relay, "fin-staff@test.gov")
    await answer_by_text(service, first, "fin-staff@test.gov", "参加")
    confirmation = await next_mail(relay, CLERK)
    await answer_by_text(service, confirmation, CLERK, "时间：2026年12月4日 15:00-16:00\n地点：五楼大会议室")
    update = await next_mail(relay, "fin-staff@test.gov", 2)
    assert update["Subject"].startswith("会议变更：年终预算协调会")
    item = vevent(update)
    assert str(item["UID"]) == str(vevent(first)["UID"])
    assert int(item["SEQUENCE"]) == 1
    assert item.decoded("DTSTART") == datetime(2026, 12, 4, 15, 0, tzinfo=SHANGHAI)
    assert str(item["LOCATION"]) == "五楼大会议室"
    event = await the_event(service)
    assert event["sequence"] == 1 and event["start"] == "2026-12-04T15:00:00+08:00"
    # A new time asks everyone again.
    assert {a["partstat"] for a in event["attendees"]} == {"NEEDS-ACTION"}

    await answer_by_text(service, confirmation, CLERK, "取消")
    cancel = await next_mail(relay, "fin-staff@test.gov", 3)
    [part] = [p for p in cancel.walk() if p.get_content_type() == "text/calendar"]
    assert part.get_param("method") == "CANCEL"
    item = vevent(cancel)
    assert str(item["STATUS"]) == "CANCELLED" and int(item["SEQUENCE"]) == 2
    event = await the_event(service)
    assert event["status"] == "CANCELLED" and event["sequence"] == 2

    # An answer to a cancelled meeting is not recorded; the attendee is told.
    await answer_by_text(service, first, "fin-staff@test.gov", "参加")
    told = await next_mail(relay, "fin-staff@test.gov", 4)
    assert told["Subject"] == "会议已取消：年终预算协调会"
    assert {a["partstat"] for a in (await the_event(service))["attendees"]} == {"NEEDS-ACTION"}


async def test_organiser_gets_one_digest_of_who_has_not_answered(make_service: Any, relay: CaptureRelay) -> None:
    clock = FixedClock(NOW)
    service = await make_service(relay, clock=clock)
    await call_meeting(service, "时间：2026-12-03 09:30-11:00\n")
    invitation = await next_mail(relay, "fin-clerk@test.gov")
    await answer_by_text(service, invitation, "fin-clerk@test.gov", "参加")
    await answer_by_text(service, await next_mail(relay, "shared@test.gov"), "shared@test.gov", "请假，出差")
    await settled(service)
    assert service.scheduler is not None
    assert await service.scheduler.run_once() == 0  # six days before: not yet
    clock.at = datetime(2026, 12, 2, 2, 0, tzinfo=timezone.utc)  # 23.5 hours before
    assert await service.scheduler.run_once() == 1
    assert await service.scheduler.run_once() == 0  # once only
    await settled(service)
    [digest] = [m.message for m in relay.to(CLERK) if m.message["Subject"].startswith("参会回复情况")]
    text = digest.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "尚未答复（1）：吴科员" in text
    assert "参加（1）：陈会计" in text
    assert "请假（1）：两边都在（出差）" in text


async def test_event_show_prints_the_attendance_list(service: Service, relay: CaptureRelay,
                                                     tmp_path: Any) -> None:
    await call_meeting(service, "时间：2026-12-03 09:30-11:00\n")
    await answer_by_text(service, await next_mail(relay, "fin-clerk@test.gov"), "fin-clerk@test.gov", "出席")
    await settled(service)
    event = await the_event(service)
    output = await inkless_cli("event", "show", str(event["id"]), "-c", str(tmp_path / "config.yaml"))
    assert "年终预算协调会" in output
    lines = {line.split()[0]: line for line in output.splitlines() if line.strip() and "@" in line.split()[0]}
    assert "ACCEPTED" in lines["fin-clerk@test.gov"] and "NEEDS-ACTION" in lines["fin-staff@test.gov"]
    assert "3 attendees: 1 accepted, 0 declined, 0 tentative, 2 not answered" in output


def test_digest_is_due_a_day_before_or_halfway_for_short_notice() -> None:
    from inkless.calendar.digest import digest_due
    from inkless.storage.models import Event

    start = datetime(2026, 12, 3, 1, 30, tzinfo=timezone.utc)
    early = Event(start=start, updated_at=start - timedelta(days=6))
    late = Event(start=start, updated_at=start - timedelta(hours=4))
    assert digest_due(early, timedelta(hours=24)) == start - timedelta(hours=24)
    assert digest_due(late, timedelta(hours=24)) == start - timedelta(hours=2)
    assert date(2026, 12, 3) == start.astimezone(SHANGHAI).date()
