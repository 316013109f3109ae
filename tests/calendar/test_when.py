"""parse_when and read_fields: the time shapes office mail uses, and the refusals."""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from inkless.calendar.fields import Fields, read_fields
from inkless.calendar.when import Span, WhenError, parse_when

SHANGHAI = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 11, 27)


def at(day: int, hour: int, minute: int = 0, month: int = 12, year: int = 2026) -> datetime:
    """A Shanghai wall-clock instant, for expected values."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def when(value: str, today: date = TODAY) -> Span:
    """parse_when in Shanghai, on a fixed today."""
    return parse_when(value, zone=SHANGHAI, today=today)


def test_instant_is_exact_in_the_zone() -> None:
    span = when("2026-12-03 09:30-11:00")
    assert span.start == datetime(2026, 12, 3, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert span.start.tzinfo is SHANGHAI
    assert span.start.astimezone(timezone.utc) == datetime(2026, 12, 3, 1, 30, tzinfo=timezone.utc)
    assert span.end.astimezone(timezone.utc) == datetime(2026, 12, 3, 3, 0, tzinfo=timezone.utc)
    assert not span.all_day


def test_same_text_in_another_zone_is_another_instant() -> None:
    span = parse_when("2026-12-03 09:30-11:00", zone=ZoneInfo("Europe/Berlin"), today=TODAY)
    assert span.start.astimezone(timezone.utc) == datetime(2026, 12, 3, 8, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "value",
    [
        "2026-12-03 09:30-11:00",
        "2026/12/3 9:30-11:00",
        "2026.12.3 9:30-11:00",
        "2026年12月3日 9:30-11:00",
        "2026年12月3日9:30-11:00",
        "2026年12月3号 9:30-11:00",
        "2026年12月3日9时30分至11时",
        "2026年12月3日（星期四）上午9:30-11:00",
        "2026年12月3日(周四)上午9:30-11:00",
        "2026年12月3日 星期四 上午9:30-11:00",
        "2026年12月3日周四上午9:30-11:00",
        "2026年12月3日（星期一）上午9:30-11:00",  # contradicting weekday: ignored
        "12月3日上午9:30-11:00",
        "２０２６年１２月３日　９：３０－１１：００",
        "2026年12月3日 9:30 - 11:00",
        "2026年12月3日 9:30－11:00",
        "2026年12月3日 9:30–11:00",
        "2026年12月3日 9:30—11:00",
        "2026年12月3日 9:30——11:00",
        "2026年12月3日 9:30~11:00",
        "2026年12月3日 9:30～11:00",
        "2026年12月3日 9:30至11:00",
        "2026年12月3日 9:30 到 11:00",
        "2026年12月3日 9点30分-11点",
        "2026年12月3日 9点半到11点",
        "2026年12月3日 9时半至11时",
        "2026年12月3日 早上9:30-11:00",
        "2026-12-03T09:30-11:00",
        "2026-12-03 09:30:00-11:00:00",
        "2026年12月3日上午9:30-11:00。",
    ],
)
def test_morning_meeting_shapes(value: str) -> None:
    assert when(value) == Span(at(3, 9, 30), at(3, 11), all_day=False)


@pytest.mark.parametrize(
    ("value", "start", "end"),
    [
        ("2026年12月3日下午2:30-4:00", at(3, 14, 30), at(3, 16)),
        ("2026年12月3日下午2:30-下午4:00", at(3, 14, 30), at(3, 16)),
        ("2026年12月3日下午14:30-16:00", at(3, 14, 30), at(3, 16)),
        ("2026年12月3日上午10:00-下午2:00", at(3, 10), at(3, 14)),
        ("2026年12月3日中午12:00-下午1:30", at(3, 12), at(3, 13, 30)),
        ("2026年12月3日中午12:00-1:30", at(3, 12), at(3, 13, 30)),
        ("2026年12月3日晚上7点-9点", at(3, 19), at(3, 21)),
        ("2026年12月3日晚上8:00-12:00", at(3, 20), at(4, 0)),
        ("2026年12月3日凌晨2:00-4:00", at(3, 2), at(3, 4)),
        ("2026年12月3日下午3-5点", at(3, 15), at(3, 17)),
        ("2026年12月3日 22:00-24:00", at(3, 22), at(4, 0)),
    ],
)
def test_periods_of_the_day(value: str, start: datetime, end: datetime) -> None:
    assert when(value) == Span(start, end, all_day=False)


@pytest.mark.parametrize(
    "value",
    [
        "2026-12-03 09:30 - 2026-12-04 11:00",
        "2026-12-03 09:30至2026-12-04 11:00",
        "2026年12月3日 9:30至12月4日 11:00",
        "2026年12月3日 9:30至4日11:00",
        "2026年12月3日上午9:30至4日上午11:00",
    ],
)
def test_end_on_another_day(value: str) -> None:
    assert when(value) == Span(at(3, 9, 30), at(4, 11), all_day=False)


def test_evening_start_does_not_carry_to_a_dated_end() -> None:
    assert when("2026年12月3日下午2:00至4日9:00").end == at(4, 9)


def test_month_day_end_before_start_is_next_year() -> None:
    span = when("2026年12月31日 20:00至1月1日 2:00")
    assert span.end == at(1, 2, month=1, year=2027)


@pytest.mark.parametrize(
    ("value", "last"),
    [
        ("2026-12-03", 3),
        ("2026/12/3", 3),
        ("2026年12月3日", 3),
        ("2026年12月3日（星期四）", 3),
        ("12月3日", 3),
        ("2026年12月3日至5日", 5),
        ("2026-12-03至2026-12-05", 5),
        ("2026-12-03 - 2026-12-05", 5),
        ("2026年12月3日至12月5日", 5),
        ("2026年12月3日-5日", 5),
    ],
)
def test_date_only_is_all_day(value: str, last: int) -> None:
    assert when(value) == Span(at(3, 0), at(last + 1, 0), all_day=True)


def test_all_day_range_across_the_year_end() -> None:
    assert when("2026年12月31日至1月2日") == Span(at(31, 0), at(3, 0, month=1, year=2027), all_day=True)


@pytest.mark.parametrize(
    ("value", "end"),
    [
        ("2026-12-03 09:30", at(3, 10, 30)),
        ("2026年12月3日下午2点", at(3, 15)),
        ("2026年12月3日 23:30", at(4, 0, 30)),
    ],
)
def test_start_without_end_lasts_an_hour(value: str, end: datetime) -> None:
    span = when(value)
    assert span.end == end
    assert span.end - span.start == span.end.astimezone(timezone.utc) - span.start.astimezone(timezone.utc)
    assert not span.all_day


@pytest.mark.parametrize(
    ("today", "year"),
    [
        (date(2026, 11, 27), 2026),
        (date(2026, 12, 3), 2026),
        (date(2026, 12, 5), 2027),
        (date(2027, 1, 10), 2027),
    ],
)
def test_month_day_is_the_next_occurrence(today: date, year: int) -> None:
    span = when("12月3日上午9:30-11:00", today=today)
    assert span.start == at(3, 9, 30, year=year)
    assert span.end == at(3, 11, year=year)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("待定", "could not read '待定'"),
        ("上午9:30-11:00", "no date"),
        ("周三上午9:30", "no date"),
        ("2026年2月30日", "no date 2026-02-30"),
        ("2月30日 9:30", "no date 2027-02-30"),
        ("2026-13-01", "no date 2026-13-01"),
        ("2026年12月32日", "no date 2026-12-32"),
        ("12-03 9:30", "could not read '12-03 9:30'"),
        ("2026-12-03 11:00-10:00", "not after"),
        ("2026-12-03 11:00-11:00", "not after"),
        ("2026年12月3日上午11:00-1:00", "not after"),
        ("2026年12月5日至3日", "before the first"),
        ("2026-12-03 25:00", "25:00 is not a time of day"),
        ("2026-12-03 24:30", "24:30 is not a time of day"),
        ("2026-12-03 9:75", "9:75 is not a time of day"),
        ("下周三上午", "relative"),
        ("明天下午3点", "relative"),
        ("本周五 9:30", "relative"),
        ("每周一上午9:00", "recurring"),
        ("2026年12月3日上午9:30开始", "could not read '开始'"),
        ("2026年12月3日上午9:30-11:00，下午2:00-5:00", "could not read ',下午2:00-5:00'"),
        ("2026年12月3日9:30至4日", "only one end"),
        ("2026年12月3日至4日11:00", "only one end"),
        ("2026年12月3日 9", "could not read '9'"),
        ("2026年12月3日 9:30-11", "could not read '11' as a date or time"),
        ("2026-12-03 9:30-", "nothing follows the range separator"),
    ],
)
def test_refusals_name_the_problem(value: str, words: str) -> None:
    with pytest.raises(WhenError) as error:
        when(value)
    message = str(error.value)
    assert words in message.replace(f" in {value!r}", "")  # found outside the echoed value
    assert value.strip() == "" or repr(value) in message


def test_error_is_a_value_error() -> None:
    assert issubclass(WhenError, ValueError)


# --- read_fields ------------------------------------------------------------------------

NOTICE = """各位：
时间：2026年12月3日（星期四）上午9:30-11:00
地点：县政府三楼会议室
要求：请准时参加，携带材料。

谢谢！"""


def test_notice_fields() -> None:
    fields = read_fields(NOTICE)
    assert fields == Fields(
        time="2026年12月3日（星期四）上午9:30-11:00",
        time_line="时间：2026年12月3日（星期四）上午9:30-11:00",
        location="县政府三楼会议室",
        requirements="请准时参加，携带材料。",
        person=None,
        private=False,
        rest="各位：\n\n谢谢！",
    )
    assert fields.time is not None
    assert when(fields.time) == Span(at(3, 9, 30), at(3, 11), all_day=False)


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("时间：2026-12-03 09:30", "2026-12-03 09:30"),
        ("时间:2026-12-03 09:30", "2026-12-03 09:30"),
        ("时间 ： 2026-12-03 09:30 ", "2026-12-03 09:30"),
        ("  会议时间：2026-12-03 09:30", "2026-12-03 09:30"),
        ("日期：2026-12-03", "2026-12-03"),
        ("Time: 2026-12-03 09:30", "2026-12-03 09:30"),
        ("WHEN: 2026-12-03 09:30", "2026-12-03 09:30"),
        ("时　间：2026-12-03 09:30", "2026-12-03 09:30"),
        ("一、时间：2026-12-03 09:30", "2026-12-03 09:30"),
        ("1. 时间：2026-12-03 09:30", "2026-12-03 09:30"),
        ("（一）时间：2026-12-03 09:30", "2026-12-03 09:30"),
    ],
)
def test_time_keys(line: str, value: str) -> None:
    fields = read_fields(f"请参加。\n{line}\n谢谢")
    assert fields.time == value
    assert fields.time_line == line
    assert fields.rest == "请参加。\n谢谢"


@pytest.mark.parametrize(
    ("body", "location"),
    [
        ("地点：三楼会议室", "三楼会议室"),
        ("会议地点：三楼会议室", "三楼会议室"),
        ("Location: Room 3", "Room 3"),
        ("place: Room 3", "Room 3"),
        ("Where：Room 3", "Room 3"),
    ],
)
def test_location_keys(body: str, location: str) -> None:
    assert read_fields(body).location == location


@pytest.mark.parametrize("key", ["要求", "会议要求", "Requirements", "notes"])
def test_requirements_run_on_to_a_blank_line(key: str) -> None:
    body = f"{key}：1. 准时参加；\n  2. 携带材料。\n\n此致"
    fields = read_fields(body)
    assert fields.requirements == "1. 准时参加；\n2. 携带材料。"
    assert fields.rest == "此致"


def test_requirements_stop_at_the_next_field_and_may_start_below_the_key() -> None:
    fields = read_fields("要求：\n准时参加\n携带材料\n地点：三楼")
    assert fields.requirements == "准时参加\n携带材料"
    assert fields.location == "三楼"
    assert fields.rest == ""


@pytest.mark.parametrize(
    ("line", "person"),
    [
        ("人员：zhang@example.gov.cn", "zhang@example.gov.cn"),
        ("Person: 张三 ", "张三"),
        ("For: li@example.gov.cn", "li@example.gov.cn"),
    ],
)
def test_person(line: str, person: str) -> None:
    assert read_fields(line).person == person


@pytest.mark.parametrize(
    ("line", "private"),
    [
        ("私密：是", True),
        ("私人: yes", True),
        ("隐私：TRUE", True),
        ("Private: 1", True),
        ("私密：否", False),
        ("Private: no", False),
        ("普通会议", False),
    ],
)
def test_private(line: str, private: bool) -> None:
    assert read_fields(line).private is private


def test_first_occurrence_wins_and_later_ones_stay_in_the_description() -> None:
    fields = read_fields("时间：2026-12-03 09:30\n时间：2026-12-04 09:30")
    assert fields.time == "2026-12-03 09:30"
    assert fields.rest == "时间：2026-12-04 09:30"


def test_empty_value_gives_way_to_a_later_line() -> None:
    fields = read_fields("时间：\n时间：2026-12-03 09:30")
    assert fields.time == "2026-12-03 09:30"
    assert fields.rest == "时间："


def test_words_before_a_colon_are_not_keys() -> None:
    fields = read_fields("For example: none\n会议时间安排：另行通知")
    assert fields.person is None
    assert fields.time is None


@pytest.mark.parametrize(
    "marker",
    [
        "-----原始邮件-----",
        "------------------ 原始邮件 ------------------",
        "-------- Original Message --------",
        "---------- Forwarded message ---------",
        "> 时间：2026-12-04 09:30",
        "On Thu, Dec 3, 2026 at 9:30 AM Zhang <zhang@example.gov.cn> wrote:",
        "在 2026年12月1日 周二 9:30，张三 写道：",
    ],
)
def test_quoted_reply_never_provides_fields(marker: str) -> None:
    body = f"收到，谢谢。\n{marker}\n时间：2026-12-04 09:30\n地点：二楼\n私密：是"
    fields = read_fields(body)
    assert fields == Fields(None, None, None, None, None, False, "收到，谢谢。")


def test_crlf_body() -> None:
    fields = read_fields("时间：2026-12-03 09:30\r\n地点：三楼\r\n")
    assert (fields.time, fields.location, fields.rest) == ("2026-12-03 09:30", "三楼", "")
