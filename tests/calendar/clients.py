"""iMIP (RFC 6047) invitations and replies in the shapes real calendar clients send.

Each builder returns the raw RFC 5322 message (bytes, CRLF line endings) that a test feeds
into the service's SMTP port. The shapes follow what the clients themselves write:

outlook
    Outlook on Exchange: ``multipart/alternative`` of text/plain (gb2312 for Chinese text,
    base64), text/html (quoted-printable) and ``text/calendar; charset="utf-8";
    method=REQUEST`` in base64. PRODID ``Microsoft Exchange Server 2010``, METHOD first,
    Windows zone ``China Standard Time`` with the STANDARD and DAYLIGHT blocks Exchange
    writes, the Exchange property order and its X-MICROSOFT-CDO-* properties. Headers
    carry Thread-Topic, Thread-Index, X-MS-Has-Attach, X-MS-TNEF-Correlator and
    ``X-Mailer: Microsoft Outlook 16.0``. Replies prefix SUMMARY with the response word,
    as Exchange does ("已接受: …"), and carry a note only in the text body.
thunderbird
    Thunderbird's calendar (CalItipEmailTransport): the fixed ``Boundary_(ID_…)``
    boundaries, lower-case ``Content-type``/``Content-transfer-encoding`` headers,
    ``multipart/mixed`` of ``multipart/alternative`` (text/plain, text/calendar 8BIT) and
    ``application/ics; name=invite.ics`` (8BIT). Mozilla PRODID and property order,
    ORGANIZER/ATTENDEE with RSVP/PARTSTAT/ROLE, X-MOZ-SEND-INVITATIONS.
apple
    iPhone Mail: headers in Apple's order (Content-Type first, ``Mime-Version: 1.0 (1.0)``,
    ``X-Mailer: iPhone Mail``), ``Apple-Mail-…`` boundary, tab-folded parameters,
    quoted-printable parts, the calendar as an ``iCal-YYYYMMDD-HHMMSS.ics`` attachment.
    iOS serialises properties alphabetically, quotes CN and EMAIL, lists the organizer as
    a CHAIR attendee and adds X-APPLE-* properties and X-LIC-LOCATION.
gmail
    Google Calendar: ``multipart/mixed`` of ``multipart/alternative`` (text/plain base64
    format=flowed, text/html quoted-printable, ``text/calendar; charset="UTF-8";
    method=REQUEST``) and ``application/ics; name="invite.ics"`` in base64. Google's
    PRODID and property order, CUTYPE/X-NUM-GUESTS on attendees, the organizer listed as
    an ACCEPTED attendee, ``Message-ID: <calendar-…@google.com>``, ``Sender: Google
    Calendar``, subjects ``Invitation: X @ <when> (<guest>)``.

``method=None`` builds an ordinary message from that client carrying an exported event as
an attached ``.ics`` file (text/calendar without ``method=``, VCALENDAR without METHOD).

Times are given as naive Asia/Shanghai wall-clock times and rendered per ``tz_style``.
iCalendar lines are folded at 75 octets on UTF-8 character boundaries.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from urllib.parse import quote

CLIENTS = ("outlook", "thunderbird", "apple", "gmail")
TZ_STYLES = ("windows", "olson", "utc", "floating")
DEFAULT_TZ_STYLE = {"outlook": "windows", "thunderbird": "olson", "apple": "olson", "gmail": "utc"}
TRANSFER_ENCODINGS = ("base64", "quoted-printable", "7bit", "8bit")

CST = timezone(timedelta(hours=8))
CRLF = "\r\n"
WINDOWS_TZID = "China Standard Time"
OLSON_TZID = "Asia/Shanghai"

_last_stamp: datetime | None = None


# --- iCalendar content lines ---------------------------------------------------------------


def _text(value: str) -> str:
    """TEXT value escaping (RFC 5545 3.3.11)."""
    return (value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n"))


def _param(value: str, *, force_quote: bool = False) -> str:
    """A parameter value, quoted when it must be (or when the client always quotes)."""
    if force_quote or any(ch in value for ch in ':;,'):
        return '"' + value.replace('"', "'") + '"'
    return value


def _prop(name: str, value: str, *params: tuple[str, str]) -> str:
    return name + "".join(f";{key}={val}" for key, val in params) + ":" + value


def fold(line: str) -> str:
    """Fold one content line at 75 octets, never inside a UTF-8 sequence."""
    data = line.encode("utf-8")
    pieces: list[bytes] = []
    limit = 75
    while len(data) > limit:
        cut = limit
        while cut > 0 and (data[cut] & 0xC0) == 0x80:
            cut -= 1
        pieces.append(data[:cut])
        data = data[cut:]
        limit = 74  # the leading space of a continuation line counts
    pieces.append(data)
    return "\r\n ".join(piece.decode("utf-8") for piece in pieces)


def _calendar(lines: list[str]) -> bytes:
    return "".join(fold(line) + CRLF for line in lines).encode("utf-8")


def _stamp(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _local(value: datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%S")


def _to_utc(wall: datetime) -> datetime:
    return wall.replace(tzinfo=CST).astimezone(timezone.utc)


def _when(name: str, wall: datetime, style: str, *, quote_tzid: bool = False) -> str:
    """DTSTART/DTEND for a Shanghai wall-clock time in one of the TZ_STYLES."""
    if style == "windows":
        tzid = f'"{WINDOWS_TZID}"' if quote_tzid else WINDOWS_TZID
        return _prop(name, _local(wall), ("TZID", tzid))
    if style == "olson":
        return _prop(name, _local(wall), ("TZID", OLSON_TZID))
    if style == "utc":
        return _prop(name, _stamp(_to_utc(wall)))
    if style == "floating":
        return _prop(name, _local(wall))
    raise ValueError(f"unknown tz_style {style!r}")


def _vtimezone(style: str, client: str) -> list[str]:
    """The VTIMEZONE the client writes for the zone (none for UTC and floating times)."""
    if style == "windows":
        block = ["BEGIN:VTIMEZONE", f"TZID:{WINDOWS_TZID}",
                 "BEGIN:STANDARD", "DTSTART:16010101T000000", "TZOFFSETFROM:+0800", "TZOFFSETTO:+0800",
                 "END:STANDARD"]
        if client != "outlook-desktop":  # Exchange also writes an identical DAYLIGHT block
            block += ["BEGIN:DAYLIGHT", "DTSTART:16010101T000000", "TZOFFSETFROM:+0800",
                      "TZOFFSETTO:+0800", "END:DAYLIGHT"]
        return block + ["END:VTIMEZONE"]
    if style != "olson":
        return []
    if client == "apple":  # iOS: alphabetical, with X-LIC-LOCATION
        return ["BEGIN:VTIMEZONE", f"TZID:{OLSON_TZID}", f"X-LIC-LOCATION:{OLSON_TZID}",
                "BEGIN:STANDARD", "DTSTART:19700101T000000", "TZNAME:CST", "TZOFFSETFROM:+0800",
                "TZOFFSETTO:+0800", "END:STANDARD", "END:VTIMEZONE"]
    if client == "gmail":
        return ["BEGIN:VTIMEZONE", f"TZID:{OLSON_TZID}", f"X-LIC-LOCATION:{OLSON_TZID}",
                "BEGIN:STANDARD", "TZOFFSETFROM:+0800", "TZOFFSETTO:+0800", "TZNAME:CST",
                "DTSTART:19700101T000000", "END:STANDARD", "END:VTIMEZONE"]
    if client in ("outlook", "outlook-desktop"):  # an Olson id in Exchange's block layout
        return ["BEGIN:VTIMEZONE", f"TZID:{OLSON_TZID}", "BEGIN:STANDARD", "DTSTART:16010101T000000",
                "TZOFFSETFROM:+0800", "TZOFFSETTO:+0800", "END:STANDARD", "END:VTIMEZONE"]
    return ["BEGIN:VTIMEZONE", f"TZID:{OLSON_TZID}", "BEGIN:STANDARD", "TZOFFSETFROM:+0800",
            "TZOFFSETTO:+0800", "TZNAME:CST", "DTSTART:19700101T000000", "END:STANDARD", "END:VTIMEZONE"]


# --- MIME helpers --------------------------------------------------------------------------


def _is_ascii(value: str) -> bool:
    return all(ord(ch) < 128 for ch in value)


def _has_cjk(value: str) -> bool:
    return any("\u3000" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef" for ch in value)


def _encoded_words(value: str, charset: str = "UTF-8") -> list[str]:
    """RFC 2047 B encoded-words of at most 75 characters, split between characters."""
    codec = charset.lower()
    head = f"=?{charset}?B?"
    room = 75 - len(head) - 2
    words: list[str] = []
    chunk = ""
    for ch in value:
        candidate = chunk + ch
        if chunk and len(base64.b64encode(candidate.encode(codec))) > room:
            words.append(head + base64.b64encode(chunk.encode(codec)).decode("ascii") + "?=")
            candidate = ch
        chunk = candidate
    if chunk:
        words.append(head + base64.b64encode(chunk.encode(codec)).decode("ascii") + "?=")
    return words


def _hdr_text(value: str, charset: str = "UTF-8") -> str:
    """An unstructured header value, RFC 2047-encoded when it is not ASCII."""
    if _is_ascii(value):
        return value
    if charset.lower() == "gb2312":
        try:
            value.encode("gb2312")
        except UnicodeEncodeError:
            charset = "utf-8"
    return "\r\n ".join(_encoded_words(value, charset))


def _hdr_addr(name: str, address: str, charset: str = "UTF-8", *, quote_ascii: bool = False) -> str:
    if not name:
        return address
    if _is_ascii(name):
        if quote_ascii or any(ch in name for ch in ',.;:<>@()[]"\\'):
            return f'"{name}" <{address}>'
        return f"{name} <{address}>"
    return f"{_hdr_text(name, charset)} <{address}>"


def _b64(data: bytes) -> bytes:
    text = base64.b64encode(data).decode("ascii")
    return ("".join(text[i:i + 76] + CRLF for i in range(0, len(text), 76))).encode("ascii")


def _qp(data: bytes) -> bytes:
    """Quoted-printable with CRLF hard breaks and soft breaks at 76 characters."""
    out: list[str] = []
    lines = data.split(b"\r\n")
    for number, raw in enumerate(lines):
        if number == len(lines) - 1 and raw == b"":
            break
        tokens = []
        for index, byte in enumerate(raw):
            last = index == len(raw) - 1
            if (33 <= byte <= 126 and byte != 61) or (byte in (9, 32) and not last):
                tokens.append(chr(byte))
            else:
                tokens.append(f"={byte:02X}")
        current = ""
        for token in tokens:
            if len(current) + len(token) > 75:
                out.append(current + "=" + CRLF)
                current = ""
            current += token
        out.append(current + CRLF)
    return "".join(out).encode("ascii")


def _encode(data: bytes, cte: str) -> bytes:
    """Encode a body so that it ends with CRLF. 7bit and 8bit pass the octets through as
    labelled (real senders do label UTF-8 calendars 7bit). A text body that ends with a line
    break gets one more CRLF, because the CRLF before a boundary belongs to the boundary."""
    cte = cte.lower()
    if cte == "base64":
        return _b64(data)
    tail = b"\r\n" if data.endswith(b"\r\n") else b""
    if cte == "quoted-printable":
        return _qp(data) + tail
    if cte in ("7bit", "8bit"):
        return data + (tail or b"\r\n")
    raise ValueError(f"unknown transfer encoding {cte!r}")


def _cte_label(cte: str, style: str) -> str:
    """The transfer-encoding token as the client spells it."""
    cte = cte.lower()
    if style == "thunderbird" and cte in ("7bit", "8bit"):
        return cte.upper()
    return cte


def _leaf(headers: list[str], body: bytes) -> bytes:
    return (CRLF.join(headers) + CRLF + CRLF).encode("ascii") + body


def _multipart(headers: list[str], boundary: str, parts: list[bytes], *, preamble: str = "",
               epilogue: str = "") -> bytes:
    out = (CRLF.join(headers) + CRLF + CRLF + preamble).encode("ascii")
    for part in parts:
        if not part.endswith(b"\r\n"):
            part += b"\r\n"
        out += f"--{boundary}\r\n".encode("ascii") + part
    return out + f"--{boundary}--\r\n{epilogue}".encode("ascii")


def _html(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\n", "<br>\n"))


def _crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def _now() -> datetime:
    """The sending instant: real time, strictly increasing between messages, so DTSTAMP
    orders updates the way it does for a real sender."""
    global _last_stamp
    now = datetime.now(timezone.utc).replace(microsecond=0)
    if _last_stamp is not None and now <= _last_stamp:
        now = _last_stamp + timedelta(seconds=1)
    _last_stamp = now
    return now


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).digest()


def _domain(address: str) -> str:
    return address.rsplit("@", 1)[-1]


def _owner_appt_id(uid: str) -> str:
    return str(int.from_bytes(_digest("owner", uid)[:4], "big", signed=True))


def _thread_index(uid: str, now: datetime) -> str:
    return base64.b64encode(b"\x01" + _digest("thread", uid, now.isoformat())[:21]).decode("ascii")


# --- the event -----------------------------------------------------------------------------


@dataclass
class _Event:
    uid: str
    summary: str
    start: datetime
    end: datetime
    location: str
    description: str
    sequence: int
    organizer: str
    organizer_name: str
    attendees: list[str]
    method: str | None
    tz_style: str
    stamp: datetime
    partstat: str = "NEEDS-ACTION"
    comment: str | None = None
    replier_name: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def cancel(self) -> bool:
        return self.method == "CANCEL"

    @property
    def reply(self) -> bool:
        return self.method == "REPLY"

    @property
    def lang(self) -> str:
        return "zh-CN" if _has_cjk(self.summary) else "en-US"


def _outlook_calendar(ev: _Event) -> bytes:
    """Outlook through Exchange (REQUEST, CANCEL, REPLY); Outlook desktop export for None."""
    if ev.method is None:
        return _outlook_export(ev)
    lang = ("LANGUAGE", ev.lang)
    lines = ["BEGIN:VCALENDAR", f"METHOD:{ev.method}", "PRODID:Microsoft Exchange Server 2010", "VERSION:2.0"]
    lines += _vtimezone(ev.tz_style, "outlook")
    lines.append("BEGIN:VEVENT")
    if ev.reply:
        lines.append(_prop("ATTENDEE", f"mailto:{ev.attendees[0]}", ("PARTSTAT", ev.partstat),
                           ("CN", _param(ev.replier_name or ev.attendees[0]))))
        lines.append(f"ORGANIZER:mailto:{ev.organizer}")
        summary = _reply_prefix_outlook(ev.partstat, ev.summary) + ev.summary
    else:
        lines.append(_prop("ORGANIZER", f"mailto:{ev.organizer}", ("CN", _param(ev.organizer_name))))
        for address in ev.attendees:
            lines.append(_prop("ATTENDEE", f"mailto:{address}", ("ROLE", "REQ-PARTICIPANT"),
                               ("PARTSTAT", "NEEDS-ACTION"), ("RSVP", "TRUE"), ("CN", _param(address))))
        lines.append(_prop("DESCRIPTION", _text(ev.description + "\n"), lang))
        summary = ev.summary
    lines.append(f"UID:{ev.uid}")
    lines.append(_prop("SUMMARY", _text(summary), lang))
    lines.append(_when("DTSTART", ev.start, ev.tz_style))
    lines.append(_when("DTEND", ev.end, ev.tz_style))
    lines += ["CLASS:PUBLIC", "PRIORITY:5", f"DTSTAMP:{_stamp(ev.stamp)}", "TRANSP:OPAQUE",
              "STATUS:CANCELLED" if ev.cancel else "STATUS:CONFIRMED", f"SEQUENCE:{ev.sequence}"]
    if not ev.reply or ev.location:
        lines.append(_prop("LOCATION", _text(ev.location), lang))
    free = ev.cancel or (ev.reply and ev.partstat == "DECLINED")
    busy = "FREE" if free else ("BUSY" if ev.reply else "TENTATIVE")
    lines += [f"X-MICROSOFT-CDO-APPT-SEQUENCE:{ev.sequence}",
              f"X-MICROSOFT-CDO-OWNERAPPTID:{_owner_appt_id(ev.uid)}",
              f"X-MICROSOFT-CDO-BUSYSTATUS:{busy}",
              f"X-MICROSOFT-CDO-INTENDEDSTATUS:{'FREE' if free else 'BUSY'}",
              "X-MICROSOFT-CDO-ALLDAYEVENT:FALSE", "X-MICROSOFT-CDO-IMPORTANCE:1",
              "X-MICROSOFT-CDO-INSTTYPE:0", "X-MICROSOFT-DONOTFORWARDMEETING:FALSE",
              "X-MICROSOFT-DISALLOW-COUNTER:FALSE"]
    if ev.location and not ev.reply:
        locations = ('[{"DisplayName":"%s","LocationAnnotation":"","LocationUri":"","LocationStreet":""'
                     ',"LocationCity":"","LocationState":"","LocationCountry":"","LocationPostalCode":""'
                     ',"LocationFullAddress":""}]') % ev.location.replace('"', "'")
        lines.append("X-MICROSOFT-LOCATIONS:" + locations.replace(",", "\\,"))
    if ev.method == "REQUEST":
        lines += ["BEGIN:VALARM", "DESCRIPTION:REMINDER", "TRIGGER;RELATED=START:-PT15M", "ACTION:DISPLAY",
                  "END:VALARM"]
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return _calendar(lines)


def _outlook_export(ev: _Event) -> bytes:
    """Outlook desktop "Save as iCalendar": alphabetical, quoted TZID, X-MS-OLK-*; METHOD dropped."""
    lines = ["BEGIN:VCALENDAR", "PRODID:-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN", "VERSION:2.0",
             "X-MS-OLK-FORCEINSPECTOROPEN:TRUE"]
    lines += _vtimezone(ev.tz_style, "outlook-desktop")
    lines.append("BEGIN:VEVENT")
    for address in ev.attendees:
        lines.append(_prop("ATTENDEE", f"mailto:{address}", ("CN", _param(address, force_quote=True)),
                           ("RSVP", "TRUE")))
    lines += ["CLASS:PUBLIC", f"CREATED:{_stamp(ev.stamp)}",
              _prop("DESCRIPTION", _text(ev.description + "\n")),
              _when("DTEND", ev.end, ev.tz_style, quote_tzid=True), f"DTSTAMP:{_stamp(ev.stamp)}",
              _when("DTSTART", ev.start, ev.tz_style, quote_tzid=True), f"LAST-MODIFIED:{_stamp(ev.stamp)}"]
    if ev.location:
        lines.append(_prop("LOCATION", _text(ev.location)))
    lines += [_prop("ORGANIZER", f"mailto:{ev.organizer}", ("CN", _param(ev.organizer_name, force_quote=True))),
              "PRIORITY:5", f"SEQUENCE:{ev.sequence}",
              _prop("SUMMARY", _text(ev.summary), ("LANGUAGE", ev.lang.lower())), "TRANSP:OPAQUE",
              f"UID:{ev.uid}", "X-MICROSOFT-CDO-BUSYSTATUS:BUSY", "X-MICROSOFT-CDO-IMPORTANCE:1",
              "X-MICROSOFT-DISALLOW-COUNTER:FALSE", "X-MS-OLK-AUTOFILLLOCATION:FALSE", "X-MS-OLK-CONFTYPE:0",
              "BEGIN:VALARM", "TRIGGER:-PT15M", "ACTION:DISPLAY", "DESCRIPTION:Reminder", "END:VALARM",
              "END:VEVENT", "END:VCALENDAR"]
    return _calendar(lines)


def _thunderbird_calendar(ev: _Event) -> bytes:
    lines = ["BEGIN:VCALENDAR", "PRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN", "VERSION:2.0"]
    if ev.method:
        lines.append(f"METHOD:{ev.method}")
    lines += _vtimezone(ev.tz_style, "thunderbird")
    lines += ["BEGIN:VEVENT", f"CREATED:{_stamp(ev.stamp)}", f"LAST-MODIFIED:{_stamp(ev.stamp)}",
              f"DTSTAMP:{_stamp(ev.stamp)}", f"UID:{ev.uid}", _prop("SUMMARY", _text(ev.summary))]
    if ev.reply:
        lines.append(f"ORGANIZER:mailto:{ev.organizer}")
        lines.append(_prop("ATTENDEE", f"mailto:{ev.attendees[0]}",
                           *((("CN", _param(ev.replier_name)),) if ev.replier_name else ()),
                           ("PARTSTAT", ev.partstat), ("ROLE", "REQ-PARTICIPANT")))
    else:
        lines.append(_prop("ORGANIZER", f"mailto:{ev.organizer}", ("RSVP", "TRUE"),
                           ("CN", _param(ev.organizer_name)), ("PARTSTAT", "ACCEPTED"), ("ROLE", "CHAIR")))
        for address in ev.attendees:
            lines.append(_prop("ATTENDEE", f"mailto:{address}", ("RSVP", "TRUE"), ("PARTSTAT", "NEEDS-ACTION"),
                               ("ROLE", "REQ-PARTICIPANT")))
    lines += [_when("DTSTART", ev.start, ev.tz_style), _when("DTEND", ev.end, ev.tz_style), "TRANSP:OPAQUE"]
    if ev.location:
        lines.append(_prop("LOCATION", _text(ev.location)))
    if ev.description and not ev.reply:
        lines.append(_prop("DESCRIPTION", _text(ev.description)))
    if ev.comment:
        lines.append(_prop("COMMENT", _text(ev.comment)))
    if ev.cancel:
        lines.append("STATUS:CANCELLED")
    if not ev.reply:
        lines += ["X-MOZ-SEND-INVITATIONS:TRUE", "X-MOZ-SEND-INVITATIONS-UNDISCLOSED:FALSE"]
    lines += [f"SEQUENCE:{ev.sequence}", "END:VEVENT", "END:VCALENDAR"]
    return _calendar(lines)


def _apple_calendar(ev: _Event) -> bytes:
    """iOS: every component's properties in alphabetical order."""
    head = ["CALSCALE:GREGORIAN"] + ([f"METHOD:{ev.method}"] if ev.method else []) + [
        "PRODID:-//Apple Inc.//iPhone OS 17.5.1//EN", "VERSION:2.0"]
    props: list[str] = []
    if ev.reply:
        props.append(_prop("ATTENDEE", f"mailto:{ev.attendees[0]}",
                           ("CN", _param(ev.replier_name or ev.attendees[0], force_quote=True)),
                           ("CUTYPE", "INDIVIDUAL"), ("EMAIL", _param(ev.attendees[0], force_quote=True)),
                           ("PARTSTAT", ev.partstat), ("ROLE", "REQ-PARTICIPANT")))
    else:
        props.append(_prop("ATTENDEE", f"mailto:{ev.organizer}", ("CN", _param(ev.organizer_name, force_quote=True)),
                           ("CUTYPE", "INDIVIDUAL"), ("EMAIL", _param(ev.organizer, force_quote=True)),
                           ("PARTSTAT", "ACCEPTED"), ("ROLE", "CHAIR")))
        for address in ev.attendees:
            props.append(_prop("ATTENDEE", f"mailto:{address}", ("CN", _param(address, force_quote=True)),
                               ("CUTYPE", "INDIVIDUAL"), ("EMAIL", _param(address, force_quote=True)),
                               ("PARTSTAT", "NEEDS-ACTION"), ("ROLE", "REQ-PARTICIPANT"), ("RSVP", "TRUE")))
    if ev.comment:
        props.append(_prop("COMMENT", _text(ev.comment)))
    props.append(f"CREATED:{_stamp(ev.stamp)}")
    if ev.description and not ev.reply:
        props.append(_prop("DESCRIPTION", _text(ev.description)))
    props += [_when("DTEND", ev.end, ev.tz_style), f"DTSTAMP:{_stamp(ev.stamp)}",
              _when("DTSTART", ev.start, ev.tz_style), f"LAST-MODIFIED:{_stamp(ev.stamp)}"]
    if ev.location:
        props.append(_prop("LOCATION", _text(ev.location)))
    if ev.reply:
        props.append(_prop("ORGANIZER", f"mailto:{ev.organizer}", ("EMAIL", _param(ev.organizer, force_quote=True))))
    else:
        props.append(_prop("ORGANIZER", f"mailto:{ev.organizer}",
                           ("CN", _param(ev.organizer_name, force_quote=True)),
                           ("EMAIL", _param(ev.organizer, force_quote=True))))
    props.append(f"SEQUENCE:{ev.sequence}")
    if ev.cancel:
        props.append("STATUS:CANCELLED")
    props += [_prop("SUMMARY", _text(ev.summary)), "TRANSP:OPAQUE", f"UID:{ev.uid}",
              "X-APPLE-CREATOR-IDENTITY:com.apple.mobilecal", "X-APPLE-CREATOR-TEAM-IDENTITY:0000000000",
              "X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC"]
    lines = (["BEGIN:VCALENDAR"] + head + _vtimezone(ev.tz_style, "apple") + ["BEGIN:VEVENT"] + props
             + ["END:VEVENT", "END:VCALENDAR"])
    return _calendar(lines)


def _gmail_calendar(ev: _Event) -> bytes:
    lines = ["BEGIN:VCALENDAR", "PRODID:-//Google Inc//Google Calendar 70.9054//EN", "VERSION:2.0",
             "CALSCALE:GREGORIAN"]
    if ev.method:
        lines.append(f"METHOD:{ev.method}")
    lines += _vtimezone(ev.tz_style, "gmail")
    lines += ["BEGIN:VEVENT", _when("DTSTART", ev.start, ev.tz_style), _when("DTEND", ev.end, ev.tz_style),
              f"DTSTAMP:{_stamp(ev.stamp)}"]
    if ev.reply:
        lines.append(_prop("ORGANIZER", f"mailto:{ev.organizer}", ("CN", _param(ev.organizer))))
        lines.append(f"UID:{ev.uid}")
        lines.append(_prop("ATTENDEE", f"mailto:{ev.attendees[0]}", ("CUTYPE", "INDIVIDUAL"),
                           ("ROLE", "REQ-PARTICIPANT"), ("PARTSTAT", ev.partstat),
                           ("CN", _param(ev.replier_name or ev.attendees[0])), ("X-NUM-GUESTS", "0")))
        if ev.comment:
            lines.append(_prop("COMMENT", _text(ev.comment)))
    else:
        lines.append(_prop("ORGANIZER", f"mailto:{ev.organizer}", ("CN", _param(ev.organizer_name))))
        lines.append(f"UID:{ev.uid}")
        for address in ev.attendees:
            lines.append(_prop("ATTENDEE", f"mailto:{address}", ("CUTYPE", "INDIVIDUAL"),
                               ("ROLE", "REQ-PARTICIPANT"), ("PARTSTAT", "NEEDS-ACTION"), ("RSVP", "TRUE"),
                               ("CN", _param(address)), ("X-NUM-GUESTS", "0")))
        lines.append(_prop("ATTENDEE", f"mailto:{ev.organizer}", ("CUTYPE", "INDIVIDUAL"),
                           ("ROLE", "REQ-PARTICIPANT"), ("PARTSTAT", "ACCEPTED"), ("RSVP", "TRUE"),
                           ("CN", _param(ev.organizer_name)), ("X-NUM-GUESTS", "0")))
        lines.append(f"X-MICROSOFT-CDO-OWNERAPPTID:{_owner_appt_id(ev.uid)}")
    lines += [f"CREATED:{_stamp(ev.stamp - timedelta(minutes=3))}",
              _prop("DESCRIPTION", _text("" if ev.reply else ev.description)),
              f"LAST-MODIFIED:{_stamp(ev.stamp)}", _prop("LOCATION", _text(ev.location)),
              f"SEQUENCE:{ev.sequence}", "STATUS:CANCELLED" if ev.cancel else "STATUS:CONFIRMED",
              _prop("SUMMARY", _text(ev.summary)), "TRANSP:OPAQUE", "END:VEVENT", "END:VCALENDAR"]
    return _calendar(lines)


_CALENDARS = {"outlook": _outlook_calendar, "thunderbird": _thunderbird_calendar, "apple": _apple_calendar,
              "gmail": _gmail_calendar}


# --- subjects and bodies -------------------------------------------------------------------


def _reply_prefix_outlook(partstat: str, summary: str) -> str:
    zh = _has_cjk(summary)
    words = {"ACCEPTED": ("已接受: ", "Accepted: "), "DECLINED": ("已拒绝: ", "Declined: "),
             "TENTATIVE": ("暂定: ", "Tentative: ")}
    pair = words.get(partstat, ("答复: ", "Response: "))
    return pair[0] if zh else pair[1]


def _google_when(start: datetime, end: datetime) -> str:
    def clock(value: datetime) -> str:
        hour = value.hour % 12 or 12
        minute = f":{value.minute:02d}" if value.minute else ""
        return f"{hour}{minute}{'am' if value.hour < 12 else 'pm'}"
    day = f"{start:%a} {start:%b} {start.day}, {start.year}"
    return f"{day} {clock(start)} - {clock(end)} (GMT+8)"


def _subject(client: str, ev: _Event, to: list[str]) -> str:
    summary = ev.summary
    if client == "outlook":
        if ev.cancel:
            return ("已取消: " if _has_cjk(summary) else "Canceled: ") + summary
        return summary
    if client == "thunderbird":
        if ev.cancel:
            return f"Canceled: {summary}"
        return f"Updated: {summary}" if ev.sequence > 0 else f"Invitation: {summary}"
    if client == "apple":
        if ev.cancel:
            return f"Event canceled: {summary}"
        return f"Event update: {summary}" if ev.sequence > 0 else f"Event invitation: {summary}"
    when = _google_when(ev.start, ev.end)
    guest = f" ({to[0]})" if to else ""
    if ev.cancel:
        return f"Canceled event: {summary} @ {when}{guest}"
    word = "Updated invitation" if ev.sequence > 0 else "Invitation"
    return f"{word}: {summary} @ {when}{guest}"


def _reply_subject(client: str, partstat: str, summary: str, ev: _Event) -> str:
    if client == "outlook":
        return _reply_prefix_outlook(partstat, summary) + summary
    if client == "thunderbird":
        word = {"ACCEPTED": "Accepted", "DECLINED": "Invitation Declined", "TENTATIVE": "Tentative"}
        return f"{word.get(partstat, 'Invitation Reply')}: {summary}"
    if client == "apple":
        word = {"ACCEPTED": "Invitation Accepted", "DECLINED": "Invitation Declined",
                "TENTATIVE": "Invitation Maybe"}
        return f"{word.get(partstat, 'Event reply')}: {summary}"
    word = {"ACCEPTED": "Accepted", "DECLINED": "Declined", "TENTATIVE": "Tentatively Accepted"}
    return f"{word.get(partstat, 'Updated')}: {summary} @ {_google_when(ev.start, ev.end)} ({ev.organizer})"


def _when_line(ev: _Event) -> str:
    if _has_cjk(ev.summary):
        return (f"时间: {ev.start.year}年{ev.start.month}月{ev.start.day}日 "
                f"{ev.start:%H:%M}-{ev.end:%H:%M} (UTC+08:00) 北京，重庆，香港特别行政区，乌鲁木齐")
    return f"When: {ev.start:%A, %B} {ev.start.day}, {ev.start.year} {ev.start:%H:%M}-{ev.end:%H:%M} (UTC+08:00)"


def _body_text(client: str, ev: _Event, sender_name: str, sender: str) -> str:
    if client == "outlook":
        return (ev.description or "") + "\n\n"
    if client == "thunderbird":
        who = f"{sender_name} <{sender}>" if sender_name else sender
        if ev.cancel:
            return f"{who} has canceled this event: {ev.summary}"
        return f"{who} has invited you to {ev.summary}"
    if client == "apple":
        return "\n" if not ev.description else ev.description + "\n"
    lines = ["This event has been canceled." if ev.cancel else "", ev.summary, _google_when(ev.start, ev.end)]
    if ev.location:
        lines += ["", "Location", ev.location]
    if ev.description:
        lines += ["", ev.description]
    lines += ["", "Organizer", sender_name, sender, "", "Guests", f"{sender_name} - organizer"] + ev.attendees
    lines += ["View all guest info  https://calendar.google.com/calendar/event?action=VIEW&eid="
              + base64.urlsafe_b64encode(_digest("eid", ev.uid)[:24]).decode("ascii"),
              "", "~~//~~", "Invitation from Google Calendar: https://calendar.google.com/calendar/", "",
              "You are receiving this email because you are an attendee on the event."]
    return "\n".join(line for line in lines if line is not None).lstrip("\n")


# --- per-client messages -------------------------------------------------------------------


def _gb2312_or_utf8(text: str) -> tuple[str, str]:
    try:
        text.encode("gb2312")
        return "gb2312", "gb2312"
    except UnicodeEncodeError:
        return "utf-8", "utf-8"


def _calendar_part_headers(client: str, method: str | None, cte: str, *, filename: str | None = None) -> list[str]:
    label = _cte_label(cte, client)
    if client == "outlook":
        ctype = 'text/calendar; charset="utf-8"' + (f"; method={method}" if method else "")
        return [f"Content-Type: {ctype}", f"Content-Transfer-Encoding: {label}"]
    if client == "thunderbird":
        ctype = "text/calendar" + (f"; method={method}" if method else "") + "; charset=UTF-8"
        return [f"Content-type: {ctype}", f"Content-transfer-encoding: {label}"]
    if client == "apple":
        name = filename or "invite.ics"
        params = ["charset=utf-8"] + ([f"method={method}"] if method else []) + [f'name="{name}"']
        return ["Content-Disposition: attachment;", f"\tfilename={name}",
                "Content-Type: text/calendar;", *(f"\t{p};" for p in params[:-1]), f"\t{params[-1]}",
                f"Content-Transfer-Encoding: {label}"]
    ctype = 'text/calendar; charset="UTF-8"' + (f"; method={method}" if method else "")
    return [f"Content-Type: {ctype}", f"Content-Transfer-Encoding: {label}"]


def _attachment_name_headers(client: str, filename: str) -> tuple[str, str]:
    """The name= and filename= parameters as each client encodes a Chinese file name."""
    if _is_ascii(filename):
        return f'name="{filename}"', f'filename="{filename}"'
    encoded = "".join(_encoded_words(filename, "UTF-8"))
    if client in ("outlook", "gmail"):
        return f'name="{encoded}"', f'filename="{encoded}"'
    return f'name="{encoded}"', f"filename*=UTF-8''{quote(filename, safe='')}"


def _export_name(summary: str) -> str:
    name = "".join(ch for ch in summary if ch not in '\\/:*?"<>|').strip() or "event"
    return name + ".ics"


def _outlook_message(ev: _Event, *, sender: str, sender_name: str, to: list[str], subject: str,
                     calendar: bytes, cte: str, body: str, now: datetime, headers_extra: list[str],
                     topic: str) -> bytes:
    charset, codec = _gb2312_or_utf8(body + subject + sender_name)
    host = "EX01." + _domain(sender)
    local = uuid.uuid4().hex
    boundary = "_000_" + local + host.replace(".", "").replace("-", "") + "_"
    headers = [f"From: {_hdr_addr(sender_name, sender, charset)}",
               "To: " + ", ".join(to),
               f"Subject: {_hdr_text(subject, charset)}",
               f"Thread-Topic: {_hdr_text(topic, charset)}",
               f"Thread-Index: {_thread_index(ev.uid, now)}",
               f"Date: {format_datetime(now.astimezone(CST))}",
               f"Message-ID: <{local}@{host}>", *headers_extra,
               f"Accept-Language: {'zh-CN' if ev.lang == 'zh-CN' else 'en-US'}, en-US",
               f"Content-Language: {ev.lang}",
               "X-MS-Has-Attach: " + ("yes" if ev.method is None else ""),
               "X-MS-TNEF-Correlator: ",
               "X-Mailer: Microsoft Outlook 16.0",
               "MIME-Version: 1.0"]
    plain = _leaf([f'Content-Type: text/plain; charset="{charset}"', "Content-Transfer-Encoding: base64"],
                  _b64(_crlf(body).decode("utf-8").encode(codec)))
    html_text = ('<html xmlns:o="urn:schemas-microsoft-com:office:office">\n<head>\n'
                 f'<meta http-equiv="Content-Type" content="text/html; charset={charset}">\n'
                 '<meta name="Generator" content="Microsoft Word 15 (filtered medium)">\n</head>\n'
                 f'<body lang="ZH-CN">\n<div class="WordSection1">\n<p class="MsoNormal">{_html(body.strip())}'
                 '<o:p></o:p></p>\n</div>\n</body>\n</html>\n')
    html = _leaf([f'Content-Type: text/html; charset="{charset}"', "Content-Transfer-Encoding: quoted-printable"],
                 _qp(_crlf(html_text).decode("utf-8").encode(codec)))
    if ev.method is None:
        filename = _export_name(ev.summary)
        name_param, file_param = _attachment_name_headers("outlook", filename)
        attachment = _leaf([f"Content-Type: text/calendar; {name_param}",
                            f"Content-Description: {_hdr_text(filename, 'utf-8')}",
                            f"Content-Disposition: attachment; {file_param}; size={len(calendar)};",
                            f'\tcreation-date="{format_datetime(now)}";',
                            f'\tmodification-date="{format_datetime(now)}"',
                            f"Content-Transfer-Encoding: {cte}"], _encode(calendar, cte))
        inner_boundary = "_000_" + uuid.uuid4().hex + "_"
        alternative = _multipart([f'Content-Type: multipart/alternative;\r\n\tboundary="{inner_boundary}"'],
                                 inner_boundary, [plain, html])
        return _multipart(headers + [f'Content-Type: multipart/mixed;\r\n\tboundary="{boundary}"'], boundary,
                          [alternative, attachment])
    ical = _leaf(_calendar_part_headers("outlook", ev.method, cte), _encode(calendar, cte))
    return _multipart(headers + [f'Content-Type: multipart/alternative;\r\n\tboundary="{boundary}"'], boundary,
                      [plain, html, ical])


def _thunderbird_message(ev: _Event, *, sender: str, sender_name: str, to: list[str], subject: str,
                         calendar: bytes, cte: str, body: str, now: datetime, headers_extra: list[str]) -> bytes:
    headers = ["MIME-version: 1.0",
               f"From: {_hdr_addr(sender_name, sender)}",
               f"Message-ID: <{uuid.uuid4()}@{_domain(sender)}>",
               "To: " + ", ".join(to),
               f"Date: {format_datetime(now.astimezone(CST))}",
               f"Subject: {_hdr_text(subject)}", *headers_extra,
               "User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:115.0) Gecko/20100101 Thunderbird/115.6.0"]
    if ev.method is None:
        boundary = "------------" + uuid.uuid4().hex[:24]
        filename = _export_name(ev.summary)
        name_param, file_param = _attachment_name_headers("thunderbird", filename)
        text = _leaf(["Content-Type: text/plain; charset=UTF-8; format=flowed", "Content-Transfer-Encoding: 8bit"],
                     _encode(_crlf(body + "\n"), "8bit"))
        attachment = _leaf([f"Content-Type: text/calendar; charset=UTF-8; {name_param}",
                            f"Content-Disposition: attachment; {file_param}",
                            f"Content-Transfer-Encoding: {cte}"], _encode(calendar, cte))
        headers.insert(-1, f"Content-Language: {ev.lang}")
        return _multipart(headers + [f'Content-Type: multipart/mixed; boundary="{boundary}"'], boundary,
                          [text, attachment], preamble="This is a multi-part message in MIME format.\r\n")
    outer, inner = "Boundary_(ID_qyG4ZdjoAsiZ+Jo19dCbWQ)", "Boundary_(ID_ryU4ZdJoASiZ+Jo21dCbwA)"
    text = _leaf(["Content-type: text/plain; charset=UTF-8", "Content-transfer-encoding: 8BIT"],
                 _crlf(body) + b"\r\n\r\n\r\n")
    ical = _leaf(_calendar_part_headers("thunderbird", ev.method, cte), _encode(calendar, cte) + b"\r\n")
    alternative = _multipart(["Content-type: multipart/alternative;\r\n" + f' boundary="{inner}"'], inner,
                             [text, ical], preamble="\r\n")
    attachment = _leaf(["Content-type: application/ics; name=invite.ics", "Content-transfer-encoding: 8BIT",
                        "Content-disposition: attachment; filename=invite.ics"], _encode(calendar, "8bit") + b"\r\n")
    return _multipart(headers + [f'Content-type: multipart/mixed; boundary="{outer}"'], outer,
                      [alternative + b"\r\n", attachment], preamble="\r\n")


def _apple_message(ev: _Event, *, sender: str, sender_name: str, to: list[str], subject: str,
                   calendar: bytes, cte: str, body: str, now: datetime, headers_extra: list[str]) -> bytes:
    boundary = "Apple-Mail-" + str(uuid.uuid4()).upper()
    headers = [f"Content-Type: multipart/mixed; boundary={boundary}",
               "Content-Transfer-Encoding: 7bit",
               f"From: {_hdr_addr(sender_name, sender, 'utf-8')}",
               "Mime-Version: 1.0 (1.0)",
               f"Date: {format_datetime(now.astimezone(CST))}",
               f"Subject: {_hdr_text(subject, 'utf-8')}",
               f"Message-Id: <{str(uuid.uuid4()).upper()}@{_domain(sender)}>", *headers_extra,
               "To: " + ", ".join(to),
               "X-Mailer: iPhone Mail (21F90)"]
    text = _leaf(["Content-Type: text/plain;", "\tcharset=utf-8", "Content-Transfer-Encoding: quoted-printable"],
                 _qp(_crlf(body)))
    if ev.method is None:
        filename = _export_name(ev.summary)
        name_param, file_param = _attachment_name_headers("apple", filename)
        attachment = _leaf(["Content-Disposition: attachment;", f"\t{file_param}",
                            "Content-Type: text/calendar;", "\tx-unix-mode=0644;", f"\t{name_param}",
                            f"Content-Transfer-Encoding: {cte}"], _encode(calendar, cte))
    else:
        filename = f"iCal-{now.astimezone(CST):%Y%m%d-%H%M%S}.ics"
        attachment = _leaf(_calendar_part_headers("apple", ev.method, cte, filename=filename),
                           _encode(calendar, cte))
    return _multipart(headers, boundary, [text, attachment])


def _gmail_message(ev: _Event, *, sender: str, sender_name: str, to: list[str], subject: str,
                   calendar: bytes, cte: str, body: str, now: datetime, headers_extra: list[str]) -> bytes:
    mixed = "000000000000" + uuid.uuid4().hex[:16]
    alt = mixed[:-4] + f"{(int(mixed[-4:], 16) + 2) % 0x10000:04x}"
    html_text = ('<!doctype html><html><head><meta http-equiv="Content-Type" content="text/html; charset=UTF-8">'
                 "</head><body>" + _html(body) + "</body></html>")
    plain = _leaf(['Content-Type: text/plain; charset="UTF-8"; format=flowed; delsp=yes',
                   "Content-Transfer-Encoding: base64"], _b64(_crlf(body)))
    html = _leaf(['Content-Type: text/html; charset="UTF-8"', "Content-Transfer-Encoding: quoted-printable"],
                 _qp(_crlf(html_text)))
    if ev.method is None:
        headers = ["MIME-Version: 1.0", f"Date: {format_datetime(now)}",
                   f"Message-ID: <CA+{base64.b64encode(_digest('gm', ev.uid, now.isoformat())[:30]).decode()}"
                   "@mail.gmail.com>".replace("/", "_"),
                   f"Subject: {_hdr_text(subject)}", f"From: {_hdr_addr(sender_name, sender)}",
                   "To: " + ", ".join(to), *headers_extra]
        filename = _export_name(ev.summary)
        name_param, file_param = _attachment_name_headers("gmail", filename)
        attachment_id = "f_" + uuid.uuid4().hex[:9]
        attachment = _leaf([f'Content-Type: text/calendar; charset="UTF-8"; {name_param}',
                            f"Content-Disposition: attachment; {file_param}",
                            f"Content-Transfer-Encoding: {cte}", f"Content-ID: <{attachment_id}>",
                            f"X-Attachment-Id: {attachment_id}"], _encode(calendar, cte))
        alternative = _multipart([f'Content-Type: multipart/alternative; boundary="{alt}"'], alt, [plain, html])
        return _multipart(headers + [f'Content-Type: multipart/mixed; boundary="{mixed}"'], mixed,
                          [alternative + b"\r\n", attachment])
    headers = ["MIME-Version: 1.0",
               f"Reply-To: {_hdr_addr(sender_name, sender)}",
               "Sender: Google Calendar <calendar-notification@google.com>",
               f"Message-ID: <calendar-{uuid.uuid4()}@google.com>",
               f"Date: {format_datetime(now)}",
               f"Subject: {_hdr_text(subject)}",
               f"From: {_hdr_addr(sender_name, sender)}",
               "To: " + ",\r\n ".join(to), *headers_extra]
    ical = _leaf(_calendar_part_headers("gmail", ev.method, cte), _encode(calendar, cte))
    alternative = _multipart([f'Content-Type: multipart/alternative; boundary="{alt}"'], alt, [plain, html, ical])
    attachment = _leaf(['Content-Type: application/ics; name="invite.ics"',
                        'Content-Disposition: attachment; filename="invite.ics"',
                        "Content-Transfer-Encoding: base64"], _b64(calendar))
    return _multipart(headers + [f'Content-Type: multipart/mixed; boundary="{mixed}"'], mixed,
                      [alternative + b"\r\n", attachment])


_MESSAGES = {"thunderbird": _thunderbird_message, "apple": _apple_message, "gmail": _gmail_message}
_DEFAULT_CTE = {"outlook": "base64", "thunderbird": "8bit", "apple": "quoted-printable", "gmail": "base64"}
_DEFAULT_EXPORT_CTE = {"outlook": "base64", "thunderbird": "base64", "apple": "quoted-printable",
                       "gmail": "base64"}


def _check(client: str, tz_style: str | None, transfer_encoding: str | None) -> str:
    if client not in CLIENTS:
        raise ValueError(f"unknown client {client!r}; expected one of {CLIENTS}")
    style = tz_style or DEFAULT_TZ_STYLE[client]
    if style not in TZ_STYLES:
        raise ValueError(f"unknown tz_style {style!r}; expected one of {TZ_STYLES}")
    if transfer_encoding is not None and transfer_encoding.lower() not in TRANSFER_ENCODINGS:
        raise ValueError(f"unknown transfer_encoding {transfer_encoding!r}")
    return style


# --- public API ----------------------------------------------------------------------------


def invitation(client: str, *, sender: str, sender_name: str, to: list[str], uid: str, summary: str,
               start: datetime, end: datetime, location: str = "", description: str = "",
               sequence: int = 0, method: str | None = "REQUEST", tz_style: str | None = None,
               transfer_encoding: str | None = None, attendees: list[str] | None = None) -> bytes:
    """An organizer's iMIP message (REQUEST, CANCEL, …) from `client`, as raw bytes.

    `start`/`end` are naive Asia/Shanghai wall-clock times. `method=None` gives an ordinary
    mail from that client with the event attached as an exported .ics file (no METHOD).
    `transfer_encoding` overrides the Content-Transfer-Encoding of the text/calendar part.
    """
    style = _check(client, tz_style, transfer_encoding)
    if start.tzinfo is not None or end.tzinfo is not None:
        raise ValueError("start and end are naive Asia/Shanghai wall-clock times")
    method = method.upper() if method else None
    now = _now()
    ev = _Event(uid=uid, summary=summary, start=start, end=end, location=location, description=description,
                sequence=sequence, organizer=sender, organizer_name=sender_name,
                attendees=list(attendees if attendees is not None else to), method=method, tz_style=style,
                stamp=now)
    calendar = _CALENDARS[client](ev)
    defaults = _DEFAULT_EXPORT_CTE if method is None else _DEFAULT_CTE
    cte = (transfer_encoding or defaults[client]).lower()
    if method is None:
        subject = summary
        body = {"outlook": "请查收附件中的日程。\n", "thunderbird": "请查收附件中的日程。",
                "apple": "请查收附件中的日程。\n", "gmail": "请查收附件中的日程。"}[client]
        if not _has_cjk(summary):
            body = "Please find the event attached.\n"
    else:
        subject = _subject(client, ev, to)
        body = _body_text(client, ev, sender_name, sender)
    common = dict(sender=sender, sender_name=sender_name, to=list(to), subject=subject, calendar=calendar,
                  cte=cte, body=body, now=now, headers_extra=[])
    if client == "outlook":
        return _outlook_message(ev, topic=summary, **common)  # type: ignore[arg-type]
    return _MESSAGES[client](ev, **common)  # type: ignore[arg-type]


def reply(client: str, *, sender: str, sender_name: str, to: str, uid: str, summary: str, start: datetime,
          end: datetime, partstat: str, organizer: str, sequence: int = 0, comment: str | None = None,
          in_reply_to: str | None = None, auto_submitted: str | None = None) -> bytes:
    """An attendee's METHOD:REPLY from `client`: `sender` answers `partstat` to the organizer.

    `to` is the mailbox the reply is mailed to (the address the invitation named);
    `organizer` is what goes into ORGANIZER. Outlook carries `comment` in the text body,
    the others in COMMENT (Google and Thunderbird also show it in the body).
    """
    _check(client, None, None)
    style = DEFAULT_TZ_STYLE[client]
    partstat = partstat.upper()
    now = _now()
    ev = _Event(uid=uid, summary=summary, start=start, end=end, location="", description="",
                sequence=sequence, organizer=organizer, organizer_name="", attendees=[sender], method="REPLY",
                tz_style=style, stamp=now, partstat=partstat,
                comment=None if client == "outlook" else comment, replier_name=sender_name)
    calendar = _CALENDARS[client](ev)
    subject = _reply_subject(client, partstat, summary, ev)
    who = sender_name or sender
    verb = {"ACCEPTED": "accepted", "DECLINED": "declined", "TENTATIVE": "tentatively accepted"}.get(
        partstat, "replied to")
    if client == "outlook":
        body = (comment or "") + "\n\n"
    elif client == "thunderbird":
        body = f"{who} has {verb} your event invitation." + (f"\n\n{comment}" if comment else "")
    elif client == "apple":
        body = (comment + "\n") if comment else "\n"
    else:
        body = f"{who} has {verb} this invitation." + (f"\n\n{comment}" if comment else "") + \
            f"\n\n{summary}\n{_google_when(start, end)}\n\nInvitation from Google Calendar: " \
            "https://calendar.google.com/calendar/"
    extra: list[str] = []
    if in_reply_to:
        extra += [f"In-Reply-To: {in_reply_to}", f"References: {in_reply_to}"]
    if auto_submitted:
        extra.append(f"Auto-Submitted: {auto_submitted}")
    common = dict(sender=sender, sender_name=sender_name, to=[to], subject=subject, calendar=calendar,
                  cte=_DEFAULT_CTE[client], body=body, now=now, headers_extra=extra)
    if client == "outlook":
        return _outlook_message(ev, topic=summary, **common)  # type: ignore[arg-type]
    return _MESSAGES[client](ev, **common)  # type: ignore[arg-type]
