"""The iCalendar writer: folding on character boundaries and TEXT escaping, read back by icalendar."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import icalendar

from inkless.calendar import ical


def test_long_chinese_lines_fold_at_75_octets_without_splitting_a_character() -> None:
    line = "SUMMARY:" + "县政府常务会议，研究年终预算、防汛和校舍安全。" * 6
    folded = ical.fold(line)
    physical = folded.split("\r\n")[:-1]
    assert all(len(part.encode()) <= 75 for part in physical)
    assert all(part.startswith(" ") for part in physical[1:])
    # Every piece is whole UTF-8 (encoding each piece alone must round-trip).
    assert "".join(part[1:] if i else part for i, part in enumerate(physical)) == line


def test_text_values_survive_escaping_and_a_round_trip() -> None:
    zone = ZoneInfo("Asia/Shanghai")
    at = datetime(2026, 12, 3, 1, 30, tzinfo=timezone.utc)
    text = ical.EventText(uid="u1@x", title="会议; 议程, 第一项\\第二项", description="第一行\n第二行",
                          location="三楼, 东侧", start=at, end=at.replace(hour=3), all_day=False, sequence=2,
                          status="CONFIRMED", created=at, modified=at, organizer_cn='王 "文书"; 办公室',
                          organizer_email="clerk@test.gov")
    body = (ical.calendar_head(zone) + ical.vevent_open(text, zone)
            + ical.attendee_line("吴科员", "staff@test.gov", "ACCEPTED") + ical.VEVENT_TAIL + ical.CALENDAR_TAIL)
    [event] = icalendar.Calendar.from_ical(body).walk("VEVENT")
    assert str(event["SUMMARY"]) == "会议; 议程, 第一项\\第二项"
    assert str(event["DESCRIPTION"]) == "第一行\n第二行"
    assert str(event["LOCATION"]) == "三楼, 东侧"
    assert event.decoded("DTSTART") == datetime(2026, 12, 3, 9, 30, tzinfo=zone)
    assert event["ORGANIZER"].params["CN"] == "王 '文书'; 办公室"
    assert event["ATTENDEE"].params["PARTSTAT"] == "ACCEPTED"
    assert int(event["SEQUENCE"]) == 2
