"""Long base64 bodies kept out of the email parser (mail/runs.py): a big message parses exactly as
the email package parses it whole — text, files, and the message the handlers read again — with
any mixture of parts, and with runs where no body reads them."""

from __future__ import annotations

import base64
import random
import tempfile
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from inkless.errors import Quarantine
from inkless.mail import parse, runs
from inkless.mail.parse import ParsedMessage, parse_message

set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "inkless-hypothesis")


def whole(raw: bytes) -> ParsedMessage:
    """What the parser gives without taking runs out."""
    original = runs.take_out
    runs.take_out = lambda raw: None  # type: ignore[assignment]
    try:
        return parse_message(raw)
    finally:
        runs.take_out = original


def outcome(read: object, raw: bytes) -> ParsedMessage | str:
    try:
        return read(raw)  # type: ignore[operator,no-any-return]
    except Quarantine as quarantined:
        return quarantined.reason


def same(raw: bytes) -> ParsedMessage | str:
    """The same reading, or the same quarantine reason."""
    parsed, plain = outcome(parse_message, raw), outcome(whole, raw)
    if isinstance(plain, str) or isinstance(parsed, str):
        assert parsed == plain
        return parsed
    assert (parsed.subject, parsed.text, parsed.html, parsed.from_addresses) == \
        (plain.subject, plain.text, plain.html, plain.from_addresses)
    assert [(a.filename, a.content_type, a.data) for a in parsed.attachments] == \
        [(a.filename, a.content_type, a.data) for a in plain.attachments]
    assert parsed.message.as_bytes() == plain.message.as_bytes()
    return parsed


def noise(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


PART_KINDS = ["pdf", "text", "calendar", "eml", "broken", "lf", "inline-image"]


def add_part(message: EmailMessage, kind: str, size: int, seed: int) -> None:
    data = noise(size, seed)
    if kind == "pdf":
        message.add_attachment(data, maintype="application", subtype="pdf", filename=f"f{seed}.pdf")
    elif kind == "text":
        message.add_attachment(("正文" * (size // 6)).encode(), maintype="text", subtype="plain", cte="base64")
    elif kind == "calendar":
        text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n" + "X-PAD:" + "a" * 70 + "\r\n" * 1 + "END:VCALENDAR\r\n"
        message.add_attachment((text * (size // len(text) + 1)).encode(), maintype="text", subtype="calendar",
                               cte="base64")
    elif kind == "eml":
        inner = EmailMessage()
        inner["Subject"] = "转发的邮件"
        inner.set_content("内层正文")
        inner.add_attachment(data, maintype="application", subtype="octet-stream", filename="inner.bin")
        message.add_attachment(inner)
    elif kind in ("broken", "lf"):
        message.add_attachment(data, maintype="application", subtype="zip", filename=f"{kind}.zip")
    elif kind == "inline-image":
        message.add_attachment(data, maintype="image", subtype="png", disposition="inline")


def build(kinds: list[str], sizes: list[int], preamble: bytes = b"") -> bytes:
    message = EmailMessage()
    message["From"] = "clerk@test.gov"
    message["To"] = "edu@oa.test.gov"
    message["Subject"] = "[通知] 大附件"
    message.set_content("见附件。")
    for number, (kind, size) in enumerate(zip(kinds, sizes)):
        add_part(message, kind, size, number)
    raw = message.as_bytes(policy=SMTP)
    if "broken" in kinds:  # a character outside the alphabet in the middle of a long body
        middle = raw.index(b'filename="broken.zip"') + 200_000
        raw = raw[:middle] + b"*" + raw[middle + 1:]
    if "lf" in kinds:
        raw = raw.replace(b"\r\n", b"\n")
    if preamble:
        boundary = message.get_boundary()
        assert boundary is not None
        first = raw.index(f"--{boundary}".encode())
        raw = raw[:first] + preamble + b"\r\n" + raw[first:]
    return raw


@settings(max_examples=40, deadline=None)
@given(parts=st.lists(st.tuples(st.sampled_from(PART_KINDS), st.integers(1_000, 300_000)), min_size=1, max_size=4))
def test_a_big_message_parses_as_the_email_package_parses_it(parts: list[tuple[str, int]]) -> None:
    kinds, sizes = [k for k, _ in parts], [s for _, s in parts]
    raw = build(kinds, [max(size, 200_000) if n == 0 else size for n, size in enumerate(sizes)])
    same(raw)


def test_the_file_of_a_big_attachment_is_decoded_from_the_message_bytes() -> None:
    raw = build(["pdf"], [2_000_000])
    taken = runs.take_out(raw)
    assert taken is not None and len(taken.reduced) < 10_000  # what the parser reads
    parsed = same(raw)
    assert not isinstance(parsed, str) and parsed.attachments[0].data == noise(2_000_000, 0)


def test_a_run_where_no_body_reads_it_parses_the_whole_message() -> None:
    junk = base64.encodebytes(noise(200_000, 9)).replace(b"\n", b"\r\n")
    raw = build(["pdf"], [300_000], preamble=junk)
    parsed = same(raw)
    assert not isinstance(parsed, str) and parsed.message.preamble is not None and parsed.message.preamble.startswith(junk[:76].decode())


def test_someone_elses_placeholder_is_text_like_any_other(monkeypatch: pytest.MonkeyPatch) -> None:
    """A sender cannot guess the marker of a parse; text that looks like one stays text."""
    message = EmailMessage()
    message["Subject"] = "x"
    message.set_content("INKLESSRUN0123456789abcdefN0\n")
    message.add_attachment(noise(400_000, 1), maintype="application", subtype="pdf", filename="a.pdf")
    parsed = same(message.as_bytes(policy=SMTP))
    assert not isinstance(parsed, str) and "INKLESSRUN0123456789abcdefN0" in parsed.text


def test_finding_runs_takes_linear_time_on_near_misses() -> None:
    """Runs just shorter than MIN_RUN, one after another: with a plain repeat the search would
    try each start inside each of them (42 s for 1.3 MB); counted, not timed: the look-behind
    lets a search start only where a run starts."""
    near = (b"A" * (runs.MIN_RUN - 1) + b"-") * 20
    assert runs._RUN.pattern.startswith(b"(?<!")
    assert runs.take_out(near) is None


def test_the_window_never_cuts_a_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runs, "SCAN_WINDOW", 10_000)
    raw = build(["pdf", "pdf"], [500_000, 300_000])
    taken = runs.take_out(raw)
    assert taken is not None and len(taken.spans) == 2
    same(raw)
    assert parse.RELEASE_PAYLOAD <= 500_000


@pytest.mark.parametrize("charset", ["idna", "undefined"])
def test_eight_bit_text_in_a_charset_that_cannot_replace_is_read(charset: str) -> None:
    """The email package decodes 8-bit text in its labelled charset with errors="replace", which
    the idna and undefined codecs refuse: found by the hostile-MIME suite (an internal error)."""
    head = (b"From: fin-clerk@test.gov\r\nTo: edu@oa.test.gov\r\nSubject: x\r\n"
            b"Content-Type: text/plain; charset=" + charset.encode() + b"\r\n\r\n\xc2\x80\r\n")
    for raw in (head, head + (b"QUJD" * 19 + b"\r\n") * 5000):  # small, and big enough for runs
        parsed = same(raw)
        assert not isinstance(parsed, str) and parsed.text.startswith("\x80")
