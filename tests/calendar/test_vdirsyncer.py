"""A person's calendar feed, synced by a real CalDAV/iCalendar client: vdirsyncer.

vdirsyncer's `http` storage reads `GET /calendar/<token>.ics` and writes each VEVENT (with
its VTIMEZONE) to a local `.ics` file through the `filesystem` storage. The test follows
one meeting through its life (created, answered, moved, cancelled) and checks what lands
on disk after each sync, plus the raw HTTP answer (content type, ETag, 304).

The http storage replaces every UID by a hash of the item, so files are matched by
SUMMARY, never by UID or file name (a changed event comes back under a new name).
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import datetime, timezone
from email.message import Message
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import icalendar
import pytest

from inkless.bridge.app import Service
from inkless.calendar.feeds import feed_url
from inkless.clock import FixedClock
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
NOW = datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc)  # Friday 10:00 in Shanghai
CLERK = "clerk@test.gov"
STAFF = "fin-staff@test.gov"  # a member of finance: invited to its meetings, sees its schedule
FINANCE = ["fin-clerk@test.gov", STAFF, "shared@test.gov"]
MEETING = "年终预算协调会"
SCHEDULE = "财政局内部培训"
VDIRSYNCER = Path(sys.executable).parent / "vdirsyncer"


async def send(service: Service, sender: str, to: str, raw: bytes) -> None:
    assert (await smtp_send(service.smtp_port, sender, [to], raw)).startswith("250")


async def answer(service: Service, original: Message, author: str, text: str) -> None:
    """A text reply to a mail Inkless sent, on its Reply-To address."""
    await send(service, author, str(original["Reply-To"]), reply(original, author, text))


async def person_feed_url(service: Service, email: str) -> str:
    """The person's feed URL, pointed at the running service instead of `web.base_url`."""
    assert service.sessions is not None
    person = service.office().directory.person(email)
    assert person is not None
    async with service.sessions() as session, session.begin():
        url = await feed_url(session, service.config, person_id=person.id, now=service.clock.now())
    base = service.config.web.base_url
    assert url.startswith(base + "/calendar/")
    return f"http://127.0.0.1:{service.web_port}" + url.removeprefix(base)


class Vdirsyncer:
    """One vdirsyncer pair: the feed (http storage) into a folder (filesystem storage)."""

    def __init__(self, folder: Path, url: str) -> None:
        self.calendars = folder / "calendars" / "feed"
        self.status = folder / "status"
        self.calendars.mkdir(parents=True)
        self.status.mkdir(parents=True)
        self.config = folder / "vdirsyncer.conf"
        self.config.write_text(
            "[general]\n"
            f'status_path = "{self.status}/"\n\n'
            "[pair feed]\n"
            'a = "feed_remote"\n'
            'b = "feed_local"\n'
            "collections = null\n"
            'partial_sync = "revert"\n'
            'conflict_resolution = "a wins"\n\n'
            "[storage feed_remote]\n"
            'type = "http"\n'
            f'url = "{url}"\n\n'
            "[storage feed_local]\n"
            'type = "filesystem"\n'
            f'path = "{self.calendars}/"\n'
            'fileext = ".ics"\n', encoding="utf-8")

    async def run(self, command: str) -> str:
        """Run `vdirsyncer -c <config> <command>` as a real process; fail with its output."""
        assert VDIRSYNCER.exists(), f"vdirsyncer is not installed next to {sys.executable}"
        environment = dict(os.environ)
        environment["NO_PROXY"] = environment["no_proxy"] = "127.0.0.1,localhost"
        process = await asyncio.create_subprocess_exec(
            str(VDIRSYNCER), "-c", str(self.config), command, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=environment)
        output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
        text = output.decode(errors="replace")
        assert process.returncode == 0, f"vdirsyncer {command} exited {process.returncode}:\n{text}"
        return text

    async def sync(self) -> dict[str, icalendar.cal.Component]:
        """Sync once; return the synced events by SUMMARY."""
        await self.run("sync")
        return self.events()

    def events(self) -> dict[str, icalendar.cal.Component]:
        found: dict[str, icalendar.cal.Component] = {}
        for path in sorted(self.calendars.glob("*.ics")):
            calendar = icalendar.Calendar.from_ical(path.read_bytes())
            [event] = calendar.walk("VEVENT")  # one event per file ...
            zones = [str(zone["TZID"]) for zone in calendar.walk("VTIMEZONE")]
            assert zones == ["Asia/Shanghai"], f"{path.name}: VTIMEZONE {zones}"  # ... with its time zone
            summary = str(event["SUMMARY"])
            assert summary not in found, f"two synced files for {summary}"
            found[summary] = event
        return found


def attendees(event: icalendar.cal.Component) -> dict[str, Any]:
    """ATTENDEE properties by address (mailto: stripped)."""
    value = event.get("ATTENDEE", [])
    return {str(a).removeprefix("mailto:").lower(): a for a in (value if isinstance(value, list) else [value])}


def sequence(event: icalendar.cal.Component) -> int:
    return int(str(event["SEQUENCE"]))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


async def test_vdirsyncer_follows_a_meeting_through_the_feed(service: Service, relay: CaptureRelay,
                                                             tmp_path: Path) -> None:
    service = service
    await send(service, CLERK, f"finance@{DOMAIN}", simple_mail(
        CLERK, f"finance@{DOMAIN}", f"[会议] {MEETING}", "时间：2026-12-03 09:30-11:00\n地点：县政府三楼会议室\n"))
    invitations = {rcpt: await next_mail(relay, rcpt) for rcpt in FINANCE}
    confirmation = await next_mail(relay, CLERK)
    assert confirmation["Subject"].startswith(f"已发出会议通知：{MEETING}")
    # A schedule entry for the unit: in members' feeds, no invitations.
    await send(service, CLERK, f"finance@{DOMAIN}", simple_mail(
        CLERK, f"finance@{DOMAIN}", f"[日程] {SCHEDULE}", "时间：2026-12-05 14:00-17:00\n地点：财政局二楼\n"))
    await settled(service)
    assert {item["title"] for item in (await api(service, "/api/v1/events"))["items"]} == {MEETING, SCHEDULE}

    url = await person_feed_url(service, STAFF)

    # The raw answer, as any subscriber sees it.
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
            etag = response.headers.get("ETag")
            assert etag
            feed = await response.text()
        assert feed.startswith("BEGIN:VCALENDAR") and MEETING in feed and SCHEDULE in feed
        async with http.get(url, headers={"If-None-Match": etag}) as again:
            assert again.status == 304
            assert again.headers.get("ETag") == etag
            assert await again.read() == b""

    sync = Vdirsyncer(tmp_path / "vdirsyncer", url)
    await sync.run("discover")

    # 1. The new meeting (and the schedule entry) arrive as separate files.
    events = await sync.sync()
    assert sorted(events) == sorted([MEETING, SCHEDULE]), feed
    meeting = events[MEETING]
    assert meeting.decoded("DTSTART") == datetime(2026, 12, 3, 9, 30, tzinfo=SHANGHAI)
    assert meeting.decoded("DTEND") == datetime(2026, 12, 3, 11, 0, tzinfo=SHANGHAI)
    assert str(meeting["LOCATION"]) == "县政府三楼会议室"
    assert sequence(meeting) == 0
    mine = attendees(meeting)[STAFF]
    assert mine.params["PARTSTAT"] == "NEEDS-ACTION"
    schedule = events[SCHEDULE]
    assert schedule.decoded("DTSTART") == datetime(2026, 12, 5, 14, 0, tzinfo=SHANGHAI)
    assert str(schedule["LOCATION"]) == "财政局二楼"
    assert STAFF not in attendees(schedule)

    # 2. fin-staff accepts by replying to the invitation.
    await answer(service, invitations[STAFF], STAFF, "参加")
    await settled(service)
    events = await sync.sync()
    assert attendees(events[MEETING])[STAFF].params["PARTSTAT"] == "ACCEPTED"
    assert sequence(events[MEETING]) == 0

    # 3. The organiser moves the meeting by replying to the confirmation.
    await answer(service, confirmation, CLERK, "时间：2026年12月4日 15:00-16:00")
    await settled(service)
    events = await sync.sync()
    assert sorted(events) == sorted([MEETING, SCHEDULE])
    meeting = events[MEETING]
    assert meeting.decoded("DTSTART") == datetime(2026, 12, 4, 15, 0, tzinfo=SHANGHAI)
    assert meeting.decoded("DTEND") == datetime(2026, 12, 4, 16, 0, tzinfo=SHANGHAI)
    assert sequence(meeting) == 1
    assert str(meeting["LOCATION"]) == "县政府三楼会议室"
    assert str(meeting.get("STATUS", "CONFIRMED")) == "CONFIRMED"

    # 4. The organiser cancels: the meeting stays in the feed, marked cancelled.
    await answer(service, confirmation, CLERK, "取消")
    await settled(service)
    events = await sync.sync()
    assert sorted(events) == sorted([MEETING, SCHEDULE])
    meeting = events[MEETING]
    assert str(meeting["STATUS"]) == "CANCELLED"
    assert sequence(meeting) == 2
    assert meeting.decoded("DTSTART") == datetime(2026, 12, 4, 15, 0, tzinfo=SHANGHAI)
    assert events[SCHEDULE].decoded("DTSTART") == datetime(2026, 12, 5, 14, 0, tzinfo=SHANGHAI)
