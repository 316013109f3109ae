"""DATA read in blocks (bridge/spool.py): whatever pieces the socket delivers, the spool gives the
message a line-by-line reader gives (RFC 5321 §4.5.2), refuses what aiosmtpd refused, and hands
back what followed the end."""

from __future__ import annotations

import tempfile
from itertools import pairwise
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from inkless.bridge.spool import SPOOL_IN_MEMORY, DataSpool, Problem

set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "inkless-hypothesis")

# Lines as clients send them: dots where stuffing matters, bare CR and LF, which do not end a line.
LINE = st.lists(st.sampled_from([b"a", b".", b"..", b"\r", b"\n", b" ", b"\xe4\xb8\xad", b"x" * 40]), max_size=12).map(
    b"".join).filter(lambda line: b"\r\n" not in line and not line.endswith(b"\r"))
AFTER = st.sampled_from([b"", b"QUIT\r\n", b"RSET\r\nMAIL FROM:<a@b.c>\r\n", b"."])


def wire(lines: list[bytes]) -> bytes:
    """The message as DATA carries it: dot-stuffed, then the end."""
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines) + b".\r\n"


def pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(cut, len(data)) for cut in cuts} | {0, len(data)})
    return [data[start:end] for start, end in pairwise(points) if end > start]


def read(spool: DataSpool, blocks: list[bytes]) -> bytes | None:
    """Feed blocks until the spool reports the end: what followed it (None: no end)."""
    for number, block in enumerate(blocks):
        after = spool.feed(block)
        if after is not None:
            return after + b"".join(blocks[number + 1:])
    return None


@settings(max_examples=500, deadline=None)
@given(lines=st.lists(LINE, max_size=30), after=AFTER, cuts=st.lists(st.integers(0, 2_000), max_size=20))
def test_any_split_gives_the_message_and_what_followed(lines: list[bytes], after: bytes, cuts: list[int]) -> None:
    data = wire(lines) + after
    spool = DataSpool(size_limit=None, line_limit=1_000)
    assert read(spool, pieces(data, cuts)) == after
    assert spool.problem is None
    assert spool.message() == b"".join(line + b"\r\n" for line in lines)


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(LINE, min_size=1, max_size=30), cuts=st.lists(st.integers(0, 2_000), max_size=20))
def test_the_size_limit_counts_what_was_sent(lines: list[bytes], cuts: list[int]) -> None:
    data = wire(lines)
    size = len(data) - len(b".\r\n")  # as aiosmtpd counts: the lines as sent, stuffing included
    exact = DataSpool(size_limit=size, line_limit=1_000)
    assert read(exact, pieces(data, cuts)) == b""
    assert exact.problem is None
    over = DataSpool(size_limit=size - 1, line_limit=1_000)
    assert read(over, pieces(data + b"QUIT\r\n", cuts)) == b"QUIT\r\n"
    assert over.problem is Problem.TOO_MUCH


def test_a_line_over_the_limit_is_refused_however_it_arrives() -> None:
    long_line = b"x" * 1_001 + b"\r\n"
    for blocks in ([long_line + b".\r\n"], [bytes([byte]) for byte in long_line + b".\r\n"],
                   [b"short\r\n" + long_line[:500], long_line[500:], b"ok\r\n.\r\nQUIT\r\n"]):
        spool = DataSpool(size_limit=None, line_limit=1_000)
        assert read(spool, blocks) in (b"", b"QUIT\r\n")
        assert spool.problem is Problem.TOO_LONG
    fits = DataSpool(size_limit=None, line_limit=1_000)
    assert read(fits, [b"y" * 998 + b"\r\n.\r\n"]) == b""
    assert fits.message() == b"y" * 998 + b"\r\n"


def test_a_long_line_in_a_big_block_is_found() -> None:
    # One block holding many lines, one of them too long in its middle.
    block = b"short\r\n" * 300 + b"z" * 1_500 + b"\r\n" + b"short\r\n" * 300 + b".\r\n"
    spool = DataSpool(size_limit=None, line_limit=1_000)
    assert read(spool, [block]) == b""
    assert spool.problem is Problem.TOO_LONG


def test_an_empty_message_and_a_lone_dot_line() -> None:
    empty = DataSpool(size_limit=None, line_limit=1_000)
    assert read(empty, [b".\r\nQUIT\r\n"]) == b"QUIT\r\n"
    assert empty.message() == b""
    dotted = DataSpool(size_limit=None, line_limit=1_000)
    assert read(dotted, [b"..\r\n", b"\r", b"\n.", b"\r\n"]) == b""
    assert dotted.message() == b".\r\n\r\n"


def test_a_big_message_goes_to_a_file_and_comes_back_whole() -> None:
    line = b"QUJD" * 19 + b"\r\n"  # base64 lines of 76 characters
    count = 3 * SPOOL_IN_MEMORY // len(line)
    data = line * count + b".\r\n"
    spool = DataSpool(size_limit=None, line_limit=1_000)
    assert read(spool, pieces(data, list(range(0, len(data), 65_536)))) == b""
    assert spool._spool is not None and spool._spool._rolled  # type: ignore[attr-defined]
    assert spool.message() == line * count


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(LINE, max_size=40), ends=st.lists(st.sampled_from([b"\r\n", b"\n", b"\r"]), min_size=1),
       piece=st.integers(1, 64), cut=st.integers(0, 10_000))
def test_a_big_copy_made_ready_in_pieces_reads_back_as_sent(lines: list[bytes], ends: list[bytes], piece: int,
                                                            cut: int) -> None:
    """The relay's side (bridge/relay.py): a copy's wire form made a piece at a time, from its
    headers and its shared body given apart (cut anywhere), is the wire form made at once,
    whatever its line ends; and DATA read back gives the copy, CRLF-ended."""
    from inkless.bridge import relay

    # Lines that are not empty: a bare CR then an empty LF-ended line would be one CRLF.
    lines = [b"." + line.replace(b"\r", b"").replace(b"\n", b"") for line in lines] or [b"x"]
    data = b"".join(line + ends[n % len(ends)] for n, line in enumerate(lines))
    whole, size = relay._wire_form(data)
    original = relay.PIECE
    relay.PIECE = piece
    try:
        pieces, pieces_size = relay._wire_form_in_pieces(data)
        assert (b"".join(pieces), pieces_size) == (whole, size)
        cut %= len(data) + 1
        pieces, pieces_size = relay._wire_form_of_parts(data[:cut], data[cut:])
        assert (b"".join(pieces), pieces_size) == (whole, size)
    finally:
        relay.PIECE = original
    spool = DataSpool(size_limit=None, line_limit=1_000)
    assert spool.feed(whole + b".\r\n") == b""
    assert spool.message() == b"".join(line + b"\r\n" for line in lines)
    assert size == len(b"".join(line + b"\r\n" for line in lines))
