"""Calendar feeds over HTTP: content, validators (ETag, Last-Modified, 304), gzip, tokens
(unknown, rotated, revoked), unit feeds with private entries as busy, schedules by mail and
by API, and how long cancelled events stay."""

from __future__ import annotations

import asyncio
import gzip
import sys
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import icalendar
import pytest
from multidict import CIMultiDict
from sqlalchemy import update

from inkless.bridge.app import Service
from inkless.calendar.feeds import feed_url
from inkless.clock import FixedClock
from inkless.storage.models import CalendarState
from tests.calendar.test_meetings import CLERK, NOW, call_meeting
from tests.conftest import (
    DOMAIN,
    CaptureRelay,
    api,
    next_mail,
    settled,
    simple_mail,
    smtp_send,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
STAFF = "fin-staff@test.gov"
TOKEN = {"Authorization": "Bearer static-test-token"}


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


def local(service: Service, url: str) -> str:
    return url.replace(service.config.web.base_url, f"http://127.0.0.1:{service.web_port}")


async def url_of(service: Service, email: str | None = None, *, unit: str | None = None,
                 rotate: bool = False) -> str:
    assert service.sessions is not None
    person = service.office().directory.person(email) if email else None
    async with service.sessions() as session, session.begin():
        url = await feed_url(session, service.config, person_id=person.id if person else None, unit_id=unit,
                             rotate=rotate, now=service.clock.now())
    return local(service, url)


async def fetch(url: str, **headers: str) -> tuple[int, CIMultiDict[str], bytes]:
    """A GET as a calendar app makes it; plain unless the caller accepts gzip."""
    async with aiohttp.ClientSession(auto_decompress=False) as http:
        async with http.get(url, headers={"Accept-Encoding": "identity", **headers}) as response:
            return response.status, response.headers.copy(), await response.read()


def events_in(body: bytes) -> dict[str, icalendar.cal.Event]:
    calendar = icalendar.Calendar.from_ical(body)
    return {str(event["SUMMARY"]): event for event in calendar.walk("VEVENT")}


async def schedule(service: Service, body: str, *, to: str = "finance", title: str = "内部培训",
                   sender: str = CLERK) -> None:
    raw = simple_mail(sender, f"{to}@{DOMAIN}", f"[日程] {title}", body)
    assert (await smtp_send(service.smtp_port, sender, [f"{to}@{DOMAIN}"], raw)).startswith("250")


async def post_event(service: Service, data: dict[str, Any], method: str = "POST", path: str = "/api/v1/events"
                     ) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.request(method, f"http://127.0.0.1:{service.web_port}{path}", json=data,
                                headers=TOKEN) as response:
            return response.status, await response.json()


async def test_feed_is_valid_rfc5545_with_validators_304_and_gzip(service: Service, relay: CaptureRelay) -> None:
    await call_meeting(service, "时间：2026-12-03 09:30-11:00\n地点：二楼\n")
    await schedule(service, "时间：2026年12月5日 14:00-17:00\n地点：党校\n")
    await settled(service)
    url = await url_of(service, STAFF)
    status, headers, body = await fetch(url)
    assert status == 200
    assert headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert [line for line in body.split(b"\n")[:-1] if not line.endswith(b"\r")] == []
    assert max(len(line) for line in body.split(b"\r\n")) <= 75
    calendar = icalendar.Calendar.from_ical(body)
    assert str(calendar["X-WR-CALNAME"]) == "吴科员的日程"
    assert str(calendar["REFRESH-INTERVAL"].to_ical().decode()) == "PT1H"
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["Asia/Shanghai"]
    found = events_in(body)
    meeting, training = found["年终预算协调会"], found["内部培训"]
    assert meeting.decoded("DTSTART") == datetime(2026, 12, 3, 9, 30, tzinfo=SHANGHAI)
    assert str(meeting["ATTENDEE"]) == f"mailto:{STAFF}" and meeting["ATTENDEE"].params["PARTSTAT"] == "NEEDS-ACTION"
    assert int(meeting["SEQUENCE"]) == 0 and "LAST-MODIFIED" in meeting and "DTSTAMP" in meeting
    assert training.decoded("DTSTART") == datetime(2026, 12, 5, 14, 0, tzinfo=SHANGHAI)
    assert "ATTENDEE" not in training
    # UIDs are stable: the same as in the API and the invitation.
    [api_meeting] = [e for e in (await api(service, "/api/v1/events"))["items"] if e["kind"] == "meeting"]
    assert str(meeting["UID"]) == api_meeting["uid"]

    # Conditional requests: 304 with no body, by ETag and by date.
    status, again, empty = await fetch(url, **{"If-None-Match": headers["ETag"]})
    assert status == 304 and empty == b"" and again["ETag"] == headers["ETag"]
    status, _, _ = await fetch(url, **{"If-Modified-Since": headers["Last-Modified"]})
    assert status == 304
    status, _, _ = await fetch(url, **{"If-None-Match": '"something-else"'})
    assert status == 200
    # gzip for clients that take it.
    status, zipped_headers, zipped = await fetch(url, **{"Accept-Encoding": "gzip"})
    assert zipped_headers["Content-Encoding"] == "gzip" and gzip.decompress(zipped) == body

    # A change (an answer) changes the ETag; the old one no longer gets 304.
    invitation = await next_mail(relay, STAFF)
    from tests.calendar.test_meetings import answer_by_text
    await answer_by_text(service, invitation, STAFF, "参加")
    await settled(service)
    status, changed, body = await fetch(url, **{"If-None-Match": headers["ETag"]})
    assert status == 200 and changed["ETag"] != headers["ETag"]
    assert events_in(body)["年终预算协调会"]["ATTENDEE"].params["PARTSTAT"] == "ACCEPTED"


async def test_a_conditional_get_answers_while_a_write_is_under_way_and_sees_only_what_is_committed(
        service: Service) -> None:
    """A calendar app's poll never waits for the database's writers (on SQLite a read took the
    write lock before), and a change not yet committed is not in the ETag."""
    assert service.sessions is not None
    url = await url_of(service, STAFF)
    status, headers, _ = await fetch(url)
    assert status == 200
    async with service.sessions() as session, session.begin():
        await session.execute(update(CalendarState).where(CalendarState.id == 1)
                              .values(generation=CalendarState.generation + 1))
        async with asyncio.timeout(5):  # a look-up waiting for the write lock would wait 30 s
            status, again, _ = await fetch(url, **{"If-None-Match": headers["ETag"]})
        assert status == 304 and again["ETag"] == headers["ETag"]
        async with asyncio.timeout(5):
            assert (await fetch(url.rsplit("/", 1)[0] + "/" + "x" * 43 + ".ics"))[0] == 404
    # Committed, the change is seen at once.
    status, changed, _ = await fetch(url, **{"If-None-Match": headers["ETag"]})
    assert status == 200 and changed["ETag"] != headers["ETag"]


async def test_unknown_rotated_and_revoked_tokens_get_404(service: Service, tmp_path: Any) -> None:
    url = await url_of(service, STAFF)
    assert (await fetch(url))[0] == 200
    # The same URL is printed again until rotated.
    assert await url_of(service, STAFF) == url
    token = url.rsplit("/", 1)[1].removesuffix(".ics")
    forged = url.replace(token, token[:-1] + ("a" if token[-1] != "a" else "b"))
    status, _, body = await fetch(forged)
    assert status == 404 and body == b"no such calendar feed\n"

    rotated = await url_of(service, STAFF, rotate=True)
    assert rotated != url
    assert (await fetch(url))[0] == 404 and (await fetch(rotated))[0] == 200

    # The CLI: prints the URL alone on the last line; --revoke stops it working.
    config = str(tmp_path / "config.yaml")
    printed = (await cli("feed-url", STAFF, "-c", config)).splitlines()[-1]
    assert local(service, printed) == rotated
    await cli("feed-url", STAFF, "--revoke", "-c", config)
    assert (await fetch(rotated))[0] == 404
    rotated_again = (await cli("feed-url", STAFF, "--rotate", "-c", config)).splitlines()[-1]
    assert (await fetch(local(service, rotated_again)))[0] == 200
    failed = await cli("feed-url", "stranger@test.gov", "-c", config, expect=2)
    assert "stranger@test.gov is not a member of the organisation" in failed


async def cli(*args: str, expect: int = 0) -> str:
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "inkless", *args,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await process.communicate()
    assert process.returncode == expect, output.decode()
    return output.decode()


async def test_a_leaders_schedule_kept_by_a_clerk_and_private_entries_show_busy_on_the_unit_feed(
        service: Service, relay: CaptureRelay) -> None:
    await schedule(service, "时间：2026-12-04 09:00-10:00\n人员：boss@test.gov\n地点：市里\n", to="office",
                   title="赴市政府汇报")
    await schedule(service, "时间：2026-12-04 15:00-16:00\n人员：boss@test.gov\n私密：是\n", to="office",
                   title="体检")
    # A staff member may not put things on the leader's schedule.
    await schedule(service, "时间：2026-12-04 11:00-12:00\n人员：boss@test.gov\n", to="office", title="闲聊",
                   sender=STAFF)
    refusal = await next_mail(relay, STAFF)
    assert refusal["Subject"] == "未能加入日程：闲聊"
    await settled(service)
    titles = {e["title"] for e in (await api(service, "/api/v1/events"))["items"]}
    assert titles == {"赴市政府汇报", "体检"}

    leader = events_in((await fetch(await url_of(service, "boss@test.gov")))[2])
    assert set(leader) == {"赴市政府汇报", "体检"}
    assert str(leader["体检"]["CLASS"]) == "PRIVATE"
    # Not on others' feeds: a person's schedule is theirs.
    assert events_in((await fetch(await url_of(service, STAFF)))[2]) == {}
    unit = events_in((await fetch(await url_of(service, unit="office")))[2])
    assert set(unit) == {"赴市政府汇报", "忙碌"}
    assert "LOCATION" not in unit["忙碌"] and "DESCRIPTION" not in unit["忙碌"]
    assert unit["忙碌"].decoded("DTSTART") == datetime(2026, 12, 4, 15, 0, tzinfo=SHANGHAI)


async def test_api_creates_changes_and_cancels_events(service: Service, relay: CaptureRelay) -> None:
    status, created = await post_event(service, {
        "title": "防汛调度会", "start": "2026-12-08T14:00", "end": "2026-12-08T15:30", "location": "应急局",
        "organizer": "boss@test.gov", "to": ["edu"]})
    assert status == 201, created
    assert created["start"] == "2026-12-08T14:00:00+08:00" and created["status"] == "CONFIRMED"
    assert sorted(a["email"] for a in created["attendees"]) == ["edu-clerk@test.gov", "edu-staff@test.gov",
                                                                "shared@test.gov"]
    invitation = await next_mail(relay, "edu-staff@test.gov")
    assert invitation["Subject"].startswith("会议通知：防汛调度会")

    status, changed = await post_event(service, {"start": "2026-12-09T09:00"}, "PATCH",
                                       f"/api/v1/events/{created['id']}")
    assert status == 200 and changed["sequence"] == 1
    # Moving the start keeps the length.
    assert changed["start"] == "2026-12-09T09:00:00+08:00" and changed["end"] == "2026-12-09T10:30:00+08:00"
    await next_mail(relay, "edu-staff@test.gov", 2)
    status, cancelled = await post_event(service, {}, "DELETE", f"/api/v1/events/{created['id']}")
    assert status == 200 and cancelled["status"] == "CANCELLED" and cancelled["sequence"] == 2
    await next_mail(relay, "edu-staff@test.gov", 3)
    status, refused = await post_event(service, {"title": "x"}, "PATCH", f"/api/v1/events/{created['id']}")
    assert status == 409 and "cancelled" in refused["error"]


@pytest.mark.parametrize("data, message", [
    ({"title": "x", "start": "2026-12-08T14:00", "organizer": "nobody@test.gov", "to": ["edu"]},
     "organizer: nobody@test.gov is not a member of the organisation"),
    ({"title": "x", "start": "2026-12-08T14:00", "organizer": "boss@test.gov", "to": ["nowhere"]},
     "to: unknown unit nowhere"),
    ({"title": "x", "start": "2026-12-08T14:00", "end": "2026-12-08T13:00", "organizer": "boss@test.gov",
      "to": ["edu"]}, "end: must be after start"),
    ({"title": "x", "organizer": "boss@test.gov", "to": ["edu"]}, "start: Field required"),
    ({"title": "x", "start": "soon", "organizer": "boss@test.gov", "to": ["edu"]}, "start: Input should be"),
    ({"title": "x", "start": "2026-12-08T14:00", "organizer": "boss@test.gov", "to": ["edu"], "colour": "red"},
     "colour: Extra inputs are not permitted"),
])
async def test_api_refuses_bad_events_naming_the_field(service: Service, data: dict[str, Any],
                                                       message: str) -> None:
    status, answer = await post_event(service, data)
    assert status == 400
    assert answer["error"].startswith(message)


async def test_cancelled_events_stay_a_while_then_leave_the_feed(service: Service, relay: CaptureRelay,
                                                                 clock: FixedClock) -> None:
    status, created = await post_event(service, {
        "title": "年度考核会", "start": "2027-03-01T09:00", "organizer": "boss@test.gov", "to": ["finance"]})
    assert status == 201
    await post_event(service, {}, "DELETE", f"/api/v1/events/{created['id']}")
    url = await url_of(service, STAFF)
    found = events_in((await fetch(url))[2])
    assert str(found["年度考核会"]["STATUS"]) == "CANCELLED"
    clock.at = NOW + timedelta(days=service.config.calendar.keep_cancelled_days + 1)
    assert "年度考核会" not in events_in((await fetch(url))[2])


async def test_past_events_leave_the_feed_after_past_days(service: Service, clock: FixedClock) -> None:
    status, _ = await post_event(service, {
        "title": "旧会", "start": "2026-11-20T09:00", "organizer": "boss@test.gov", "to": ["finance"]})
    assert status == 201
    url = await url_of(service, STAFF)
    assert "旧会" in events_in((await fetch(url))[2])
    clock.at = datetime(2026, 11, 20, tzinfo=timezone.utc) + timedelta(days=service.config.calendar.past_days + 2)
    assert "旧会" not in events_in((await fetch(url))[2])
    assert format_datetime(clock.at, usegmt=True)  # the clock moved; the day is part of the ETag
