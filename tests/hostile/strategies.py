"""Hypothesis strategies for hostile inbound mail, built byte by byte.

Nothing here goes through the `email` package's generator: that would repair exactly what the
suite wants to send. Messages are assembled from raw header lines and bodies:

- MIME trees: multipart/mixed|alternative|related|digest|… with random boundaries (missing,
  mismatched, unclosed, shared with an inner part), nesting up to MAX_TREE_DEPTH, message/rfc822
  parts that carry further trees; now and then a linear chain deeper than the parser's limit
  or more parts than it takes;
- text in UTF-8, GB2312, GBK, GB18030, Big5, Latin-1, … and in labels that are not charsets
  at all (or are Python codec names that are not text codecs), with bytes that may not decode
  in the label they carry;
- Content-Transfer-Encoding base64 (valid and broken), quoted-printable (valid and broken),
  8bit, 7bit with 8-bit bytes, binary, unknown;
- header folds (folded continuation lines, empty continuations, a fold without whitespace,
  bare LF, CR inside values), very long header lines, RFC 2047 encoded words (valid, split
  across a multibyte character, truncated, unknown charset, wrong encoding letter, bad
  base64), RFC 2231 file names with continuations and charsets (and broken ones), raw 8-bit
  file names, NUL bytes;
- a few messages over the size limit, and some right at it.

`hostile_mail()` gives a `HostileMail`: the raw bytes and the envelope to send them with.
"""

from __future__ import annotations

import base64
import string
from dataclasses import dataclass

from hypothesis import strategies as st

from inkless.tokens import KINDS, Token, TokenSigner

# Matches tests/conftest.py write_config: domain, secret_key and smtp.max_message_size.
DOMAIN = "oa.test.gov"
SECRET_KEY = "test-secret-key-0123456789"
MAX_MESSAGE_SIZE = 200_000

SENDER = "fin-clerk@test.gov"  # a clerk of finance: may write to any unit and to all@
UNIT = f"edu@{DOMAIN}"
MAX_TREE_DEPTH = 8
CRLF = b"\r\n"

SIGNER = TokenSigner(SECRET_KEY, DOMAIN)

def chance(n: int) -> st.SearchStrategy[bool]:
    """True about once in n draws. Hypothesis favours the ends of a range (0 most of all), so
    the True sits in the middle; it shrinks to False, so minimal examples drop the rarity."""
    return st.integers(0, n - 1).map(lambda i: i == n // 2 and n > 1)


# --- text ------------------------------------------------------------------------------------

_ASCII = string.ascii_letters + string.digits + " .,:;-_=?/@<>\"'()[]!#%&*+~`|\\{}$^\t"
_CJK = ("关于做好年终财务决算的通知各单位请于月日前报送同意不收到时间地点期限要求进展完成会议财政局教育局"
        "陈会计王文书李县长䶵𠀀𪚥〔〕【】：；，。！？“”、《》·—…￥囍")
_CHARS = st.one_of(
    st.sampled_from(_ASCII),
    st.sampled_from(_CJK),
    st.characters(codec="utf-8", exclude_characters="\x00\r\n"),
)


def texts(max_size: int = 60, min_size: int = 0) -> st.SearchStrategy[str]:
    return st.text(_CHARS, min_size=min_size, max_size=max_size)


# Lines the office handlers read (meetings, tasks, approvals), with good and bad values.
_OFFICE_LINES = [
    "时间：2026年12月20日 9:00", "时间：2026-12-20 14:30-16:00", "时间：明天下午三点", "时间：12月32日 25:61",
    "地点：三楼会议室", "期限：2026-12-20", "期限：2026年2月30日", "期限：十二月", "要求：按时报送",
    "进展：已完成一半", "完成", "延期：2027-01-10", "同意", "不同意，请修改", "收到", "已阅",
    "人员：fin-staff@test.gov", "私密：是", "参加", "请假",
]

# --- charsets --------------------------------------------------------------------------------

DECODABLE_CHARSETS = ["utf-8", "gb2312", "gbk", "gb18030", "big5", "iso-8859-1", "latin-1", "us-ascii",
                      "windows-1252", "utf-16", "utf-7", "iso-2022-jp", "koi8-r", "big5-hkscs"]
# Labels that are no charset, or Python codec names that are not text codecs (a label from
# the network must never reach a codec that raises something other than UnicodeDecodeError).
HOSTILE_CHARSETS = ["x-unknown", "unknown-8bit", "bogus-charset", "", "utf8", " gbk ", "GB2312", "UTF-8",
                    "undefined", "idna", "punycode", "unicode_escape", "raw_unicode_escape", "rot13", "base64",
                    "hex", "zlib", "uu", "mbcs", "utf-32", "x-mac-chinesesimp", "x" * 120, "utf-8*zh"]
CHARSETS = DECODABLE_CHARSETS + HOSTILE_CHARSETS


def encode_text(text: str, charset: str) -> bytes:
    """Text in a charset when Python has a text codec by that name, else UTF-8."""
    label = charset.strip().strip('"').partition("*")[0]
    try:
        data = text.encode(label or "utf-8", errors="replace")
    except Exception:  # LookupError, UnicodeError ('undefined'), TypeError (bytes codecs) …
        return text.encode("utf-8")
    return data if isinstance(data, bytes) else text.encode("utf-8")


@st.composite
def payload_in(draw: st.DrawFn, charset: str, max_size: int = 400) -> bytes:
    """Bytes of a text part labelled `charset`: encoded in it, mislabelled, or undecodable."""
    text = draw(texts(max_size))
    if draw(st.booleans()):
        text = draw(st.sampled_from(_OFFICE_LINES)) + "\n" + text
    kind = draw(st.sampled_from(["labelled", "labelled", "other", "junk", "invalid-seq"]))
    if kind == "labelled":
        data = encode_text(text, charset)
    elif kind == "other":
        data = encode_text(text, draw(st.sampled_from(DECODABLE_CHARSETS)))
    elif kind == "junk":
        data = draw(st.binary(max_size=max_size))
    else:
        # Lead bytes without their trail bytes in GBK / Big5 / UTF-8.
        data = encode_text(text, charset) + draw(st.sampled_from([b"\x81", b"\xa1", b"\xe4\xb8", b"\xff\xfe",
                                                                  b"\xf8\x88\x80\x80\x80", b"\xc0\xaf"]))
    return data.replace(b"\r\n", b"\n").replace(b"\n", CRLF)


# --- transfer encodings ----------------------------------------------------------------------

def _wrap(data: bytes, width: int = 76) -> bytes:
    return CRLF.join(data[i:i + width] for i in range(0, len(data), width)) + (CRLF if data else b"")


def _qp(data: bytes) -> bytes:
    out, line = [], b""
    for byte in data:
        if byte in (13, 10):
            token = b"=%02X" % byte
        elif byte == 61 or byte < 32 or byte > 126:
            token = b"=%02X" % byte
        else:
            token = bytes([byte])
        if len(line) + len(token) > 75:
            out.append(line + b"=")
            line = b""
        line += token
    out.append(line)
    return CRLF.join(out) + CRLF


@st.composite
def transfer_encoded(draw: st.DrawFn, data: bytes) -> tuple[bytes | None, bytes]:
    """(Content-Transfer-Encoding value or None, encoded body).

    Bodies sent unencoded lose their NUL bytes (a NUL anywhere quarantines the whole message;
    hostile_mail() adds one now and then on purpose).
    """
    kind = draw(st.sampled_from(["none", "base64", "base64", "base64-broken", "quoted-printable",
                                 "qp-broken", "8bit", "7bit", "binary", "unknown"]))
    if kind in ("none", "8bit", "7bit", "binary", "unknown"):
        data = data.replace(b"\x00", b"")
    if kind == "none":
        return None, data
    if kind == "base64":
        return draw(st.sampled_from([b"base64", b"BASE64", b" Base64 "])), _wrap(base64.b64encode(data))
    if kind == "base64-broken":
        encoded = base64.b64encode(data)
        how = draw(st.sampled_from(["bad-chars", "truncated", "padding", "8bit", "no-wrap-junk", "empty-lines"]))
        if how == "bad-chars":
            at = draw(st.integers(0, len(encoded)))
            encoded = encoded[:at] + draw(st.sampled_from([b"!", b"*", b"\xe4\xb8\xad", b"%", b"=", b"-_"])) \
                + encoded[at:]
        elif how == "truncated":
            encoded = encoded[:draw(st.integers(0, max(0, len(encoded) - 1)))]
        elif how == "padding":
            encoded = encoded.rstrip(b"=") + draw(st.sampled_from([b"", b"=", b"===", b"====", b"=A="]))
        elif how == "8bit":
            encoded = encoded + b"\xff\xfe"
        elif how == "empty-lines":
            return b"base64", _wrap(encoded, 4).replace(CRLF, CRLF + CRLF)
        else:
            encoded = encoded + b" \t garbage ~~~"
        return b"base64", _wrap(encoded)
    if kind == "quoted-printable":
        return b"quoted-printable", _qp(data)
    if kind == "qp-broken":
        broken = draw(st.sampled_from([b"=ZZ", b"=4", b"=", b"=\xe4", b"= \r\n", b"=0", b"=g0"]))
        return b"quoted-printable", _qp(data) + broken
    if kind == "8bit":
        return b"8bit", data
    if kind == "7bit":  # labelled 7bit, carrying 8-bit bytes anyway
        return b"7bit", data + draw(st.sampled_from([b"", b"\xe4\xb8\xad\xe6\x96\x87", b"\xd6\xd0\xce\xc4"]))
    if kind == "binary":
        return b"binary", data
    return draw(st.sampled_from([b"x-uuencode", b"x-bogus", b"base-64", b"quoted_printable", b""])), data


# --- headers ---------------------------------------------------------------------------------

def _q_encode(data: bytes) -> bytes:
    out = b""
    for byte in data:
        ch = bytes([byte])
        if byte == 32:
            out += b"_"
        elif ch.isalnum() and byte < 128:
            out += ch
        else:
            out += b"=%02X" % byte
    return out


def _word(charset: str, letter: str, data: bytes) -> bytes:
    body = base64.b64encode(data) if letter.upper() == "B" else _q_encode(data)
    return b"=?" + charset.encode("utf-8", errors="replace") + b"?" + letter.encode() + b"?" + body + b"?="


@st.composite
def encoded_word(draw: st.DrawFn) -> bytes:
    """An RFC 2047 encoded word: valid, split, truncated, unknown charset, wrong letter, bad body."""
    text = draw(texts(30))
    kind = draw(st.sampled_from(["valid", "valid", "split", "truncated", "unknown-charset", "wrong-letter",
                                 "bad-base64", "language", "empty", "mislabelled", "raw-8bit-inside"]))
    charset = draw(st.sampled_from(DECODABLE_CHARSETS))
    letter = draw(st.sampled_from(["B", "Q", "b", "q"]))
    data = encode_text(text, charset)
    if kind == "valid":
        return _word(charset, letter, data)
    if kind == "split":  # one character's bytes across two words
        at = draw(st.integers(0, len(data)))
        return _word(charset, letter, data[:at]) + b" " + _word(charset, letter, data[at:])
    if kind == "truncated":
        word = _word(charset, letter, data)
        return word[:draw(st.integers(2, max(2, len(word) - 1)))]
    if kind == "unknown-charset":
        return _word(draw(st.sampled_from(HOSTILE_CHARSETS)), letter, data)
    if kind == "wrong-letter":
        return _word(charset, draw(st.sampled_from(["X", "", "BQ", "8", "?"])), data)
    if kind == "bad-base64":
        body = draw(st.sampled_from([b"!!!", b"5Lit5", b"5Lit=5paH", b"===", b"\xe4"]))
        return b"=?" + charset.encode() + b"?B?" + body + b"?="
    if kind == "language":
        return _word(charset + "*zh-cn", letter, data)
    if kind == "empty":
        return _word(charset, letter, b"")
    if kind == "mislabelled":
        return _word(draw(st.sampled_from(DECODABLE_CHARSETS)), letter, text.encode("utf-8"))
    return b"=?utf-8?Q?" + text.encode("utf-8") + b"?="


@st.composite
def header_value(draw: st.DrawFn, max_words: int = 6) -> bytes:
    """Words: plain, raw 8-bit (UTF-8 or GBK), encoded words; sometimes a CR, LF or NUL inside."""
    words = []
    for _ in range(draw(st.integers(0, max_words))):
        kind = draw(st.sampled_from(["plain", "encoded", "encoded", "raw-utf8", "raw-gbk", "raw-big5"] * 3
                                    + ["special"]))
        if kind == "special" and not draw(chance(3)):
            kind = "plain"
        text = draw(texts(20))
        if kind == "plain":
            words.append(text.encode("ascii", errors="ignore"))
        elif kind == "encoded":
            words.append(draw(encoded_word()))
        elif kind == "raw-utf8":
            words.append(text.encode("utf-8"))
        elif kind == "raw-gbk":
            words.append(text.encode("gbk", errors="replace"))
        elif kind == "raw-big5":
            words.append(text.encode("big5", errors="replace"))
        else:
            words.append(draw(st.sampled_from([b"\r", b"\n", b"\x0b", b"\x1b$B", b"=?", b"?=", b";", b"\"", b"\\",
                                               b"(", b")", b"<", b">", b",", b":", b"\x7f"])))
    return b" ".join(words)


@st.composite
def header_line(draw: st.DrawFn, name: bytes, value: bytes) -> bytes:
    """`Name: value` with folds: plain, tab, empty continuation, no whitespace, bare LF, long."""
    mode = "plain"
    if draw(chance(3)):
        mode = draw(st.sampled_from(["fold", "fold", "bare-lf", "empty-cont", "no-space"]))
    elif draw(chance(60)):  # each of these ends the header section for Python's parser
        mode = draw(st.sampled_from(["space-before-colon", "no-ws", "cr"]))
    sep = b": "
    if mode == "space-before-colon":
        sep = b" : "
    elif mode == "no-space":
        sep = b":"
    if mode in ("fold", "bare-lf", "no-ws", "empty-cont", "cr") and value:
        cuts = sorted(set(draw(st.lists(st.integers(0, len(value)), min_size=1, max_size=4))))
        pieces = [value[a:b] for a, b in zip([0] + cuts, cuts + [len(value)])]
        joiner = {"fold": draw(st.sampled_from([CRLF + b" ", CRLF + b"\t", CRLF + b"    "])),
                  "bare-lf": b"\n ", "no-ws": CRLF, "empty-cont": CRLF + b" " + CRLF + b" ", "cr": b"\r"}[mode]
        value = joiner.join(pieces)
    return name + sep + value


_DATES = [b"Mon, 20 Dec 2026 09:00:00 +0800", b"Thu, 1 Jan 1970 00:00:00 +0000", b"not a date",
          b"Fri, 31 Feb 2026 25:61:61 +9999", b"", b"2026-12-20T09:00:00+08:00", b"Tue, 19 Jan 2038 03:14:08 -1200",
          b"Sat, 1 Jan 0001 00:00:00 +0000", b"Sun, 31 Dec 9999 23:59:59 +1400", b"Mon, 20 Dec 2026 09:00:00 GMT+8"]
_SUBJECT_TAGS = ["", "[通知]", "[通知][公开]", "【通报】", "[会议]", "[日程]", "[督办]", "[短消息]", "[请示]", "[函]",
                 "[公开]", "[不存在的文种]", "[", "[[通知]]", "Re: [通知]", "回复：", "自动回复：", "Automatic reply:"]


@st.composite
def from_header(draw: st.DrawFn) -> bytes:
    """Mostly the member in some disguise; sometimes a stranger or two Froms (550 at DATA)."""
    kind = draw(st.sampled_from(["bare", "angle", "name", "name", "encoded-name", "comment", "quoted-comma",
                                 "upper", "group", "stranger", "two", "empty"]))
    if kind == "bare":
        return SENDER.encode()
    if kind == "angle":
        return b"<" + SENDER.encode() + b">"
    if kind == "name":
        return draw(header_value(3)) + b" <" + SENDER.encode() + b">"
    if kind == "encoded-name":
        return draw(encoded_word()) + b" <" + SENDER.encode() + b">"
    if kind == "comment":
        return SENDER.encode() + b" (" + draw(texts(10)).encode("utf-8") + b")"
    if kind == "quoted-comma":
        return b'"\xe9\x99\x88, \xe4\xbc\x9a\xe8\xae\xa1" <' + SENDER.encode() + b">"
    if kind == "upper":
        return SENDER.upper().encode()
    if kind == "group":
        return b"finance: " + SENDER.encode() + b";"
    if kind == "stranger":
        return b"stranger@outside.example"
    if kind == "two":
        return SENDER.encode() + b", boss@test.gov"
    return b""


# --- leaves ----------------------------------------------------------------------------------

@st.composite
def filename_params(draw: st.DrawFn, param: bytes) -> bytes:
    """`; filename=…` in one of many spellings, or the RFC 2231 forms with continuations."""
    name = draw(st.one_of(texts(30), st.sampled_from(["../../etc/passwd", "CON", "a\\b.doc", ".", "", " ",
                                                      "x" * 300 + ".pdf", "报告.docx", "a;b=c.txt", "\"q\".txt"])))
    style = draw(st.sampled_from(["plain", "quoted", "quoted", "rfc2047", "rfc2231", "rfc2231-cont", "rfc2231-cont",
                                  "rfc2231-broken", "raw-utf8", "raw-gbk", "empty"]))
    raw = name.encode("utf-8")
    if style == "plain":
        return b"; " + param + b"=" + name.encode("ascii", errors="replace")
    if style == "quoted":
        return b"; " + param + b'="' + name.encode("ascii", errors="replace").replace(b'"', b'\\"') + b'"'
    if style == "rfc2047":
        return b"; " + param + b'="' + draw(encoded_word()) + b'"'
    if style in ("rfc2231", "rfc2231-cont"):
        charset = draw(st.sampled_from(CHARSETS))
        data = encode_text(name, charset)
        pct = b"".join(b"%%%02X" % byte for byte in data)
        head = charset.encode("utf-8", errors="replace") + b"'" + draw(st.sampled_from([b"", b"zh-cn", b"en"])) + b"'"
        if style == "rfc2231":
            return b"; " + param + b"*=" + head + pct
        # Continuations: cut the percent-encoded text into segments, maybe out of order,
        # with a gap, a duplicate, or a plain (unencoded) segment among them.
        cuts = sorted(set(draw(st.lists(st.integers(0, len(data)), max_size=4))))
        pieces = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]
        segments = []
        for index, piece in enumerate(pieces):
            encoded = b"".join(b"%%%02X" % byte for byte in piece)
            if index == 0:
                segments.append(b"%s*0*=%s%s" % (param, head, encoded))
            elif draw(st.booleans()):
                segments.append(b"%s*%d*=%s" % (param, index, encoded))
            else:
                segments.append(b'%s*%d="%s"' % (param, index, piece.decode("latin-1").encode("utf-8")
                                                  .replace(b'"', b"")))
        twist = draw(st.sampled_from(["none", "none", "reverse", "gap", "dup", "huge-index"]))
        if twist == "reverse":
            segments.reverse()
        elif twist == "gap" and len(segments) > 1:
            del segments[1]
        elif twist == "dup":
            segments.append(segments[-1])
        elif twist == "huge-index":
            segments.append(b"%s*99999999999999999999*=%%41" % param)
        return b"".join(b";" + draw(st.sampled_from([b" ", CRLF + b" ", CRLF + b"\t"])) + s for s in segments)
    if style == "rfc2231-broken":
        return b"; " + param + draw(st.sampled_from([
            b"*=utf-8''%E4%B8", b"*=utf-8''%ZZ", b"*=utf-8%E4%B8%AD", b"*=''", b"*=", b"*='''", b"*0*=utf-8''%",
            b"*1*=%E4%B8%AD", b"*=undefined''%E4%B8%AD", b"*=idna''xn--", b"*=utf-8'zh'\xe4\xb8\xad",
            b"*=gb2312''%D6%D0%CE%C4%", b"*0=a; " + param + b"*0=b"]))
    if style == "raw-utf8":
        return b"; " + param + b'="' + raw + b'"'
    if style == "raw-gbk":
        return b"; " + param + b'="' + name.encode("gbk", errors="replace") + b'"'
    return b"; " + param + b'=""'


_CALENDAR_METHODS = [b"REQUEST", b"REPLY", b"CANCEL", b"PUBLISH", b"COUNTER", b"", b"\xe4\xb8\xad"]
_ICAL_TIMES = [b"20261220T090000", b"20261220T090000Z", b"20261220", b"garbage", b"2026-13-45T99:99:99",
               b"99991231T235959", b"00000000T000000", b""]


@st.composite
def calendar_body(draw: st.DrawFn) -> bytes:
    """An iCalendar text with random fields, lines dropped, or cut short."""
    attendee = draw(st.sampled_from([SENDER, "edu-clerk@test.gov", "stranger@outside.example", "", "x"]))
    lines = [b"BEGIN:VCALENDAR", b"VERSION:2.0", b"PRODID:-//fuzz//EN",
             b"METHOD:" + draw(st.sampled_from(_CALENDAR_METHODS)), b"BEGIN:VEVENT",
             b"UID:" + draw(texts(20)).encode("utf-8"),
             b"DTSTART" + draw(st.sampled_from([b"", b";TZID=Asia/Shanghai", b";VALUE=DATE", b";TZID=Nowhere/None"]))
             + b":" + draw(st.sampled_from(_ICAL_TIMES)),
             b"DTEND:" + draw(st.sampled_from(_ICAL_TIMES)),
             b"SUMMARY:" + draw(texts(30)).encode("utf-8"),
             b"ORGANIZER:mailto:" + draw(st.sampled_from([SENDER, "boss@test.gov", "x@y"])).encode(),
             b"ATTENDEE;PARTSTAT=" + draw(st.sampled_from([b"ACCEPTED", b"DECLINED", b"TENTATIVE", b"BOGUS"]))
             + b":mailto:" + attendee.encode(),
             b"SEQUENCE:" + draw(st.sampled_from([b"0", b"1", b"-1", b"2147483648", b"99999999999999999999", b"x"])),
             b"END:VEVENT", b"END:VCALENDAR"]
    drop = draw(st.lists(st.integers(0, len(lines) - 1), max_size=3))
    lines = [line for i, line in enumerate(lines) if i not in drop]
    body = CRLF.join(lines) + CRLF
    if draw(chance(5)):
        body = body[:draw(st.integers(0, len(body)))]
    return body


@st.composite
def report_body(draw: st.DrawFn, kind: str) -> bytes:
    """message/delivery-status or message/disposition-notification fields, good and bad."""
    address = draw(st.sampled_from(["edu-clerk@test.gov", SENDER, "", "x", "中@test.gov"])).encode()
    if kind == "delivery-status":
        return CRLF.join([
            b"Reporting-MTA: dns; mx.test", b"",
            b"Final-Recipient: " + draw(st.sampled_from([b"rfc822; ", b"", b"x400; "])) + address,
            b"Action: " + draw(st.sampled_from([b"failed", b"delivered", b"delayed", b"relayed", b"", b"\xff"])),
            b"Status: " + draw(st.sampled_from([b"5.1.1", b"2.0.0", b"4.4.7", b"9.9.9", b"x"])),
            b"Diagnostic-Code: smtp; " + draw(header_value(3)), b""])
    return CRLF.join([
        b"Reporting-UA: fuzz", b"Final-Recipient: rfc822; " + address,
        b"Original-Message-ID: " + draw(st.sampled_from([b"<a@b>", b"", b"<" + SIGNER.address(
            Token("receipt", "d", 1, 1)).encode() + b">"])),
        b"Disposition: " + draw(st.sampled_from([b"manual-action/MDN-sent-manually; displayed",
                                                 b"automatic-action/MDN-sent-automatically; deleted", b"garbage",
                                                 b""])), b""])


_LEAF_TYPES = [b"text/plain", b"text/plain", b"text/html", b"application/octet-stream", b"application/pdf",
               b"image/png", b"text/calendar", b"message/delivery-status", b"message/disposition-notification",
               b"text/plain; format=flowed; delsp=yes", b"", b"text", b"bogus/", b"/", b"application/ms-tnef",
               b"TEXT/PLAIN", b"message/rfc822", b"message/partial; id=\"x\"; number=1; total=2",
               b"message/external-body; access-type=local-file; name=\"/etc/passwd\"", b"text/x-\xe4\xb8\xad",
               b"multipart/mixed"]


@dataclass
class _Budget:
    parts: int


Entity = tuple[list[bytes], bytes]  # header lines (each without CRLF), body


@st.composite
def leaf(draw: st.DrawFn) -> Entity:
    ctype = draw(st.sampled_from(_LEAF_TYPES))
    main = ctype.split(b";")[0].strip().lower()
    charset = draw(st.sampled_from(CHARSETS))
    headers: list[bytes] = []
    params = b""
    if main.startswith(b"text") and not draw(chance(6)):
        params += draw(st.sampled_from([b"; charset=%s", b'; charset="%s"', b"; CHARSET=%s", b";charset=%s;"])) \
            % charset.encode("utf-8", errors="replace")
    disposition = draw(st.sampled_from([None, None, b"attachment", b"inline", b"ATTACHMENT", b"bogus", b""]))
    if disposition is not None and draw(st.booleans()):
        disposition += draw(filename_params(b"filename"))
    if draw(chance(4)):
        params += draw(filename_params(b"name"))
    if main == b"text/calendar":
        data = draw(calendar_body())
        params += draw(st.sampled_from([b"; method=REQUEST", b"", b"; method=\xe4"]))
    elif main in (b"message/delivery-status", b"message/disposition-notification"):
        data = draw(report_body(main.split(b"/")[1].decode()))
    elif main.startswith(b"text") or main in (b"", b"bogus/", b"/"):
        data = draw(payload_in(charset))
    else:
        data = draw(st.one_of(st.binary(max_size=3000), payload_in(charset)))
    cte, body = draw(transfer_encoded(data))
    if ctype or draw(st.booleans()):
        headers.append(draw(header_line(b"Content-Type", ctype + params)))
    if disposition is not None:
        headers.append(draw(header_line(b"Content-Disposition", disposition)))
    if cte is not None:
        headers.append(draw(header_line(b"Content-Transfer-Encoding", cte)))
    if draw(chance(10)):  # a second, conflicting Content-Type
        headers.append(b"Content-Type: " + draw(st.sampled_from(_LEAF_TYPES)))
    if draw(chance(31)):  # a header line without a colon
        headers.append(b"this is not a header")
    return headers, body


_BOUNDARIES = st.one_of(
    st.sampled_from(["b", "b1", "=_NextPart_000", "----=_Part_0_1", "frontier", "a" * 70, "x y", "-", "=?"]),
    st.text(alphabet=string.ascii_letters + string.digits + "'()+_,-./:=? ", min_size=1, max_size=72),
    texts(10, min_size=1),
)


@st.composite
def multipart(draw: st.DrawFn, depth: int, budget: _Budget) -> Entity:
    subtype = draw(st.sampled_from([b"mixed", b"alternative", b"related", b"mixed", b"signed", b"report", b"digest",
                                    b"parallel", b"x-custom", b"encrypted"]))
    boundary = draw(_BOUNDARIES).encode("utf-8")
    style = draw(st.sampled_from(["ok", "ok", "ok", "ok", "quoted", "missing", "empty-param", "mismatch", "no-close",
                                  "no-open", "close-first", "dup-close", "whitespace-after"]))
    count = draw(st.integers(0, min(4, max(0, budget.parts))))
    budget.parts -= count
    children = [draw(entity(depth + 1, budget)) for _ in range(count)]
    declared = b"; boundary=" + boundary if b" " not in boundary else b'; boundary="' + boundary + b'"'
    if style == "quoted":
        declared = b'; boundary="' + boundary + b'"'
    elif style == "missing":
        declared = b""
    elif style == "empty-param":
        declared = b'; boundary=""'
    used = draw(_BOUNDARIES).encode("utf-8") if style == "mismatch" else boundary
    if subtype == b"report":
        declared += b"; report-type=" + draw(st.sampled_from([b"delivery-status", b"disposition-notification", b"x"]))
    if subtype == b"related":
        declared += b'; type="text/html"'
    lines: list[bytes] = []
    preamble = draw(st.sampled_from([b"", b"This is a multi-part message in MIME format.", b"--" + used + b"x"]))
    if preamble:
        lines.append(preamble)
    if style == "close-first":
        lines.append(b"--" + used + b"--")
    for index, child in enumerate(children):
        if not (style == "no-open" and index == 0):
            lines.append(b"--" + used + (b" \t" if style == "whitespace-after" else b""))
        lines.append(render(child))
    if style != "no-close":
        lines.append(b"--" + used + b"--")
    if style == "dup-close":
        lines.append(b"--" + used + b"--")
    epilogue = draw(st.sampled_from([b"", b"epilogue", b"--" + used]))
    if epilogue:
        lines.append(epilogue)
    headers = [draw(header_line(b"Content-Type", b"multipart/" + subtype + declared))]
    if draw(chance(7)):
        cte = draw(st.sampled_from([b"base64", b"quoted-printable", b"8bit"]))
        headers.append(b"Content-Transfer-Encoding: " + cte)
    return headers, CRLF.join(lines) + CRLF


@st.composite
def message_headers(draw: st.DrawFn, *, top: bool) -> list[bytes]:
    """Headers of a whole message (top level: From the member, To the unit)."""
    subject = draw(st.sampled_from(_SUBJECT_TAGS)).encode("utf-8")
    if draw(chance(4)):  # the tag itself as an encoded word
        subject = _word("utf-8", "B", subject)
    subject += b" " + draw(header_value())
    headers = [
        draw(header_line(b"From", draw(from_header()) if top else draw(header_value(3)))),
        draw(header_line(b"To", UNIT.encode() if top else draw(header_value(2)))),
        draw(header_line(b"Subject", subject)),
    ]
    if draw(st.booleans()):
        headers.append(draw(header_line(b"Date", draw(st.sampled_from(_DATES)))))
    if draw(st.booleans()):
        headers.append(b"Message-ID: " + draw(st.sampled_from([
            b"<%s@client.test>" % draw(st.binary(min_size=4, max_size=8)).hex().encode(), b"", b"<>", b"no-brackets",
            b"<" + draw(texts(10)).encode("utf-8") + b">"])))
    if draw(st.booleans()):
        headers.append(b"MIME-Version: " + draw(st.sampled_from([b"1.0", b"2.0", b"", b"1.0 (produced by fuzz)"])))
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from([b"Cc", b"Reply-To", b"References", b"In-Reply-To", b"Auto-Submitted",
                                     b"Precedence", b"X-Autoreply", b"Disposition-Notification-To",
                                     b"Authentication-Results", b"Received", b"Return-Path",
                                     b"Delivered-To", b"X-Mailer", b"Thread-Topic"]))
        if draw(chance(40)):
            name = b"X-\xe4\xb8\xad"  # an 8-bit header name
        value = draw(st.one_of(header_value(4), st.just(SIGNER.address(Token("reply", "d", 1, 1)).encode())))
        headers.append(draw(header_line(name, value)))
    return headers


@st.composite
def rfc822(draw: st.DrawFn, depth: int, budget: _Budget) -> Entity:
    """A message/rfc822 part that carries a further tree."""
    inner_headers, inner_body = draw(entity(depth + 1, budget))
    inner = render((draw(message_headers(top=False)) + inner_headers, inner_body))
    headers = [draw(header_line(b"Content-Type", b"message/rfc822" + draw(st.sampled_from(
        [b"", b"; name=forwarded.eml", b"; charset=gbk"]))))]
    if draw(chance(3)):
        headers.append(draw(header_line(b"Content-Disposition", b"attachment" + draw(filename_params(b"filename")))))
    if draw(chance(6)):  # not allowed for message/rfc822, sent anyway
        cte, inner = draw(transfer_encoded(inner))
        if cte is not None:
            headers.append(b"Content-Transfer-Encoding: " + cte)
    return headers, inner


@st.composite
def entity(draw: st.DrawFn, depth: int, budget: _Budget) -> Entity:
    """One MIME entity: a leaf, a multipart or a message/rfc822, up to MAX_TREE_DEPTH deep."""
    if depth >= MAX_TREE_DEPTH or budget.parts <= 0:
        return draw(leaf())
    kind = draw(st.sampled_from(["leaf", "leaf", "multipart", "multipart", "rfc822"]))
    if kind == "leaf":
        return draw(leaf())
    budget.parts -= 1
    if kind == "multipart":
        return draw(multipart(depth, budget))
    return draw(rfc822(depth, budget))


def render(item: Entity) -> bytes:
    headers, body = item
    return b"".join(line + CRLF for line in headers) + CRLF + body


def _deep_chain(depth: int, rfc822_every: int) -> Entity:
    """A linear chain of multiparts (every n-th a message/rfc822) around one text part."""
    item: Entity = ([b"Content-Type: text/plain; charset=utf-8"], "最深处".encode() + CRLF)
    for level in range(depth):
        if rfc822_every and level % rfc822_every == 0:
            item = ([b"Content-Type: message/rfc822"], render(([b"From: " + SENDER.encode(), b"Subject: x"]
                                                               + item[0], item[1])))
        else:
            boundary = b"d%d" % level
            item = ([b'Content-Type: multipart/mixed; boundary="' + boundary + b'"'],
                    b"--" + boundary + CRLF + render(item) + CRLF + b"--" + boundary + b"--" + CRLF)
    return item


def _many_parts(count: int) -> Entity:
    part = render(([b"Content-Type: text/plain"], b"x" + CRLF))
    body = b"".join(b"--m" + CRLF + part + CRLF for _ in range(count)) + b"--m--" + CRLF
    return [b'Content-Type: multipart/mixed; boundary="m"'], body


# --- whole messages --------------------------------------------------------------------------

@dataclass(frozen=True)
class HostileMail:
    """Raw bytes and the envelope to send them with."""

    mail_from: str
    rcpts: tuple[str, ...]
    raw: bytes

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        return (f"HostileMail(mail_from={self.mail_from!r}, rcpts={self.rcpts!r}, size={len(self.raw)}, "
                f"raw={self.raw!r})")


_TOKEN_RCPTS = st.builds(
    lambda purpose, kind, item, person: SIGNER.address(Token(purpose, kind, item, person)),
    st.sampled_from(["reply", "bounce", "receipt"]), st.sampled_from(sorted(KINDS)), st.integers(1, 6),
    st.integers(1, 20))


@st.composite
def hostile_mail(draw: st.DrawFn) -> HostileMail:
    """A whole hostile message: headers, a MIME tree, and the odd extra breakage."""
    rcpt_kind = draw(st.sampled_from(["unit"] * 8 + ["token", "token", "reply", "office", "all"]))
    rcpts: tuple[str, ...] = (UNIT,)
    mail_from = SENDER
    if rcpt_kind == "token":
        rcpts = (draw(_TOKEN_RCPTS),)
        mail_from = draw(st.sampled_from([SENDER, "", "edu-clerk@test.gov"]))
    elif rcpt_kind == "reply":
        rcpts = (f"reply@{DOMAIN}",)
    elif rcpt_kind == "office":
        rcpts = (UNIT, f"office@{DOMAIN}")
    elif rcpt_kind == "all":
        rcpts = (f"all@{DOMAIN}",)

    shape = "deep" if draw(chance(12)) else "many" if draw(chance(12)) else "tree"
    if shape == "deep":
        root = _deep_chain(draw(st.integers(MAX_TREE_DEPTH, 30)), draw(st.sampled_from([0, 2, 3])))
    elif shape == "many":
        root = _many_parts(draw(st.integers(900, 1100)))
    else:
        root = draw(entity(0, _Budget(draw(st.integers(1, 40)))))

    headers = draw(st.permutations(draw(message_headers(top=True))))
    if draw(chance(16)):  # a very long header line, unfolded
        unit = draw(st.sampled_from([b"x", b"\xe4\xb8\xad", b"=?utf-8?B?5Lit?= "]))
        headers.append(b"X-Long: " + unit * (draw(st.integers(15_000, 45_000)) // len(unit)))
    raw = render((headers + root[0], root[1]))

    prefix = b""
    if draw(chance(10)):
        prefix = draw(st.sampled_from([b"From fin-clerk@test.gov Mon Dec 20 09:00:00 2026" + CRLF, CRLF, b" " + CRLF,
                                       b"\xef\xbb\xbf", b"\t"]))
    raw = prefix + raw
    if draw(chance(16)):  # a NUL byte somewhere
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + b"\x00" + raw[at:]
    line_mode = "lf" if draw(chance(8)) else "cr" if draw(chance(20)) else "crlf"
    if line_mode == "lf":
        raw = raw.replace(CRLF, b"\n")
    elif line_mode == "cr":
        raw = raw.replace(CRLF, b"\r")
    size = "oversize" if draw(chance(25)) else "edge" if draw(chance(25)) else "as-is"
    if size != "as-is":
        target = draw(st.integers(MAX_MESSAGE_SIZE + 1, MAX_MESSAGE_SIZE + 60_000)) if size == "oversize" \
            else draw(st.integers(MAX_MESSAGE_SIZE - 200, MAX_MESSAGE_SIZE + 200))
        line = b"A" * 76 + CRLF
        missing = max(0, target - len(raw))
        raw += line * (missing // len(line)) + b"B" * (missing % len(line))
    return HostileMail(mail_from, rcpts, raw)
